"""Small display helpers for jobs: durations people read at a glance."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone

from apps.jobs.forecast import Forecast, forecast
from apps.jobs.models import Job

register = template.Library()


@register.simple_tag
def job_forecast(job: Job) -> Forecast | None:
    """`{% job_forecast job as f %}`: predicted start and finish (apps.jobs.forecast)."""
    return forecast(job)


@register.filter
def from_now(value: datetime | None) -> str:
    """How long until `value`, as `duration` writes it ("now" when past)."""
    if value is None:
        return ""
    left = value - timezone.now()
    return duration(left) if left.total_seconds() >= 1 else "now"


@register.filter
def duration(value: timedelta | None) -> str:
    """1h 02m · 3m 05s · 12s; empty for None."""
    if value is None:
        return ""
    seconds = max(int(value.total_seconds()), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"
