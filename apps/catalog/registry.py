"""Adding, checking and deleting user models and datasets (the Model and Dataset Hubs).

Uploads stream to disk, archives are extracted safely (apps.core.archives), registered
folders must resolve inside the storage root (nothing is copied: the NFS case), and a
model or dataset in use by a queued or running job cannot be deleted.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from apps.accounts.services import membership_ensure
from apps.catalog.checkpoints import CheckpointError, checkpoint_inspect
from apps.catalog.models import Dataset, MLApp, MLModel, Visibility
from apps.core.archives import ArchiveError, archive_extract, archive_kind
from apps.core.storage import UnsafePathError, safe_join, storage_root
from apps.core.text import name_problem, shown
from apps.jobs.models import ACTIVE_STATUSES
from worker.readers import DatasetReadError, count_samples, iter_samples

ITEM_NAME_MAX_LENGTH = 150  # MLModel.name, Dataset.name
USER_VISIBILITIES = (Visibility.PRIVATE, Visibility.ORGANIZATION)
MANAGED_AREAS = ("datasets", "models", "results")


def _check_common(*, user: Any, name: str, visibility: str, model_cls: type[Any]) -> str:
    name = name.strip()
    if not name:
        raise ValidationError({"name": ["Give it a name."]})
    if problem := name_problem(name, max_length=ITEM_NAME_MAX_LENGTH):
        raise ValidationError({"name": [problem]})
    if visibility not in USER_VISIBILITIES:
        raise ValidationError({"visibility": ["Choose private or organization."]})
    if model_cls.objects.filter(owner=user, name=name).exists():
        raise ValidationError({"name": [f"You already have one named '{shown(name)}'."]})
    return name


def _staging(kind: str) -> Path:
    path = storage_root() / kind / f".incoming-{uuid.uuid4().hex}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _save_upload(upload: UploadedFile, target: Path, budget: list[int]) -> None:
    """Stream an upload to disk chunk by chunk (never whole in memory)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        for chunk in upload.chunks():
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise ValidationError(
                    {"files": [f"The upload is larger than {settings.UPLOAD_MAX_BYTES:,} bytes."]}
                )
            out.write(chunk)


def _upload_name(upload: UploadedFile) -> str:
    # Browsers send a bare name; keep only its last part and refuse hidden/odd names.
    name = Path(str(upload.name or "").replace("\\", "/")).name
    if not name or name.startswith(".") or "\x00" in name:
        raise ValidationError({"files": [f"Refused the file name {upload.name!r}."]})
    return name


def _unpack(uploads: Iterable[UploadedFile], staging: Path) -> None:
    """Archives are extracted; other files are saved as they are."""
    uploads = list(uploads)
    budget = [settings.UPLOAD_MAX_BYTES]
    if len(uploads) > settings.UPLOAD_MAX_FILES:
        raise ValidationError({"files": [f"At most {settings.UPLOAD_MAX_FILES} files."]})
    staging.mkdir(parents=True)
    for upload in uploads:
        name = _upload_name(upload)
        kind = (
            archive_kind(Path(name), name)
            if name.lower().endswith((".zip", ".tar.gz", ".tgz", ".tar"))
            else None
        )
        if kind is None:
            _save_upload(upload, staging / name, budget)
            continue
        archive = staging.parent / f"{staging.name}.{uuid.uuid4().hex}.archive"
        try:
            _save_upload(upload, archive, budget)
            try:
                archive_extract(
                    archive,
                    staging / f".unpacked-{uuid.uuid4().hex}",
                    max_bytes=budget[0],
                    max_files=settings.UPLOAD_MAX_FILES,
                    original_name=name,
                )
            except ArchiveError as exc:
                raise ValidationError({"files": [str(exc)]}) from exc
        finally:
            archive.unlink(missing_ok=True)
    # Lift unpacked archive contents to the top of the staging folder.
    for unpacked in sorted(staging.glob(".unpacked-*")):
        top = [p for p in unpacked.iterdir() if not p.name.startswith(".")]
        # An archive of one folder (the usual `zip -r x.zip folder/`) means its contents.
        source = top[0] if len(top) == 1 and top[0].is_dir() else unpacked
        for child in source.iterdir():
            destination = staging / child.name
            if destination.exists():
                raise ValidationError(
                    {"files": [f"'{shown(child.name)}' appears twice in the upload."]}
                )
            child.rename(destination)
        shutil.rmtree(unpacked)


def _registered_folder(folder: str) -> tuple[str, Path]:
    try:
        path = safe_join(storage_root(), folder, within="the storage root")
    except UnsafePathError as exc:
        raise ValidationError({"folder": [str(exc)]}) from exc
    if path == storage_root():
        raise ValidationError({"folder": ["Give a folder inside the storage root, not the root."]})
    if not path.is_dir():
        raise ValidationError(
            {"folder": [f"'{shown(folder)}' is not a folder under the storage root."]}
        )
    relative = path.relative_to(storage_root()).as_posix()
    if relative.split("/")[0] in MANAGED_AREAS:
        # These hold other users' uploads and results: registering them would bypass access.
        raise ValidationError(
            {
                "folder": [
                    f"Folders under {', '.join(MANAGED_AREAS)} are managed by the platform; "
                    "register a folder elsewhere in the storage root."
                ]
            }
        )
    return relative, path


def _source(
    kind: str, *, uploads: list[UploadedFile] | None, folder: str | None
) -> tuple[Path, str | None]:
    """(path to inspect, staging folder if we made one) — exactly one source is allowed."""
    if bool(uploads) == bool(folder and folder.strip()):
        raise ValidationError(
            {"files": ["Upload files or an archive, or give a folder — one of the two."]}
        )
    if uploads:
        staging = _staging(kind)
        try:
            _unpack(uploads, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return staging, str(staging)
    assert folder is not None
    return _registered_folder(folder)[1], None


def model_add(
    *,
    user: Any,
    name: str,
    ml_app: MLApp | None,
    visibility: str = Visibility.PRIVATE,
    description: str = "",
    uploads: list[UploadedFile] | None = None,
    folder: str | None = None,
) -> MLModel:
    name = _check_common(user=user, name=name, visibility=visibility, model_cls=MLModel)
    if ml_app is None:
        raise ValidationError({"ml_app": ["Choose the ML App this model serves."]})
    path, staging = _source("models", uploads=uploads, folder=folder)
    try:
        try:
            info = checkpoint_inspect(path, ml_app.key)
        except CheckpointError as exc:
            raise ValidationError({"files" if uploads else "folder": [str(exc)]}) from exc
        membership = membership_ensure(user)
        with transaction.atomic():
            model = MLModel.objects.create(
                name=name,
                ml_app=ml_app,
                visibility=visibility,
                owner=user,
                organization=membership.organization,
                source_type=info.source_type,
                source="",
                size_bytes=info.size_bytes,
                sha256_manifest=info.sha256,
                description=description.strip() or info.detail,
            )
            if staging:
                final = storage_root() / "models" / str(model.pk)
                Path(staging).rename(final)
                staging = None
                model.source = f"models/{model.pk}"
            else:
                model.source = path.relative_to(storage_root()).as_posix()
            model.save(update_fields=["source"])
        return model
    except IntegrityError as exc:
        raise ValidationError({"name": [f"You already have one named '{shown(name)}'."]}) from exc
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)


def dataset_add(
    *,
    user: Any,
    name: str,
    ml_apps: list[MLApp],
    visibility: str = Visibility.PRIVATE,
    description: str = "",
    uploads: list[UploadedFile] | None = None,
    folder: str | None = None,
    default_path: str = "",
) -> Dataset:
    name = _check_common(user=user, name=name, visibility=visibility, model_cls=Dataset)
    if not ml_apps:
        raise ValidationError({"ml_apps": ["Choose at least one ML App this dataset serves."]})
    path, staging = _source("datasets", uploads=uploads, folder=folder)
    try:
        try:
            data_path = safe_join(path, default_path)
            info = count_samples(data_path)
        except (UnsafePathError, DatasetReadError) as exc:
            message = str(exc).replace(str(path), name)
            raise ValidationError({"default_path" if default_path else "files": [message]}) from exc
        if info.count == 0:
            raise ValidationError({"files": ["No samples found in the dataset."]})
        membership = membership_ensure(user)
        with transaction.atomic():
            dataset = Dataset.objects.create(
                name=name,
                visibility=visibility,
                owner=user,
                organization=membership.organization,
                folder="",
                default_path=default_path.strip(),
                data_format=info.data_format,
                sample_count=info.count,
                description=description.strip(),
            )
            dataset.ml_apps.set(ml_apps)
            if staging:
                Path(staging).rename(storage_root() / "datasets" / str(dataset.pk))
                staging = None
                dataset.folder = f"datasets/{dataset.pk}"
            else:
                dataset.folder = path.relative_to(storage_root()).as_posix()
            dataset.save(update_fields=["folder"])
        return dataset
    except IntegrityError as exc:
        raise ValidationError({"name": [f"You already have one named '{shown(name)}'."]}) from exc
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)


def dataset_preview(dataset: Dataset, *, limit: int = 5) -> dict[str, Any]:
    """The first samples and the labels file, for the dataset page and the hub."""
    root = storage_root() / dataset.folder
    preview: dict[str, Any] = {"samples": [], "labels": [], "error": ""}
    try:
        path = safe_join(root, dataset.default_path)
        for sample in iter_samples(path, 0, limit):
            text = sample.payload if sample.error is None else f"({sample.error})"
            preview["samples"].append({"location": sample.location, "text": (text or "")[:300]})
    except (UnsafePathError, DatasetReadError) as exc:
        preview["error"] = str(exc).replace(str(root), dataset.name)
    labels = root / "labels.txt"
    if labels.is_file():
        lines = labels.read_text(encoding="utf-8", errors="replace").splitlines()
        preview["labels"] = [line.split("\t")[0] for line in lines if line.strip()][:50]
    return preview


def _refuse_if_in_use(obj: MLModel | Dataset, field: str) -> None:
    from apps.jobs.models import Job

    active = list(
        Job.objects.filter(**{field: obj}, status__in=ACTIVE_STATUSES).values_list(
            "name", flat=True
        )[:5]
    )
    if active:
        raise ValidationError(
            f"'{shown(obj.name)}' is used by queued or running job(s): "
            f"{', '.join(shown(n) for n in active)}. "
            "Quit them or wait until they finish, then delete it."
        )


def _remove_owned_folder(relative: str, kind: str, pk: int) -> None:
    # Only folders the platform made (uploads) are removed; a registered NFS folder is
    # the user's data and stays.
    if relative == f"{kind}/{pk}":
        shutil.rmtree(storage_root() / relative, ignore_errors=True)


def model_delete(*, model: MLModel) -> None:
    _refuse_if_in_use(model, "model")
    relative, pk = model.source, model.pk
    model.delete()  # finished jobs keep their model name (Job.model_name)
    _remove_owned_folder(relative, "models", pk)


def dataset_delete(*, dataset: Dataset) -> None:
    _refuse_if_in_use(dataset, "dataset")
    relative, pk = dataset.folder, dataset.pk
    dataset.delete()
    _remove_owned_folder(relative, "datasets", pk)
