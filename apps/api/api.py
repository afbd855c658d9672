"""REST API v1 (used by the `batchstudio` CLI). OpenAPI schema at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest
from ninja import Field, File, Form, NinjaAPI, Query, Schema, Status, UploadedFile
from ninja.security import HttpBearer

from apps.accounts.selectors import membership_for
from apps.accounts.services import api_token_authenticate
from apps.api import errors
from apps.api.resolve import dataset_by_ref, job_by_ref, model_by_ref, project_by_ref, ref_id
from apps.api.schemas import (
    DatasetOut,
    DownloadFormat,
    ExportIn,
    ExportOut,
    JobCreateIn,
    JobOut,
    MeOut,
    Message,
    MLAppKey,
    MLAppOut,
    ModelOut,
    ProjectIn,
    ProjectOut,
)
from apps.api.services import (
    IdempotencyKeyReusedError,
    idempotency_key_record,
    idempotent_job,
    request_hash,
)
from apps.catalog.models import Dataset, MLModel
from apps.catalog.selectors import datasets_visible_to, ml_apps_list, models_visible_to
from apps.catalog.services import dataset_add, dataset_delete, model_add, model_delete
from apps.core.storage import display_path
from apps.core.text import name_problem, shown
from apps.exports.downloads import (
    ResultsUnavailableError,
    results_file_response,
    results_zip_response,
)
from apps.exports.forms import ExportForm
from apps.exports.models import ResultsExport
from apps.exports.selectors import exports_for_job, get_job_for_results_access
from apps.exports.services import ExportBusyError, export_start
from apps.jobs.models import Job, JobStatus
from apps.jobs.selectors import jobs_for_user
from apps.jobs.services import JOB_NAME_MAX_LENGTH, job_create, job_delete, job_quit
from apps.projects.selectors import projects_for_user
from apps.projects.services import PROJECT_NAME_MAX_LENGTH, project_create, project_delete


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_authenticate(token)
        if user is not None:
            request.user = user  # type: ignore[assignment]
        return user


api = NinjaAPI(
    title="BatchStudio API",
    version="1",
    description="Batch inference jobs: projects, ML Apps, models, datasets, jobs, results.",
    auth=TokenAuth(),
    urls_namespace="api",
)
errors.install_handlers(api)

ERRORS: dict[int, Any] = {400: Message, 401: Message, 404: Message}
# Endpoints that read a body or a form may also answer 413 (over the size limits).
BODY_ERRORS: dict[int, Any] = {**ERRORS, 413: Message}


def _user(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


# --- serialisers ---------------------------------------------------------------------


def job_out(job: Job) -> dict[str, Any]:
    eta = job.eta
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
        "status": job.status,
        "total_samples": job.total_samples,
        "done_samples": job.done_samples,
        "failed_samples": job.failed_samples,
        "progress_percent": job.progress_percent,
        "samples_per_second": job.samples_per_second,
        "eta_seconds": eta.total_seconds() if eta is not None else None,
        "error_message": job.error_message,
        "results_file": job.results_filename,
        "results_path": display_path(job.results_relpath),
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
    }


def model_out(model: MLModel, user: Any) -> dict[str, Any]:
    return {
        "id": model.pk,
        "name": model.name,
        "ml_app": model.ml_app.key,
        "tier": model.tier_for(user.pk),
        "source_type": model.source_type,
        "size_bytes": model.size_bytes,
        "owner": model.owner.get_username() if model.owner else None,
        "created_at": model.created_at,
    }


def dataset_out(dataset: Dataset, user: Any) -> dict[str, Any]:
    return {
        "id": dataset.pk,
        "name": dataset.name,
        "ml_apps": [app.key for app in dataset.ml_apps.all()],
        "tier": dataset.tier_for(user.pk),
        "default_path": dataset.default_path,
        "data_format": dataset.data_format,
        "sample_count": dataset.sample_count,
        "created_at": dataset.created_at,
    }


# --- account, catalog ----------------------------------------------------------------


@api.get("/me", response={200: MeOut, **ERRORS}, tags=["account"])
def me(request: HttpRequest) -> dict[str, Any]:
    user = _user(request)
    membership = membership_for(user)
    return {
        "username": user.get_username(),
        "organization": membership.organization.name if membership else None,
    }


@api.get("/apps", response={200: list[MLAppOut], **ERRORS}, tags=["catalog"])
def app_list(request: HttpRequest) -> Any:
    return list(ml_apps_list())


def _ml_app_filter(ml_app: str | None) -> Any:
    if not ml_app:
        return None
    app = ml_apps_list().filter(key=ml_app).first()
    if app is None:
        keys = ", ".join(ml_apps_list().values_list("key", flat=True))
        raise errors.bad_request(f"Unknown ML App '{shown(ml_app)}'. Known: {keys}.", "ml_app")
    return app


@api.get("/models", response={200: list[ModelOut], **ERRORS}, tags=["catalog"])
def model_list(request: HttpRequest, ml_app: MLAppKey | None = None) -> Any:
    user = _user(request)
    models = models_visible_to(user, ml_app=_ml_app_filter(ml_app))
    return [model_out(m, user) for m in models]


@api.get("/datasets", response={200: list[DatasetOut], **ERRORS}, tags=["catalog"])
def dataset_list(request: HttpRequest, ml_app: MLAppKey | None = None) -> Any:
    user = _user(request)
    datasets = datasets_visible_to(user, ml_app=_ml_app_filter(ml_app))
    return [dataset_out(d, user) for d in datasets]


# --- projects ------------------------------------------------------------------------


@api.get("/projects", response={200: list[ProjectOut], **ERRORS}, tags=["projects"])
def project_list(request: HttpRequest) -> Any:
    return list(projects_for_user(_user(request)))


@api.post("/projects", response={201: ProjectOut, **BODY_ERRORS, 409: Message}, tags=["projects"])
def project_create_view(request: HttpRequest, payload: ProjectIn) -> Any:
    user = _user(request)
    name = payload.name.strip()
    # Before any query: PostgreSQL cannot even compare a NUL byte.
    if problem := name_problem(name, what="project name", max_length=PROJECT_NAME_MAX_LENGTH):
        raise errors.bad_request(problem, "name")
    if projects_for_user(user).filter(name=name).exists():
        raise errors.conflict(f"You already have a project named '{shown(name)}'.", "name")
    project = project_create(owner=user, name=payload.name, description=payload.description)
    return Status(201, project)


@api.delete("/projects/{ref}", response={200: Message, **ERRORS}, tags=["projects"])
def project_delete_view(request: HttpRequest, ref: str) -> Any:
    project = project_by_ref(_user(request), ref)
    name = project.name
    project_delete(project=project)
    return {"message": f"Project '{shown(name)}' and its jobs were deleted."}


# --- jobs ----------------------------------------------------------------------------


class JobFilters(Schema):
    project: str | None = None
    status: JobStatus | None = None
    ml_app: MLAppKey | None = None
    search: str | None = Field(None, max_length=100)
    limit: int = Field(50, ge=1, le=500)
    offset: int = Field(0, ge=0, le=1_000_000_000)  # past what a database slice takes


@api.get("/jobs", response={200: list[JobOut], **ERRORS}, tags=["jobs"])
def job_list(request: HttpRequest, filters: Query[JobFilters]) -> Any:
    user = _user(request)
    qs = jobs_for_user(user)
    if filters.project:
        qs = qs.filter(project=project_by_ref(user, filters.project))
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.ml_app:
        qs = qs.filter(ml_app=_ml_app_filter(filters.ml_app))
    if filters.search:
        qs = qs.filter(name__icontains=filters.search)
    limit = min(max(filters.limit, 1), 500)
    offset = max(filters.offset, 0)
    return [job_out(job) for job in qs[offset : offset + limit]]


# Service error keys → the request's field names, so "field" names what the client sent.
_JOB_FIELDS = {"name": "job", "dataset_path": "path", "model": "model_checkpoint"}


def _job_create_refused(exc: DjangoValidationError) -> errors.ApiError:
    errors_by_field = {
        _JOB_FIELDS.get(key, key): messages for key, messages in exc.message_dict.items()
    }
    field, messages = next(iter(errors_by_field.items()))
    if field == "job" and any("already exists" in m for m in messages):
        return errors.conflict(" ".join(messages), field)
    return errors.ApiError(400, " ".join(messages), field, errors=errors_by_field)


@api.post(
    "/jobs",
    response={200: JobOut, 201: JobOut, **BODY_ERRORS, 409: Message, 422: Message},
    tags=["jobs"],
)
def job_create_view(request: HttpRequest, payload: JobCreateIn) -> Any:
    """Create a job. With `idempotency_key`, a retry of the same request returns the first
    job (200); the same key with a different request is refused (422)."""
    user = _user(request)
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
    # Before any query: PostgreSQL cannot even compare a NUL byte.
    if problem := name_problem(name, what="job name", max_length=JOB_NAME_MAX_LENGTH):
        raise errors.bad_request(problem, "job")
    if project.jobs.filter(name=name).exists():
        raise errors.conflict(
            f"Duplicate job: a job named '{shown(name)}' already exists in project "
            f"'{shown(project.name)}'.",
            "job",
        )
    model = model_by_ref(user, payload.model_checkpoint)
    dataset = dataset_by_ref(user, payload.dataset)
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
                settings=payload.settings,
            )
            if key:
                idempotency_key_record(user=user, key=key, fingerprint=fingerprint, job=job)
    except DjangoValidationError as exc:
        raise _job_create_refused(exc) from exc
    except IntegrityError as exc:
        # The same key sent twice at once: the other request made the job.
        raise errors.conflict(
            "The same idempotency key is being used by another request right now: retry "
            "with it in a moment to get its job.",
            "idempotency_key",
        ) from exc
    job.refresh_from_db()
    return Status(201, job_out(job))


@api.get("/jobs/{ref}", response={200: JobOut, **ERRORS}, tags=["jobs"])
def job_info(request: HttpRequest, ref: str, project: str | None = None) -> Any:
    return job_out(job_by_ref(_user(request), ref, project))


@api.post("/jobs/{ref}/quit", response={200: JobOut, **ERRORS}, tags=["jobs"])
def job_quit_view(request: HttpRequest, ref: str, project: str | None = None) -> Any:
    job = job_by_ref(_user(request), ref, project)
    if job.is_active:
        job = job_quit(job=job)
    return job_out(job)


@api.delete("/jobs/{ref}", response={200: Message, **ERRORS}, tags=["jobs"])
def job_delete_view(request: HttpRequest, ref: str, project: str | None = None) -> Any:
    job = job_by_ref(_user(request), ref, project)
    name = job.name
    job_delete(job=job)
    return {"message": f"Job '{shown(name)}', its results and its export history were deleted."}


# --- model and dataset hubs ----------------------------------------------------------


Visibility = Literal["private", "organization"]


@api.post("/models", response={201: ModelOut, **BODY_ERRORS, 409: Message}, tags=["catalog"])
def model_add_view(
    request: HttpRequest,
    name: Form[str],
    ml_app: Form[MLAppKey],
    visibility: Form[Visibility] = "private",
    description: Form[str] = "",
    folder: Form[str] = "",
    files: File[list[UploadedFile]] | None = None,
) -> Any:
    """Upload an archive of a checkpoint folder, or register a folder under the storage root."""
    user = _user(request)
    model = model_add(
        user=user,
        name=name,
        ml_app=_ml_app_filter(ml_app),
        visibility=visibility,
        description=description,
        uploads=list(files or []) or request.FILES.getlist("files"),
        folder=folder or None,
    )
    return Status(201, model_out(model, user))


@api.post("/datasets", response={201: DatasetOut, **BODY_ERRORS, 409: Message}, tags=["catalog"])
def dataset_add_view(
    request: HttpRequest,
    name: Form[str],
    ml_apps: Form[list[MLAppKey]],
    visibility: Form[Visibility] = "private",
    description: Form[str] = "",
    default_path: Form[str] = "",
    folder: Form[str] = "",
    files: File[list[UploadedFile]] | None = None,
) -> Any:
    """Upload files or an archive, or register a folder; the format and samples are detected."""
    user = _user(request)
    dataset = dataset_add(
        user=user,
        name=name,
        ml_apps=[_ml_app_filter(key) for key in ml_apps],
        visibility=visibility,
        description=description,
        uploads=list(files or []) or request.FILES.getlist("files"),
        folder=folder or None,
        default_path=default_path,
    )
    return Status(201, dataset_out(dataset, user))


def _owned(qs: Any, ref: str, kind: str) -> Any:
    pk = ref_id(ref)
    found = qs.filter(pk=pk).first() if pk is not None else None
    found = found or qs.filter(name=ref).first()
    if found is None:
        raise Http404(f"No {kind} '{shown(ref)}' of yours.")
    return found


@api.delete("/models/{ref}", response={200: Message, **ERRORS, 409: Message}, tags=["catalog"])
def model_delete_view(request: HttpRequest, ref: str) -> Any:
    model = _owned(MLModel.objects.filter(owner=_user(request)), ref, "model")
    try:
        model_delete(model=model)
    except DjangoValidationError as exc:
        raise errors.conflict(" ".join(exc.messages)) from exc
    return {"message": f"Model '{shown(model.name)}' deleted."}


@api.delete("/datasets/{ref}", response={200: Message, **ERRORS, 409: Message}, tags=["catalog"])
def dataset_delete_view(request: HttpRequest, ref: str) -> Any:
    dataset = _owned(Dataset.objects.filter(owner=_user(request)), ref, "dataset")
    try:
        dataset_delete(dataset=dataset)
    except DjangoValidationError as exc:
        raise errors.conflict(" ".join(exc.messages)) from exc
    return {"message": f"Dataset '{shown(dataset.name)}' deleted."}


# --- results access ------------------------------------------------------------------


def _results_job(user: Any, ref: str, project: str | None) -> Job:
    """Owner by id or name; organization admins by id (as on the results page)."""
    try:
        return job_by_ref(user, ref, project)
    except Http404:
        if (pk := ref_id(ref)) is None:
            raise
        try:
            return get_job_for_results_access(user, pk)
        except Http404:
            raise Http404(f"No job '{shown(ref)}' of yours or of your organization.") from None


def export_out(export: ResultsExport) -> dict[str, Any]:
    return {
        "id": export.pk,
        "user": export.user.get_username() if export.user else None,
        "created_at": export.created_at,
        "finished_at": export.finished_at,
        "bucket": export.bucket,
        "folder": export.folder,
        "region": export.region,
        "endpoint_url": export.endpoint_url,
        "object_key": export.object_key,
        "size_bytes": export.size_bytes,
        "bytes_done": export.bytes_done,
        "progress_percent": export.progress_percent,
        "status": export.status,
        "error_message": export.error_message,
    }


@api.get(
    "/jobs/{ref}/download",
    response={200: None, 206: None, 409: Message, 416: None, **ERRORS},
    tags=["results"],
)
def job_download(
    request: HttpRequest,
    ref: str,
    project: str | None = None,
    format: DownloadFormat = "file",
) -> Any:
    """The results file (or `format=zip`: the whole results folder), with HTTP Range."""
    job = _results_job(_user(request), ref, project)
    try:
        if format == "zip":
            return results_zip_response(request, job=job)
        return results_file_response(request, job=job)
    except ResultsUnavailableError as exc:
        raise errors.ApiError(exc.status, str(exc)) from exc


@api.post(
    "/jobs/{ref}/exports", response={201: ExportOut, **BODY_ERRORS, 409: Message}, tags=["results"]
)
def job_export_create(
    request: HttpRequest, ref: str, payload: ExportIn, project: str | None = None
) -> Any:
    """Upload the results file to S3 (one upload at a time per job)."""
    user = _user(request)
    job = _results_job(user, ref, project)
    form = ExportForm(payload.dict())  # the same checks as the upload form's
    if not form.is_valid():
        field, messages = next(iter(form.errors.get_json_data().items()))
        raise errors.bad_request(" ".join(m["message"] for m in messages), field)
    try:
        export = export_start(job=job, user=user, **form.export_arguments())
    except ExportBusyError as exc:
        raise errors.conflict(str(exc)) from exc
    return Status(201, export_out(export))


@api.get("/jobs/{ref}/exports", response={200: list[ExportOut], **ERRORS}, tags=["results"])
def job_export_list(request: HttpRequest, ref: str, project: str | None = None) -> Any:
    job = _results_job(_user(request), ref, project)
    return [export_out(e) for e in exports_for_job(job)]
