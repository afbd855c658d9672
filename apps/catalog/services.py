"""Writes to the catalog: syncing the ML Apps and platform items from code, and adding,
checking and deleting users' models and datasets (the Model and Dataset Hubs).

A new model or dataset comes from an upload or a registered folder (apps.catalog.uploads);
it is checked before its row exists, and a model or dataset in use by a queued or running
job cannot be deleted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction

from apps.accounts.services import membership_ensure
from apps.catalog.checkpoints import CheckpointError, checkpoint_inspect
from apps.catalog.model_cards import SOURCE_HERE, shipped_cards
from apps.catalog.models import Dataset, DatasetImport, MLApp, MLModel, SourceType, Visibility
from apps.catalog.uploads import source_prepare
from apps.core.errors import name_taken
from apps.core.storage import UnsafePathError, safe_join, storage_root
from apps.core.text import name_problem, shown
from apps.exports import secret_store
from apps.jobs.models import ACTIVE_STATUSES, Job
from worker.readers import DatasetReadError, count_samples, sole_file
from worker.runners.plugin import MLAppPlugin
from worker.runners.registry import PLUGINS

ITEM_NAME_MAX_LENGTH = 150  # MLModel.name, Dataset.name
USER_VISIBILITIES = (Visibility.PRIVATE, Visibility.ORGANIZATION)
PLATFORM_DATASETS_DIR = Path(__file__).resolve().parent / "platform_datasets"


@transaction.atomic
def catalog_sync() -> dict[str, int]:
    """Write the ML App registry (worker.runners.registry) to the MLApp rows, with each
    plugin's built-in models, and the platform datasets. Idempotent."""
    apps_by_key: dict[str, MLApp] = {}
    models = 0
    cards = shipped_cards()
    for position, plugin in enumerate(PLUGINS):
        app, _ = MLApp.objects.update_or_create(
            key=plugin.key, defaults=ml_app_row_values(plugin, position)
        )
        apps_by_key[plugin.key] = app
        for builtin in plugin.builtin_models:
            row, _ = MLModel.objects.update_or_create(
                visibility=Visibility.PLATFORM,
                name=builtin.name,
                defaults={
                    "ml_app": app,
                    "source_type": SourceType.BUILTIN,
                    "source": f"builtin:{builtin.key}",
                    "description": builtin.description,
                },
            )
            # The shipped card until `manage.py model_cards` measures one on this server.
            if builtin.name in cards and row.card.get("source") != SOURCE_HERE:
                MLModel.objects.filter(pk=row.pk).update(card=cards[builtin.name])
            models += 1
    datasets = 0
    for manifest in sorted(PLATFORM_DATASETS_DIR.glob("*/dataset.json")):
        _platform_dataset_sync(manifest, apps_by_key)
        datasets += 1
    return {"ml_apps": len(apps_by_key), "models": models, "datasets": datasets}


def ml_app_row_values(plugin: MLAppPlugin, position: int) -> dict[str, Any]:
    """What an MLApp row holds of its plugin (the check compares the same values)."""
    return {
        "name": plugin.name,
        "description": plugin.description,
        "input_kind": plugin.input_kind,
        "results_filename": plugin.results_filename,
        "results_format": plugin.results_format,
        "settings_schema": plugin.settings_schema,
        "position": position,
    }


def _platform_dataset_sync(manifest: Path, apps_by_key: dict[str, MLApp]) -> Dataset:
    meta = json.loads(manifest.read_text())
    dataset, _ = Dataset.objects.get_or_create(
        visibility=Visibility.PLATFORM,
        name=meta["name"],
        defaults={"folder": ""},
    )
    folder = f"datasets/{dataset.pk}"
    target = storage_root() / folder
    # Copy the shipped files into the storage root, so platform data lives on the shared
    # mount like every other dataset and every worker machine sees it.
    shutil.copytree(
        manifest.parent, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("dataset.json")
    )
    default_path = meta.get("default_path", "")
    try:
        info = count_samples(target / default_path if default_path else target)
        sample_count, data_format = info.count, info.data_format
    except DatasetReadError:
        sample_count, data_format = 0, ""
    dataset.folder = folder
    dataset.default_path = default_path
    dataset.description = meta.get("description", "")
    dataset.sample_count = sample_count
    dataset.data_format = data_format
    dataset.save()
    dataset.ml_apps.set([apps_by_key[key] for key in meta["ml_apps"]])
    return dataset


# --- users' models and datasets --------------------------------------------------


def check_item_common(*, user: Any, name: str, visibility: str, model_cls: type[Any]) -> str:
    name = name.strip()
    if not name:
        raise ValidationError({"name": ["Give it a name."]})
    if problem := name_problem(name, max_length=ITEM_NAME_MAX_LENGTH):
        raise ValidationError({"name": [problem]})
    if visibility not in USER_VISIBILITIES:
        raise ValidationError({"visibility": ["Choose private or organization."]})
    if model_cls.objects.filter(owner=user, name=name).exists():
        raise name_taken(f"You already have one named '{shown(name)}'.")
    return name


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
    name = check_item_common(user=user, name=name, visibility=visibility, model_cls=MLModel)
    if ml_app is None:
        raise ValidationError({"ml_app": ["Choose the ML App this model serves."]})
    path, staging = source_prepare(kind="models", uploads=uploads, folder=folder)
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
        raise name_taken(f"You already have one named '{shown(name)}'.") from exc
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)


def dataset_row_create(
    *,
    user: Any,
    name: str,
    ml_apps: list[MLApp],
    visibility: str,
    description: str,
    default_path: str,
    data_format: str = "",
    sample_count: int = 0,
) -> Dataset:
    """The Dataset row of a checked name, in the user's organization; the caller sets its
    folder once it knows the row's id (uploads, S3 imports) or the registered path."""
    dataset = Dataset.objects.create(
        name=name,
        visibility=visibility,
        owner=user,
        organization=membership_ensure(user).organization,
        folder="",
        default_path=default_path.strip(),
        data_format=data_format,
        sample_count=sample_count,
        description=description.strip(),
    )
    dataset.ml_apps.set(ml_apps)
    return dataset


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
    name = check_item_common(user=user, name=name, visibility=visibility, model_cls=Dataset)
    if not ml_apps:
        raise ValidationError({"ml_apps": ["Choose at least one ML App this dataset serves."]})
    path, staging = source_prepare(kind="datasets", uploads=uploads, folder=folder)
    try:
        default_path = default_path.strip() or sole_file(path) or ""
        try:
            data_path = safe_join(path, default_path)
            info = count_samples(data_path)
        except (UnsafePathError, DatasetReadError) as exc:
            message = str(exc).replace(str(path), name)
            raise ValidationError({"default_path" if default_path else "files": [message]}) from exc
        if info.count == 0:
            raise ValidationError({"files": ["No samples found in the dataset."]})
        with transaction.atomic():
            dataset = dataset_row_create(
                user=user,
                name=name,
                ml_apps=ml_apps,
                visibility=visibility,
                description=description,
                default_path=default_path,
                data_format=info.data_format,
                sample_count=info.count,
            )
            if staging:
                Path(staging).rename(storage_root() / "datasets" / str(dataset.pk))
                staging = None
                dataset.folder = f"datasets/{dataset.pk}"
            else:
                dataset.folder = path.relative_to(storage_root()).as_posix()
            dataset.save(update_fields=["folder"])
        return dataset
    except IntegrityError as exc:
        raise name_taken(f"You already have one named '{shown(name)}'.") from exc
    finally:
        if staging:
            shutil.rmtree(staging, ignore_errors=True)


def _refuse_if_in_use(obj: MLModel | Dataset, field: str) -> None:
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
    linked = DatasetImport.objects.filter(dataset=dataset, linked=True).exists()
    dataset.delete()
    _remove_owned_folder(relative, "datasets", pk)
    if linked:  # the credentials the workers read its objects with go too
        secret_store.link_secret_drop(dataset_id=pk)
