"""The JSON objects of the OpenAI-compatible API: a file, a batch (its status read from its
job), a model."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from apps.catalog.models import MLModel
from apps.jobs.models import JobStatus
from apps.openai_api.models import OpenAIBatch, OpenAIFile
from worker import dispatch

# A batch whose job ended this long ago without its files gets them written again (the
# worker that should have written them may have died).
OUTPUTS_GRACE = timedelta(seconds=30)


def _ts(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment else None


def file_object(file: OpenAIFile) -> dict[str, Any]:
    return {
        "id": file.public_id,
        "object": "file",
        "bytes": file.bytes,
        "created_at": _ts(file.created_at),
        "filename": file.filename,
        "purpose": file.purpose,
        "status": "processed",
        "expires_at": None,
        "status_details": None,
    }


def model_object(model: MLModel) -> dict[str, Any]:
    return {
        "id": model.name,
        "object": "model",
        "created": 0,
        "owned_by": model.owner.username if model.owner is not None else "batchstudio",
    }


def batch_status(batch: OpenAIBatch) -> str:
    job = batch.job
    if batch.errors:
        return "failed"
    if job is None:
        return "finalizing" if batch.outputs_at is None else "failed"
    if batch.expired_at is not None:
        return "expired" if batch.outputs_at is not None else "finalizing"
    if job.status == JobStatus.STOPPING or (batch.cancelling_at and not job.is_terminal):
        return "cancelling"
    if not job.is_terminal:
        return "finalizing" if job.finalizing else "in_progress"
    if batch.outputs_at is None:
        return "cancelling" if batch.cancelling_at else "finalizing"
    if job.status == JobStatus.COMPLETED:
        return "completed"
    if job.status == JobStatus.STOPPED:
        return "cancelled"
    return "failed"


def outputs_due(batch: OpenAIBatch) -> None:
    """Ask a worker for the batch's files if its job ended a while ago without them."""
    job = batch.job
    if batch.outputs_at is not None or job is None or not job.is_terminal:
        return
    ended = job.finished_at or job.created_at
    claimed = batch.outputs_claimed_at
    if timezone.now() - ended > OUTPUTS_GRACE and (
        claimed is None or timezone.now() - claimed > timedelta(minutes=10)
    ):
        dispatch.send(dispatch.OPENAI_BATCH_OUTPUTS, batch.pk)


def batch_object(batch: OpenAIBatch) -> dict[str, Any]:
    status = batch_status(batch)
    job = batch.job
    if batch.outputs_at is not None or job is None:
        completed, failed = batch.completed_requests, batch.failed_requests
    else:
        completed, failed = job.done_samples, job.failed_samples + batch.invalid_requests
    errors = list(batch.errors)
    if status == "failed" and not errors and job is not None and job.error_message:
        errors = [
            {"code": "batch_failed", "message": job.error_message, "param": None, "line": None}
        ]
    finished = batch.outputs_at
    return {
        "id": batch.public_id,
        "object": "batch",
        "endpoint": batch.endpoint,
        "model": batch.model_name or None,
        "errors": {"object": "list", "data": errors} if errors else None,
        "input_file_id": batch.input_file_public_id,
        "completion_window": batch.completion_window,
        "status": status,
        "output_file_id": batch.output_file.public_id if batch.output_file else None,
        "error_file_id": batch.error_file.public_id if batch.error_file else None,
        "created_at": _ts(batch.created_at),
        "in_progress_at": _ts(job.started_at or job.created_at) if job else None,
        "expires_at": _ts(batch.expires_at),
        "finalizing_at": _ts(job.finished_at) if job and job.is_terminal else None,
        "completed_at": _ts(finished) if status == "completed" else None,
        "failed_at": _ts(finished or batch.created_at) if status == "failed" else None,
        "expired_at": _ts(batch.outputs_at) if status == "expired" else None,
        "cancelling_at": _ts(batch.cancelling_at),
        "cancelled_at": _ts(finished) if status == "cancelled" else None,
        "request_counts": {"total": batch.total_requests, "completed": completed, "failed": failed},
        "usage": {
            "input_tokens": batch.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": batch.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": batch.prompt_tokens + batch.completion_tokens,
        },
        "metadata": batch.metadata or None,
    }
