"""Writes to jobs: create, quit, delete. Status changes go through apps.jobs.transitions;
tasks are sent through worker.dispatch (the web process never runs the engine)."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from kombu.exceptions import OperationalError

from apps.catalog.locations import dataset_file
from apps.catalog.models import Dataset, MLApp, MLModel, SourceType
from apps.catalog.s3_import import import_problem
from apps.catalog.selectors import datasets_visible_to, models_visible_to
from apps.catalog.settings_schema import settings_validate
from apps.core.errors import name_taken
from apps.core.storage import UnsafePathError, storage_root
from apps.core.text import name_problem, shown
from apps.jobs import transitions
from apps.jobs.models import Job, JobPriority, JobShard, ShardStatus
from apps.projects.models import Project
from worker import dispatch
from worker.readers import DatasetReadError, count_samples, table_units
from worker.remote import DataPath
from worker.runners import ModelLoadError
from worker.runners.registry import plugin_for
from worker.table_schema import table_problems
from worker.tables import Columns

logger = logging.getLogger(__name__)

JOB_NAME_MAX_LENGTH = 100  # Job.name


def _in_dataset(*, dataset: Dataset, relative_path: str, field: str) -> DataPath:
    """`relative_path` resolved inside the dataset (it may not exist); a ValidationError
    keyed by `field` otherwise."""
    try:
        return dataset_file(dataset, relative_path)
    except (UnsafePathError, DatasetReadError) as exc:
        raise ValidationError({field: str(exc)}) from exc


def _missing(*, dataset: Dataset, relative_path: str, field: str) -> ValidationError:
    return ValidationError(
        {field: f"'{shown(relative_path)}' does not exist in the dataset '{shown(dataset.name)}'."}
    )


def job_input_check(*, dataset: Dataset, relative_path: str) -> int:
    """Resolve a path inside a dataset and count its samples; ValidationError otherwise."""
    path = _in_dataset(dataset=dataset, relative_path=relative_path, field="dataset_path")
    if not path.exists():
        raise _missing(dataset=dataset, relative_path=relative_path, field="dataset_path")
    try:
        return count_samples(path).count
    except DatasetReadError as exc:
        message = str(exc).replace(str(path), shown(relative_path or dataset.name))
        raise ValidationError({"dataset_path": message}) from exc


def job_columns_check(
    *,
    dataset: Dataset,
    relative_path: str,
    settings: dict[str, Any],
    row_settings: dict[str, str] | None = None,
) -> dict[str, list[str]]:
    """Refusals of the chosen table columns (unknown ones, an ID column with blanks or
    repeats: the rows are named), by setting name; empty when they can be read.
    `row_settings`: the ML App's columns of per-row settings (MLAppPlugin.row_settings)."""
    columns = Columns.from_settings(settings, row_settings)
    if not columns.chosen:
        return {}
    path = _in_dataset(dataset=dataset, relative_path=relative_path, field="dataset_path")
    try:
        problems = table_problems(table_units(path), columns)
    except DatasetReadError as exc:
        return {"dataset_path": [str(exc).replace(str(path), shown(relative_path))]}
    return {name: [message] for name, message in problems.items()}


def _row_settings(ml_app: MLApp) -> dict[str, str]:
    try:
        return plugin_for(ml_app.key).row_settings
    except ModelLoadError:
        return {}


def job_settings_check(
    *,
    ml_app: MLApp,
    model: MLModel | None,
    dataset: Dataset | None,
    settings: dict[str, Any] | None,
) -> dict[str, Any]:
    """The ML App's settings, typed and completed with defaults; ValidationError keyed by
    setting name otherwise.

    A setting that names a file inside the dataset (`dataset_file` in its schema, e.g.
    `labels_file`) goes through the dataset path's safe join, so `../../etc/passwd` is
    refused here rather than when the job runs. The built-in models read that file, so for
    them it must also exist and be a file; user checkpoints bring their own classes and
    ignore it. Settings valid alone but not together are refused by the ML App
    (MLAppPlugin.settings_problems, e.g. min_speakers above max_speakers).
    """
    cleaned = settings_validate(ml_app.settings_schema, settings)
    try:
        combined = plugin_for(ml_app.key).settings_problems(cleaned)
    except ModelLoadError:  # an ML App row without a runner: the system check says so
        combined = {}
    if combined:
        raise ValidationError({name: [message] for name, message in combined.items()})
    if dataset is None:
        return cleaned
    reads_files = model is not None and model.source_type == SourceType.BUILTIN
    errors: dict[str, list[str]] = {}
    for spec in ml_app.settings_schema:
        if not spec.get("dataset_file"):
            continue
        name = spec["name"]
        value = cleaned.get(name) or spec["default"]  # the worker reads the default if empty
        try:
            path = _in_dataset(dataset=dataset, relative_path=value, field=name)
        except ValidationError as exc:
            errors[name] = exc.messages
            continue
        if reads_files and not path.exists():
            errors[name] = _missing(dataset=dataset, relative_path=value, field=name).messages
        elif reads_files and not path.is_file():
            errors[name] = [f"'{shown(value)}' is a folder; name a file of the dataset."]
    if errors:
        raise ValidationError(errors)
    return cleaned


@dataclass(frozen=True)
class JobSpec:
    """A job that passed every check: what job_submit writes, and its samples as counted."""

    project: Project
    name: str
    ml_app: MLApp
    model: MLModel
    dataset: Dataset
    dataset_path: str
    settings: dict[str, Any]
    samples: int


@dataclass
class JobCheck:
    """What job_check found: the refusals by field, and the samples if the input was read.

    The wizard shows both on one render (the errors next to their fields, the count under
    the path), so the input is read once per request.
    """

    errors: dict[str, list[str]] = field(default_factory=dict)
    name_taken: bool = False  # the name's refusal is that it is used (the API's 409)
    samples: int | None = None
    spec: JobSpec | None = None


def job_check(
    *,
    user: Any,
    project: Project,
    name: str,
    ml_app: MLApp | None,
    model: MLModel | None,
    dataset: Dataset | None,
    dataset_path: str,
    settings: dict[str, Any] | None,
) -> JobCheck:
    """Check everything the server must not trust from a form or a client.

    An empty dataset path means the dataset's own default (e.g. test.txt), else the whole
    folder. The input is read once, here, to count its samples.
    """
    check = JobCheck()
    errors = check.errors
    name = name.strip()
    if not name:
        errors["name"] = ["Give the job a name."]
    elif problem := name_problem(name, what="job name", max_length=JOB_NAME_MAX_LENGTH):
        errors["name"] = [problem]
    elif Job.objects.filter(project=project, name=name).exists():
        errors["name"] = [f"A job named '{name}' already exists in this project."]
        check.name_taken = True
    if ml_app is None:
        errors["ml_app"] = ["Choose an ML App."]
    if model is None or not models_visible_to(user).filter(pk=model.pk).exists():
        errors["model"] = ["Choose a model you may use."]
    elif ml_app is not None and model.ml_app_id != ml_app.pk:
        errors["model"] = [
            f"The model '{shown(model.name)}' is for {model.ml_app.name}, not {ml_app.name}."
        ]
    if dataset is None or not datasets_visible_to(user).filter(pk=dataset.pk).exists():
        errors["dataset"] = ["Choose a dataset you may use."]
    elif ml_app is not None and not dataset.ml_apps.filter(pk=ml_app.pk).exists():
        errors["dataset"] = [f"The dataset '{shown(dataset.name)}' does not serve {ml_app.name}."]
    elif problem := import_problem(dataset):
        errors["dataset"] = [problem]
    cleaned: dict[str, Any] = {}
    if ml_app is not None:
        try:
            cleaned = job_settings_check(
                ml_app=ml_app,
                model=model if "model" not in errors else None,
                dataset=dataset if "dataset" not in errors else None,
                settings=settings,
            )
        except ValidationError as exc:
            errors["settings"] = [f"{k}: {'; '.join(v)}" for k, v in exc.message_dict.items()]
    path = dataset_path.strip()
    if dataset is not None and "dataset" not in errors:
        path = path or dataset.default_path
        try:
            check.samples = job_input_check(dataset=dataset, relative_path=path)
        except ValidationError as exc:
            errors.update(exc.message_dict)
        if check.samples is not None and ml_app is not None and "settings" not in errors:
            errors.update(
                job_columns_check(
                    dataset=dataset,
                    relative_path=path,
                    settings=cleaned,
                    row_settings=_row_settings(ml_app),
                )
            )
    if not errors:
        assert ml_app is not None and model is not None and dataset is not None
        check.spec = JobSpec(
            project=project,
            name=name,
            ml_app=ml_app,
            model=model,
            dataset=dataset,
            dataset_path=path,
            settings=cleaned,
            samples=check.samples or 0,
        )
    return check


def job_create(
    *,
    user: Any,
    project: Project,
    name: str,
    ml_app: MLApp | None,
    model: MLModel | None,
    dataset: Dataset | None,
    dataset_path: str = "",
    settings: dict[str, Any] | None = None,
    priority: int = JobPriority.NORMAL,
) -> Job:
    """Check a job's raw values and queue it (the API; the wizard's form checks first)."""
    check = job_check(
        user=user,
        project=project,
        name=name,
        ml_app=ml_app,
        model=model,
        dataset=dataset,
        dataset_path=dataset_path,
        settings=settings,
    )
    if check.spec is None:
        refusal = ValidationError(check.errors)
        if check.name_taken:
            refusal.error_dict["name"] = name_taken(check.errors["name"][0]).error_dict["name"]
        raise refusal
    return job_submit(user=user, spec=check.spec, priority=priority)


@transaction.atomic
def job_submit(*, user: Any, spec: JobSpec, priority: int = JobPriority.NORMAL) -> Job:
    """Write a job that job_check passed in this request, and queue it once committed.

    Nothing is read again: only the name may have been taken since, and the database's
    unique constraint says so.
    """
    try:
        with transaction.atomic():
            job = Job.objects.create(
                project=spec.project,
                owner=user,
                name=spec.name,
                ml_app=spec.ml_app,
                model=spec.model,
                model_name=spec.model.name,
                dataset=spec.dataset,
                dataset_name=spec.dataset.name,
                dataset_path=spec.dataset_path,
                settings=spec.settings,
                priority=priority,
                results_filename=plugin_for(spec.ml_app.key).results_name(
                    spec.ml_app.results_name_for(spec.dataset.name), spec.settings
                ),
            )
    except IntegrityError as exc:  # a concurrent create with the same name won the race
        raise name_taken(f"A job named '{spec.name}' already exists in this project.") from exc
    transaction.on_commit(lambda: job_enqueue(job_id=job.pk))
    return job


def job_enqueue(*, job_id: int) -> None:
    """Hand the job to the workers; if the broker is unreachable, say so on the job."""
    try:
        dispatch.send(dispatch.JOB_PLAN, job_id, retry=True, retry_policy={"max_retries": 2})
    except OperationalError:
        logger.exception("could not queue job %s", job_id)
        transitions.job_fail_queued(
            job_id=job_id,
            message="Could not reach the job queue (Redis). Check that Redis and a "
            "worker are running, then create the job again.",
        )


def _job_stop(job: Job) -> bool:
    """QUEUED → STOPPED (True), or RUNNING → STOPPING with the queued shards cancelled."""
    if transitions.job_stop_queued(job_id=job.pk):
        return True
    pending = list(
        JobShard.objects.filter(job=job, status=ShardStatus.PENDING).values_list(
            "task_id", flat=True
        )
    )
    # STOPPING alone already stops every shard (a PENDING one cancels itself when
    # claimed); cancelling them here, and revoking their messages, saves the round trip.
    transitions.job_stop(job_id=job.pk)
    dispatch.revoke(pending)
    return False


def job_quit(*, job: Job) -> Job:
    """QUEUED → STOPPED at once; RUNNING → STOPPING, and the shards stop within a second.

    The merge that ends a STOPPING job runs in a worker: the last shard to stop does it, or
    the job_finalize task sent here when no shard was running (all were still queued).
    """
    if not _job_stop(job):
        dispatch.send_on_commit(dispatch.JOB_FINALIZE, job.pk)
    job.refresh_from_db()
    return job


def job_delete(*, job: Job) -> None:
    """Quit if needed, then remove the job, its results folder and its export history."""
    if job.is_active:
        _job_stop(job)  # no merge: the shards that see the job gone clean up after it
    folder = storage_root() / job.results_dir
    job.delete()
    shutil.rmtree(folder, ignore_errors=True)
