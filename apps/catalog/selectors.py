"""Reads of the catalog, always scoped to what a user may use."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404

from apps.accounts.selectors import organization_id_for
from apps.catalog.locations import dataset_file, dataset_root
from apps.catalog.models import Dataset, MLApp, MLModel, Visibility
from apps.core.storage import UnsafePathError, storage_root
from worker.readers import DatasetReadError, iter_samples

User = AbstractBaseUser | AnonymousUser


def _visible_q(user: User) -> Q:
    org_id = organization_id_for(user)
    q = Q(visibility=Visibility.PLATFORM) | Q(visibility=Visibility.PRIVATE, owner_id=user.pk)
    if org_id is not None:
        q |= Q(visibility=Visibility.ORGANIZATION, organization_id=org_id)
    return q


def ml_apps_list() -> QuerySet[MLApp]:
    return MLApp.objects.all()


def models_visible_to(user: User, *, ml_app: MLApp | None = None) -> QuerySet[MLModel]:
    qs = MLModel.objects.filter(_visible_q(user)).select_related("ml_app", "owner")
    if ml_app is not None:
        qs = qs.filter(ml_app=ml_app)
    return qs


def datasets_visible_to(user: User, *, ml_app: MLApp | None = None) -> QuerySet[Dataset]:
    qs = Dataset.objects.filter(_visible_q(user)).prefetch_related("ml_apps")
    if ml_app is not None:
        qs = qs.filter(ml_apps=ml_app)
    return qs.distinct()


def get_model_for_user(user: User, pk: int) -> MLModel:
    try:
        return models_visible_to(user).get(pk=pk)
    except MLModel.DoesNotExist as exc:
        raise Http404("No such model.") from exc


def get_dataset_for_user(user: User, pk: int) -> Dataset:
    try:
        return datasets_visible_to(user).get(pk=pk)
    except Dataset.DoesNotExist as exc:
        raise Http404("No such dataset.") from exc


def dataset_preview(dataset: Dataset, *, limit: int = 5) -> dict[str, Any]:
    """The first samples and the labels file, for the dataset page and the hub."""
    preview: dict[str, Any] = {"samples": [], "labels": [], "error": ""}
    try:
        root = dataset_root(dataset)
        path = dataset_file(dataset, dataset.default_path)
        for sample in iter_samples(path, 0, limit):
            text = sample.payload if sample.error is None else f"({sample.error})"
            preview["samples"].append({"location": sample.location, "text": (text or "")[:300]})
    except (UnsafePathError, DatasetReadError) as exc:
        preview["error"] = str(exc).replace(str(storage_root() / dataset.folder), dataset.name)
        return preview
    labels = root / "labels.txt"
    if labels.is_file():
        lines = labels.read_text(encoding="utf-8", errors="replace").splitlines()
        preview["labels"] = [line.split("\t")[0] for line in lines if line.strip()][:50]
    return preview
