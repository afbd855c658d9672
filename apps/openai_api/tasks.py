"""Celery task of the OpenAI-compatible API, on the `exports` queue (file work, no model)."""

from __future__ import annotations

from celery import shared_task

from apps.openai_api.models import OpenAIBatch
from apps.openai_api.outputs import batch_outputs_write
from apps.openai_api.services import batches_expire


@shared_task(name="apps.openai_api.tasks.batch_outputs")
def batch_outputs(batch_id: int) -> None:
    batch = OpenAIBatch.objects.select_related("job", "owner").filter(pk=batch_id).first()
    if batch is not None:
        batch_outputs_write(batch)


@shared_task(name="apps.openai_api.tasks.batches_expire")
def batches_expire_task() -> int:
    return batches_expire()
