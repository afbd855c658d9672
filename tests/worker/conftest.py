"""Builders for engine tests: user datasets written under the storage root, job helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from apps.catalog.models import Dataset, MLApp, Visibility
from apps.core.storage import storage_root
from apps.jobs.models import Job
from tests.conftest import wait_for_job
from tests.factories import make_project, sentiment_job


class DatasetBuilder:
    """A private dataset of `owner` whose folder the test fills in (`root`)."""

    def __init__(self, owner: Any) -> None:
        self.owner = owner
        self.count = 0

    def __call__(self, files: dict[str, bytes] | None = None) -> tuple[Dataset, Path]:
        self.count += 1
        dataset = Dataset.objects.create(
            name=f"generated-{self.count}",
            owner=self.owner,
            organization=self.owner.membership.organization,
            visibility=Visibility.PRIVATE,
            folder="",
        )
        dataset.folder = f"datasets/{dataset.pk}"
        dataset.save(update_fields=["folder"])
        dataset.ml_apps.add(MLApp.objects.get(key="sentiment-analysis"))
        root = storage_root() / dataset.folder
        root.mkdir(parents=True, exist_ok=True)
        for rel, data in (files or {}).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(data)
        return dataset, root


@pytest.fixture
def make_dataset(owner: Any) -> DatasetBuilder:
    return DatasetBuilder(owner)


class JobRunner:
    """Creates sentiment jobs through the real service, one project per test."""

    def __init__(self, owner: Any) -> None:
        self.owner = owner
        self.project = make_project(owner, name="Engine")
        self.count = 0

    def start(self, dataset: Dataset, path: str = "", **settings: Any) -> Job:
        self.count += 1
        return sentiment_job(
            self.owner,
            self.project,
            name=f"job-{self.count}",
            dataset=dataset,
            dataset_path=path,
            settings=settings,
        )

    def run(self, dataset: Dataset, path: str = "", **settings: Any) -> Job:
        return wait_for_job(self.start(dataset, path, **settings).pk)


@pytest.fixture
def jobs(live_worker: Any, owner: Any) -> JobRunner:
    return JobRunner(owner)


def results_folder(job: Job) -> Path:
    return storage_root() / job.results_dir


def results_file(job: Job) -> Path:
    return storage_root() / job.results_relpath
