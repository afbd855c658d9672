"""`{% project_webhooks project %}` on a project's page and `{% job_webhooks job %}` in the
job window: the webhooks area's cards, rendered in place from its own templates."""

from __future__ import annotations

from typing import Any

from django import template

from apps.jobs.models import Job
from apps.projects.models import Project
from apps.webhooks.forms import WebhookForm
from apps.webhooks.selectors import deliveries_for_job, webhooks_for_project
from apps.webhooks.views import NEW_SECRET, REFUSED

register = template.Library()


@register.inclusion_tag("webhooks/_project_card.html", takes_context=True)
def project_webhooks(context: template.Context, project: Project) -> dict[str, Any]:
    request = context.get("request")
    new = request.session.pop(NEW_SECRET, None) if request is not None else None
    refused = request.session.pop(REFUSED, None) if request is not None else None
    return {
        "project": project,
        "endpoints": list(webhooks_for_project(project)),
        "form": WebhookForm(initial=refused) if refused else WebhookForm(),
        "new_secret": new,
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("webhooks/_job_deliveries.html")
def job_webhooks(job: Job) -> dict[str, Any]:
    return {"job": job, "deliveries": list(deliveries_for_job(job))}
