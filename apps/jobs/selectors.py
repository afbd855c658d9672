"""Reads of jobs, always scoped to the requesting user."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from apps.catalog.locations import dataset_file
from apps.catalog.models import Dataset, MLApp, MLModel
from apps.catalog.selectors import datasets_visible_to, ml_apps_list, models_visible_to
from apps.core.storage import UnsafePathError, storage_path
from apps.jobs.models import ACTIVE_STATUSES, Job, JobStatus
from apps.jobs.services import JobCheck, job_input_check
from apps.projects.models import Project
from worker.readers import DatasetReadError, table_units
from worker.table_schema import table_schema
from worker.tables import TableSchema


def jobs_for_user(user: Any) -> QuerySet[Job]:
    return Job.objects.filter(owner_id=user.pk).select_related("project", "ml_app")


def jobs_for_project(project: Any) -> QuerySet[Job]:
    return Job.objects.filter(project=project).select_related("ml_app")


def get_job_for_user(user: Any, pk: int) -> Job:
    """404 for anything that is not the user's own job."""
    return get_object_or_404(
        Job.objects.select_related("project", "ml_app", "model", "dataset"),
        pk=pk,
        owner_id=user.pk,
    )


# --- dashboard ------------------------------------------------------------------------

# Every column the dashboard shows, and nothing else: the rows need one query, whatever
# the page size (model and dataset names are snapshots on the job).
DASHBOARD_COLUMNS = (
    "id",
    "name",
    "project",
    "project__name",
    "ml_app",
    "ml_app__name",
    "model_name",
    "dataset_name",
    "status",
    "total_samples",
    "done_samples",
    "failed_samples",
    "created_at",
    "started_at",
    "finished_at",
    # apps.jobs.forecast's inputs, shown in the progress and status cells
    "owner",
    "model",
    "waiting_reason",
    "first_predicted_finish",
)


def jobs_for_dashboard(
    *,
    user: Any,
    q: str = "",
    status: str = "",
    project_id: int | None = None,
    ml_app_id: int | None = None,
    sort: str = "-created_at",
) -> QuerySet[Job]:
    qs = jobs_for_user(user).only(*DASHBOARD_COLUMNS)
    if q:
        qs = qs.filter(name__icontains=q)
    if status == "active":
        qs = qs.filter(status__in=ACTIVE_STATUSES)
    elif status:
        qs = qs.filter(status=status)
    if project_id is not None:
        qs = qs.filter(project_id=project_id)
    if ml_app_id is not None:
        qs = qs.filter(ml_app_id=ml_app_id)
    return qs.order_by(sort, "-id")


def dashboard_filter_options(user: Any) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(projects, ML Apps) for the filter dropdowns: one query each."""
    projects = list(
        Project.objects.filter(owner_id=user.pk).order_by("name").values_list("id", "name")
    )
    apps = list(ml_apps_list().values_list("id", "name"))
    return projects, apps


# --- wizard ---------------------------------------------------------------------------


def job_name_taken(*, project: Project, name: str) -> bool:
    return Job.objects.filter(project=project, name=name.strip()).exists()


@dataclass(frozen=True)
class Preflight:
    """What the wizard shows before Run job: the sample count and the results file."""

    ml_app: MLApp | None
    model: MLModel | None
    dataset: Dataset | None
    dataset_path: str
    count: int | None = None
    path_error: str = ""

    @property
    def results_file(self) -> str:
        if self.ml_app is None or self.dataset is None:
            return ""
        return self.ml_app.results_name_for(self.dataset.name)

    @property
    def ready(self) -> bool:
        return bool(self.ml_app and self.model and self.dataset and self.count)


@dataclass(frozen=True)
class TablePreview:
    """A table the wizard offers columns of: its name in the path, columns, first rows."""

    name: str
    schema: TableSchema
    tables: int  # how many tables the path holds (a folder may hold several)


def table_preview(dataset: Dataset | None, relative_path: str) -> TablePreview | None:
    """The first table under a dataset path, or None (not a table, or not readable: the
    path check says why)."""
    if dataset is None:
        return None
    try:
        path = dataset_file(dataset, relative_path or dataset.default_path)
        units = table_units(path) if path.exists() else []
        if not units:
            return None
        return TablePreview(units[0][1], table_schema(units[0][0]), len(units))
    except (UnsafePathError, DatasetReadError, OSError):
        return None


def _pk(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def job_preflight(
    *,
    user: Any,
    ml_app: Any,
    model: Any,
    dataset: Any,
    dataset_path: str,
    checked: JobCheck | None = None,
) -> Preflight:
    """Resolve the wizard's raw values (only what the user may use) and count the samples,
    unless `checked` (job_check on the same values, in this request) already read them."""
    model_pk, app_pk, dataset_pk = _pk(model), _pk(ml_app), _pk(dataset)
    model_obj = models_visible_to(user).filter(pk=model_pk).first() if model_pk else None
    app = ml_apps_list().filter(pk=app_pk).first() if app_pk else None
    if app is None and model_obj is not None:
        app = model_obj.ml_app
    dataset_obj = datasets_visible_to(user).filter(pk=dataset_pk).first() if dataset_pk else None
    path = (dataset_path or "").strip()
    if dataset_obj is None:
        return Preflight(app, model_obj, None, path)
    path = path or dataset_obj.default_path  # what job_check runs on when left empty
    if checked is not None and "dataset_path" in checked.errors:
        message = " ".join(checked.errors["dataset_path"])
        return Preflight(app, model_obj, dataset_obj, path, path_error=message)
    if checked is not None and checked.samples is not None:
        count = checked.samples
    else:
        try:
            count = job_input_check(dataset=dataset_obj, relative_path=path)
        except ValidationError as exc:
            message = " ".join(exc.message_dict.get("dataset_path", exc.messages))
            return Preflight(app, model_obj, dataset_obj, path, path_error=message)
    if count == 0:
        return Preflight(
            app,
            model_obj,
            dataset_obj,
            path,
            count=0,
            path_error=f"'{path or '.'}' holds no samples.",
        )
    return Preflight(app, model_obj, dataset_obj, path, count=count)


# --- job window -----------------------------------------------------------------------

MAX_ERROR_LINES = 200_000


def job_error_reasons(job: Job, *, limit: int = 5) -> list[tuple[str, int]]:
    """The most frequent sample errors: from summary.json, else counted from errors.jsonl."""
    if not job.failed_samples and job.status != JobStatus.FAILED:
        return []
    try:
        folder = storage_path(job.results_dir)
    except UnsafePathError:
        return []
    reasons: Counter[str] = Counter()
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        reasons.update({str(k): int(v) for k, v in summary.get("error_reasons", {}).items()})
    except (OSError, ValueError, AttributeError):
        try:
            with (folder / "errors.jsonl").open(encoding="utf-8", errors="replace") as fh:
                for number, line in enumerate(fh):
                    if number >= MAX_ERROR_LINES:
                        break
                    try:
                        reasons[str(json.loads(line).get("reason", "unknown"))] += 1
                    except (ValueError, AttributeError):
                        continue
        except OSError:
            return []
    return reasons.most_common(limit)


SPEED_JOBS = 5  # the latest completed jobs of a model that its measured speed comes from


def model_speeds(model_ids: list[int]) -> dict[int, float]:
    """Samples a second of each model on this platform: its latest completed jobs' samples
    over their running time (all their workers together)."""
    rows = (
        Job.objects.filter(
            model_id__in=model_ids,
            status=JobStatus.COMPLETED,
            started_at__isnull=False,
            finished_at__isnull=False,
        )
        .order_by("-finished_at")
        .values_list("model_id", "done_samples", "failed_samples", "started_at", "finished_at")
    )
    samples: Counter[int] = Counter()
    seconds: dict[int, float] = {}
    jobs: Counter[int] = Counter()
    for model_id, done, failed, started, finished in rows[: 50 * SPEED_JOBS]:
        if jobs[model_id] >= SPEED_JOBS:
            continue
        jobs[model_id] += 1
        samples[model_id] += done + failed
        if started is None or finished is None:
            continue
        seconds[model_id] = seconds.get(model_id, 0.0) + (finished - started).total_seconds()
    return {m: samples[m] / s for m, s in seconds.items() if s > 0 and samples[m]}
