"""The ML Apps, and the Model and Dataset Hubs: list, add (upload or register), delete."""

from __future__ import annotations

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
    DatasetOut,
    Message,
    MLAppKey,
    MLAppOut,
    ModelOut,
)
from apps.catalog.models import Dataset, MLModel
from apps.catalog.selectors import datasets_visible_to, ml_apps_list, models_visible_to
from apps.catalog.services import dataset_add, dataset_delete, model_add, model_delete
from apps.core.text import shown

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
