"""Where a job's input and output are: the dataset path, the model, the results folder.

Shared by the engine (running shards) and worker.finishing (merging them); every path
goes through the storage root's safe join.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from apps.catalog.locations import dataset_file, dataset_root
from apps.catalog.models import MLModel, SourceType
from apps.core.storage import UnsafePathError, display_path, safe_join, storage_root
from apps.jobs.models import Job
from worker.remote import DataPath
from worker.runners import ModelRef
from worker.samples import DatasetReadError


class JobInputError(Exception):
    """A problem with the job's input that the user must fix; the message says how."""


def results_dir(job: Job) -> Path:
    return storage_root() / job.results_dir


def part_paths(job: Job, index: int) -> tuple[Path, Path]:
    """The published results part and errors part of shard `index`."""
    parts = results_dir(job) / "parts"
    return parts / f"{index:06d}.part", parts / f"{index:06d}.errors.jsonl"


def joined_part_path(job: Job, index: int) -> Path:
    """Shard `index`'s rows of the joined results file (worker.joined)."""
    return results_dir(job) / "parts" / f"{index:06d}.joined.jsonl"


def dataset_dir(job: Job) -> DataPath | None:
    """The dataset's root: its folder, or its linked S3 prefix (apps.catalog.locations)."""
    if job.dataset is None:
        return None
    try:
        return dataset_root(job.dataset)
    except DatasetReadError as exc:
        raise JobInputError(str(exc)) from exc


def job_input_path(job: Job) -> DataPath:
    if job.dataset is None:
        raise JobInputError(f"The dataset '{job.dataset_name}' has been deleted.")
    try:
        path = dataset_file(job.dataset, job.dataset_path)
    except (UnsafePathError, DatasetReadError) as exc:
        raise JobInputError(str(exc)) from exc
    if not path.exists():
        shown = display_path(f"{job.dataset.folder}/{job.dataset_path}".rstrip("/"))
        raise JobInputError(
            f"The dataset path '{job.dataset_path or '.'}' of '{job.dataset_name}' "
            f"no longer exists ({shown})."
        )
    return path


def model_ref(model: MLModel | None, job: Job) -> ModelRef:
    if model is None:
        raise JobInputError(f"The model '{job.model_name}' has been deleted.")
    if model.source_type == SourceType.BUILTIN:
        location = model.source.removeprefix("builtin:")
    else:
        location = str(safe_join(storage_root(), model.source))
    return ModelRef(name=model.name, source_type=model.source_type, location=location)


def runner_context(job: Job) -> dict[str, Any]:
    """What a runner may ask for beyond model and settings (see worker.runners)."""
    context: dict[str, Any] = {"output_dir": results_dir(job)}
    if (folder := dataset_dir(job)) is not None:
        context["dataset_dir"] = folder
    return context
