"""The ML Apps, and the Model and Dataset Hubs: list, add (upload or register), delete."""

from __future__ import annotations

import json
from typing import Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest
from ninja import File, Form, Router, Status, UploadedFile

from apps.api import errors
from apps.api.auth import request_user
from apps.api.resolve import ml_app_by_key, ref_id
from apps.api.schemas import (
    BODY_ERRORS,
    ERRORS,
    DatasetImportIn,
    DatasetOut,
    ImportResumeIn,
    Message,
    MLAppKey,
    MLAppOut,
    ModelOut,
)
from apps.catalog.models import Dataset, DatasetImport, MLModel
from apps.catalog.s3_import import dataset_import_resume, dataset_import_start
from apps.catalog.selectors import datasets_visible_to, ml_apps_list, models_visible_to
from apps.catalog.services import dataset_add, dataset_delete, model_add, model_delete
from apps.core.text import shown
from apps.exports.forms import S3CredentialsForm

router = Router(tags=["catalog"])

Visibility = Literal["private", "organization"]


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
        "description": model.description,
        "card": model.card or None,
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
        "s3_import": _import_out(dataset),
    }


def _import_out(dataset: Dataset) -> dict[str, Any] | None:
    imp = DatasetImport.objects.filter(dataset=dataset).first()
    if imp is None:
        return None
    return {
        "uri": imp.uri,
        "endpoint_url": imp.endpoint_url,
        "linked": imp.linked,
        "status": imp.status,
        "message": imp.message,
        "objects_total": imp.objects_total,
        "objects_done": imp.objects_done,
        "bytes_total": imp.bytes_total,
        "bytes_done": imp.bytes_done,
        "progress_percent": imp.progress_percent,
    }


@router.get("/apps", response={200: list[MLAppOut], **ERRORS})
def app_list(request: HttpRequest) -> Any:
    return list(ml_apps_list())


@router.get("/models", response={200: list[ModelOut], **ERRORS})
def model_list(request: HttpRequest, ml_app: MLAppKey | None = None) -> Any:
    user = request_user(request)
    models = models_visible_to(user, ml_app=ml_app_by_key(ml_app) if ml_app else None)
    return [model_out(m, user) for m in models]


@router.get("/datasets", response={200: list[DatasetOut], **ERRORS})
def dataset_list(request: HttpRequest, ml_app: MLAppKey | None = None) -> Any:
    user = request_user(request)
    datasets = datasets_visible_to(user, ml_app=ml_app_by_key(ml_app) if ml_app else None)
    return [dataset_out(d, user) for d in datasets]


@router.post("/models", response={201: ModelOut, **BODY_ERRORS, 409: Message})
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
    user = request_user(request)
    model = model_add(
        user=user,
        name=name,
        ml_app=ml_app_by_key(ml_app),
        visibility=visibility,
        description=description,
        uploads=list(files or []) or request.FILES.getlist("files"),
        folder=folder or None,
    )
    return Status(201, model_out(model, user))


@router.post("/datasets", response={201: DatasetOut, **BODY_ERRORS, 409: Message})
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
    user = request_user(request)
    dataset = dataset_add(
        user=user,
        name=name,
        ml_apps=[ml_app_by_key(key) for key in ml_apps],
        visibility=visibility,
        description=description,
        uploads=list(files or []) or request.FILES.getlist("files"),
        folder=folder or None,
        default_path=default_path,
    )
    return Status(201, dataset_out(dataset, user))


@router.post("/datasets/import", response={201: DatasetOut, **BODY_ERRORS, 409: Message})
def dataset_import_view(request: HttpRequest, payload: DatasetImportIn) -> Any:
    """Import a dataset from S3: the objects under `s3_uri` are copied by a worker (poll
    `GET /datasets/{id}` for `s3_import.status`); the secret is never stored. With
    `link`, nothing is copied: jobs read the objects in place, and the secret is kept
    encrypted in Redis until the dataset is deleted."""
    user = request_user(request)
    credentials = S3CredentialsForm(payload.dict())  # the same checks as the web form's
    if not credentials.is_valid():
        field, messages = next(iter(credentials.errors.get_json_data().items()))
        raise errors.bad_request(" ".join(m["message"] for m in messages), field)
    dataset = dataset_import_start(
        user=user,
        name=payload.name,
        ml_apps=[ml_app_by_key(key) for key in payload.ml_apps],
        s3_uri=payload.s3_uri,
        visibility=payload.visibility,
        description=payload.description,
        default_path=payload.default_path,
        link=payload.link,
        **credentials.cleaned_data,
    )
    return Status(201, dataset_out(dataset, user))


@router.post(
    "/datasets/{ref}/import/resume",
    response={200: DatasetOut, **BODY_ERRORS},
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": ImportResumeIn.model_json_schema()}},
            "required": True,
        }
    },
)
def dataset_import_resume_api(request: HttpRequest, ref: str) -> Any:
    """Resume a failed import where it stopped, or give a linked dataset its credentials
    again: JSON `{"secret_access_key"}`. The dataset is looked up first, so another
    user's gets a 404 whatever the body."""
    user = request_user(request)
    dataset = _owned(Dataset.objects.filter(owner=user), ref, "dataset")
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        body = None
    secret = body.get("secret_access_key") if isinstance(body, dict) else None
    if not isinstance(secret, str) or not secret.strip() or len(secret) > 256:
        raise errors.bad_request(
            'Send the secret access key again as JSON {"secret_access_key": "..."}.',
            "secret_access_key",
        )
    dataset_import_resume(dataset=dataset, secret_access_key=secret.strip())
    return dataset_out(dataset, user)


# After /datasets/import: a path parameter would take that URL first.
@router.get("/datasets/{ref}", response={200: DatasetOut, **ERRORS})
def dataset_info(request: HttpRequest, ref: str) -> Any:
    """One dataset you may use, by id or name (with its import from S3, if any)."""
    user = request_user(request)
    return dataset_out(_owned(datasets_visible_to(user), ref, "dataset"), user)


def _owned(qs: Any, ref: str, kind: str) -> Any:
    pk = ref_id(ref)
    found = qs.filter(pk=pk).first() if pk is not None else None
    found = found or qs.filter(name=ref).first()
    if found is None:
        raise Http404(f"No {kind} '{shown(ref)}' of yours.")
    return found


@router.delete("/models/{ref}", response={200: Message, **ERRORS, 409: Message})
def model_delete_view(request: HttpRequest, ref: str) -> Any:
    model = _owned(MLModel.objects.filter(owner=request_user(request)), ref, "model")
    try:
        model_delete(model=model)
    except DjangoValidationError as exc:
        raise errors.conflict(" ".join(exc.messages)) from exc
    return {"message": f"Model '{shown(model.name)}' deleted."}


@router.delete("/datasets/{ref}", response={200: Message, **ERRORS, 409: Message})
def dataset_delete_view(request: HttpRequest, ref: str) -> Any:
    dataset = _owned(Dataset.objects.filter(owner=request_user(request)), ref, "dataset")
    try:
        dataset_delete(dataset=dataset)
    except DjangoValidationError as exc:
        raise errors.conflict(" ".join(exc.messages)) from exc
    return {"message": f"Dataset '{shown(dataset.name)}' deleted."}
