from __future__ import annotations

from django.db.models import QuerySet

from apps.jobs.models import Job
from apps.projects.models import Project
from apps.webhooks.models import WebhookDelivery, WebhookEndpoint


def webhooks_for_project(project: Project) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(project=project)


def deliveries_for_job(job: Job) -> QuerySet[WebhookDelivery]:
    return (
        WebhookDelivery.objects.filter(job=job)
        .select_related("endpoint")
        .prefetch_related("attempt_log")
    )
