"""When a batch's job ends, a worker writes the batch's output and error files."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from apps.jobs.signals import job_ended
from apps.openai_api.models import OpenAIBatch
from worker import dispatch


@receiver(job_ended)
def _batch_outputs(sender: Any, job_id: int, **_: Any) -> None:
    batch_id = OpenAIBatch.objects.filter(job_id=job_id).values_list("pk", flat=True).first()
    if batch_id is not None:
        dispatch.send(dispatch.OPENAI_BATCH_OUTPUTS, batch_id)
