"""Writes to the catalog: syncing the ML Apps and platform models/datasets from code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from django.db import transaction

from apps.catalog.mlapps import BUILTIN_MODELS, ML_APPS
from apps.catalog.models import Dataset, MLApp, MLModel, SourceType, Visibility
from apps.core.storage import storage_root
from worker.readers import DatasetReadError, count_samples

PLATFORM_DATASETS_DIR = Path(__file__).resolve().parent / "platform_datasets"


@transaction.atomic
def catalog_sync() -> dict[str, int]:
    """Create or update the ML Apps, built-in models and platform datasets. Idempotent."""
    apps_by_key: dict[str, MLApp] = {}
    for position, spec in enumerate(ML_APPS):
        app, _ = MLApp.objects.update_or_create(
            key=spec.key,
            defaults={
                "name": spec.name,
                "description": spec.description,
                "input_kind": spec.input_kind,
                "results_filename": spec.results_filename,
                "results_format": spec.results_format,
                "settings_schema": spec.settings_schema,
                "position": position,
            },
        )
        apps_by_key[spec.key] = app
    for model_spec in BUILTIN_MODELS:
        MLModel.objects.update_or_create(
            visibility=Visibility.PLATFORM,
            name=model_spec.name,
            defaults={
                "ml_app": apps_by_key[model_spec.ml_app],
                "source_type": SourceType.BUILTIN,
                "source": f"builtin:{model_spec.key}",
                "description": model_spec.description,
            },
        )
    datasets = 0
    for manifest in sorted(PLATFORM_DATASETS_DIR.glob("*/dataset.json")):
        _platform_dataset_sync(manifest, apps_by_key)
        datasets += 1
    return {"ml_apps": len(apps_by_key), "models": len(BUILTIN_MODELS), "datasets": datasets}


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
