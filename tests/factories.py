"""Small builders shared by tests (services first, so tests use the real write paths)."""

from __future__ import annotations

from typing import Any

from apps.catalog.models import Dataset, MLApp, MLModel
from apps.jobs.models import Job
from apps.jobs.services import job_create
from apps.projects.models import Project
from apps.projects.services import project_create


def make_project(owner: Any, name: str = "Demo") -> Project:
    return project_create(owner=owner, name=name)


def sentiment_job(
    owner: Any, project: Project | None = None, name: str = "sentiment-1", **overrides: Any
) -> Job:
    project = project or make_project(owner)
    kwargs: dict[str, Any] = {
        "user": owner,
        "project": project,
        "name": name,
        "ml_app": MLApp.objects.get(key="sentiment-analysis"),
        "model": MLModel.objects.get(name="vader-sentiment"),
        "dataset": Dataset.objects.get(name="finance_sentiment"),
        "dataset_path": "test.txt",
        "settings": {},
    }
    kwargs.update(overrides)
    return job_create(**kwargs)
