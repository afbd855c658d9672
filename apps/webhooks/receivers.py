"""When a job ends, its project's webhooks get a delivery each (sent by a worker)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from apps.jobs.signals import job_ended
from apps.webhooks.services import deliveries_create


@receiver(job_ended)
def _job_ended(sender: Any, job_id: int, **_: Any) -> None:
    deliveries_create(job_id=job_id)
