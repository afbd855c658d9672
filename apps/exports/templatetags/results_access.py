"""`{% results_panel job %}`: the results panel of the job window, rendered in place (no
extra request), from the same template and context as the polled `exports:panel` view."""

from __future__ import annotations

from typing import Any

from django import template

from apps.exports.panel import panel_context
from apps.jobs.models import Job

register = template.Library()


@register.inclusion_tag("exports/_panel.html", takes_context=True)
def results_panel(context: template.Context, job: Job) -> dict[str, Any]:
    return {
        **panel_context(job),
        "request": context.get("request"),
        "csrf_token": context.get("csrf_token"),
    }
