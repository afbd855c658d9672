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


def job_row(owner: Any, project: Project | None = None, **fields: Any) -> Job:
    """A job row as the engine would leave it, with no task behind it: no worker can run
    or finish it while the test looks (for states and pages, not for running jobs)."""
    app_key = fields.pop("app_key", "sentiment-analysis")
    values: dict[str, Any] = {
        "name": "row-job",
        "status": "COMPLETED",
        "model_name": "vader-sentiment",
        "dataset_name": "finance_sentiment",
        "results_filename": "r.txt",
        **fields,
    }
    return Job.objects.create(
        project=project or make_project(owner, name=f"p-{values['name']}"),
        owner=owner,
        ml_app=MLApp.objects.get(key=app_key),
        **values,
    )
