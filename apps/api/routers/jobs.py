"""Jobs: list (with filters), create (with an idempotency key), info, quit, delete."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from apps.api import errors
from apps.api.auth import request_user
from apps.api.resolve import dataset_by_ref, job_by_ref, ml_app_by_key, model_by_ref, project_by_ref
from apps.api.schemas import BODY_ERRORS, ERRORS, JobCreateIn, JobOut, Message, MLAppKey
from apps.api.services import (
    IdempotencyKeyReusedError,
    idempotency_key_record,
    idempotent_job,
    request_hash,
)
from apps.core.storage import display_path
from apps.core.text import name_problem, shown
from apps.jobs.forecast import Forecast, forecast
from apps.jobs.models import Job, JobPriority, JobStatus
from apps.jobs.selectors import jobs_for_user
from apps.jobs.services import JOB_NAME_MAX_LENGTH, job_create, job_delete, job_quit
from worker.joined import joined_name

router = Router(tags=["jobs"])

# Service error keys → the request's field names, so "field" names what the client sent.
_JOB_FIELDS = {"name": "job", "dataset_path": "path", "model": "model_checkpoint"}


def job_out(job: Job) -> dict[str, Any]:
    eta = job.eta
    f = forecast(job) or Forecast()
    return {
        "id": job.pk,
        "name": job.name,
        "project": job.project.name,
        "project_id": job.project_id,
        "type": job.job_type,
        "ml_app": job.ml_app.key,
        "model": job.model_name,
        "dataset": job.dataset_name,
        "dataset_path": job.dataset_path,
        "settings": job.settings,
        "joined_file": joined_name(job.settings),
        "priority": JobPriority(job.priority).name.lower(),
        "status": job.status,
        "waiting_reason": job.waiting_reason,
        "total_samples": job.total_samples,
        "done_samples": job.done_samples,
        "failed_samples": job.failed_samples,
        "progress_percent": job.progress_percent,
        "samples_per_second": job.samples_per_second,
        "generated_tokens": job.generated_tokens,
        "tokens_per_second": job.tokens_per_second,
        "eta_seconds": eta.total_seconds() if eta is not None else None,
        "queue_position": f.position,
        "predicted_start": f.start_at,
        "predicted_finish": f.finish_at,
        "first_predicted_finish": job.first_predicted_finish,
        "prediction_slipped": f.slipped,
        "error_message": job.error_message,
        "results_file": job.results_filename,
        "results_path": display_path(job.results_relpath),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


class JobFilters(Schema):
    project: str | None = None
    status: JobStatus | None = None
    ml_app: MLAppKey | None = None
    search: str | None = Field(None, max_length=100)
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000_000)  # past what a database slice takes


@router.get("/jobs", response={200: list[JobOut], **ERRORS})
def job_list(request: HttpRequest, filters: Query[JobFilters]) -> Any:
    user = request_user(request)
    qs = jobs_for_user(user)
    if filters.project:
        qs = qs.filter(project=project_by_ref(user, filters.project))
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.ml_app:
        qs = qs.filter(ml_app=ml_app_by_key(filters.ml_app))
    if filters.search:
        qs = qs.filter(name__icontains=filters.search)
    limit = min(max(filters.limit, 1), 500)
    offset = max(filters.offset, 0)
    return [job_out(job) for job in qs[offset : offset + limit]]


@router.post(
    "/jobs", response={200: JobOut, 201: JobOut, **BODY_ERRORS, 409: Message, 422: Message}
)
def job_create_view(request: HttpRequest, payload: JobCreateIn) -> Any:
    """Create a job. With `idempotency_key`, a retry of the same request returns the first
    job (200); the same key with a different request is refused (422)."""
    user = request_user(request)
    key = payload.idempotency_key or ""
    if key and (problem := name_problem(key, what="idempotency key")):
        raise errors.bad_request(problem, "idempotency_key")
    fingerprint = request_hash(payload.dict(exclude={"idempotency_key"}))
    if key:
        try:
            earlier = idempotent_job(user=user, key=key, fingerprint=fingerprint)
        except IdempotencyKeyReusedError as exc:
            raise errors.unprocessable(str(exc), "idempotency_key") from exc
        if earlier is not None:
            return Status(200, job_out(earlier))
    project = project_by_ref(user, payload.project)
    name = payload.job.strip()
    # Said in the API's words (no "errors" list) before the model and dataset are looked up.
    if problem := name_problem(name, what="job name", max_length=JOB_NAME_MAX_LENGTH):
        raise errors.bad_request(problem, "job")
    model = model_by_ref(user, payload.model_checkpoint)
    dataset = dataset_by_ref(user, payload.dataset)
    settings = dict(payload.settings)
    for column in ("input_column", "id_column", "carry_columns"):
        value = getattr(payload, column)
        if value is not None:
            if column in settings and settings[column] != value:
                raise errors.bad_request(
                    f"{column} is given twice, at the top level and in settings, with "
                    "different values: give it once.",
                    column,
                )
            settings[column] = value
    try:
        with transaction.atomic():
            job = job_create(
                user=user,
                project=project,
                name=name,
                ml_app=model.ml_app,
                model=model,
                dataset=dataset,
                dataset_path=payload.path,
                settings=settings,
                priority=JobPriority.from_name(payload.priority),
            )
            if key:
                idempotency_key_record(user=user, key=key, fingerprint=fingerprint, job=job)
    except DjangoValidationError as exc:
        taken = (
            f"Duplicate job: a job named '{shown(name)}' already exists in project "
            f"'{shown(project.name)}'."
        )
        raise errors.service_refusal(exc, fields=_JOB_FIELDS, taken=taken) from exc
    except IntegrityError as exc:
        # The same key sent twice at once: the other request made the job.
        raise errors.conflict(
            "The same idempotency key is being used by another request right now: retry "
            "with it in a moment to get its job.",
            "idempotency_key",
        ) from exc
    job.refresh_from_db()
    return Status(201, job_out(job))


@router.get("/jobs/{ref}", response={200: JobOut, **ERRORS})
def job_info(request: HttpRequest, ref: str, project: str | None = None) -> Any:
    return job_out(job_by_ref(request_user(request), ref, project))


@router.post("/jobs/{ref}/quit", response={200: JobOut, **ERRORS})
def job_quit_view(request: HttpRequest, ref: str, project: str | None = None) -> Any:
    job = job_by_ref(request_user(request), ref, project)
    if job.is_active:
        job = job_quit(job=job)
    return job_out(job)


@router.delete("/jobs/{ref}", response={200: Message, **ERRORS})
def job_delete_view(request: HttpRequest, ref: str, project: str | None = None) -> Any:
    job = job_by_ref(request_user(request), ref, project)
    name = job.name
    job_delete(job=job)
    return {"message": f"Job '{shown(name)}', its results and its export history were deleted."}
