"""Planning: count a QUEUED job's samples and cut them into shards, which worker.scheduler
sends to the workers."""

from __future__ import annotations

import math

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.accounts.models import Membership
from apps.catalog.models import SourceType
from apps.jobs import transitions
from apps.jobs.forecast import first_finish
from apps.jobs.models import Job, JobShard, JobStatus
from worker import scheduler
from worker.messages import os_message, user_message
from worker.paths import JobInputError, job_input_path, model_ref, results_dir
from worker.readers import DatasetReadError, count_samples, line_offsets, table_units
from worker.runners import ModelLoadError
from worker.runners.registry import plugin_for
from worker.table_schema import table_problems
from worker.tables import Columns

# Fewer samples than this per shard costs more in task overhead than it gains in spread.
# A shard costs ~10 ms of bookkeeping (bench), so each runner module names a floor worth
# a second or more of its built-in model's work (min_shard_samples); a Hugging Face
# checkpoint is a transformer, tens of ms a sample on CPU, so its shards may be smaller:
# two workers then share a job of a few hundred documents.
TRANSFORMER_MIN_SHARD_SAMPLES = 200


def min_shard_samples(job: Job) -> int:
    try:
        floor = plugin_for(job.ml_app.key).shard_floor(model_ref(job.model, job))
    except (ModelLoadError, JobInputError):  # the shards fail with that message
        floor = 1
    if job.model is not None and job.model.source_type == SourceType.HUGGINGFACE:
        floor = min(floor, TRANSFORMER_MIN_SHARD_SAMPLES)
    # A shard smaller than a batch would hand a batched model (the LLM decodes a batch of
    # prompts together) fewer samples than it is set to take at once.
    return max(floor, int(job.settings.get("batch_size") or 1))


def shard_ranges(total: int, *, shard_size: int, min_samples: int) -> list[tuple[int, int]]:
    if total <= 0:
        return []
    if shard_size <= 0:
        count = min(settings.MAX_SHARDS, math.ceil(total / max(min_samples, 1)))
        shard_size = math.ceil(total / max(count, 1))
    return [(start, min(start + shard_size, total)) for start in range(0, total, shard_size)]


def job_plan(job_id: int) -> None:
    """QUEUED → RUNNING: count the samples, record the shards and queue one task each."""
    job = Job.objects.select_related("dataset", "ml_app", "model").filter(pk=job_id).first()
    if job is None or job.status != JobStatus.QUEUED:
        return
    if reason := scheduler.cap_reason(job):  # checked again under a lock at the commit
        scheduler.hold(job, reason)
        return
    try:
        path = job_input_path(job)
        info = count_samples(path)
        # The create checked the columns and the first rows' IDs; the whole table now,
        # before any shard runs (and in case the file changed since).
        columns = Columns.from_settings(job.settings, plugin_for(job.ml_app.key).row_settings)
        problems = table_problems(table_units(path), columns, limit=None)
    except (JobInputError, DatasetReadError) as exc:
        transitions.job_fail_queued(job_id=job_id, message=user_message(exc))
        return
    except OSError as exc:
        transitions.job_fail_queued(job_id=job_id, message=os_message(exc))
        return
    if problems:
        transitions.job_fail_queued(job_id=job_id, message=next(iter(problems.values())))
        return
    total = info.count
    if job.settings.get("max_samples"):
        total = min(total, int(job.settings["max_samples"]))
    if total == 0:
        transitions.job_fail_queued(
            job_id=job_id, message=f"The dataset path '{job.dataset_path or '.'}' holds no samples."
        )
        return
    ranges = shard_ranges(
        total,
        shard_size=int(job.settings.get("shard_size") or 0),
        min_samples=min_shard_samples(job),
    )
    try:
        offsets = line_offsets(path, info, [start for start, _ in ranges])
    except OSError:
        offsets = None  # the shards count lines themselves, and report what is wrong
    try:
        _plan_commit(job, total=total, ranges=ranges, offsets=offsets)
    except OSError as exc:  # the results folder could not be made (disk full, permissions)
        transitions.job_fail_queued(job_id=job_id, message=os_message(exc))


def _plan_commit(
    job: Job, *, total: int, ranges: list[tuple[int, int]], offsets: list[int] | None
) -> None:
    with transaction.atomic():
        # One planner at a time per user, so two of their jobs cannot both pass the cap.
        list(Membership.objects.select_for_update().filter(user_id=job.owner_id))
        if reason := scheduler.cap_reason(job):
            scheduler.hold(job, reason)
            return
        started = timezone.now()
        predicted = first_finish(job, total, started)
        if not transitions.job_start(job_id=job.pk, total=total, at=started, predicted=predicted):
            return
        # Before any shard is queued, so a fast quit or finalize always finds the folder.
        results_dir(job).mkdir(parents=True, exist_ok=True)

        JobShard.objects.bulk_create(
            JobShard(
                job_id=job.pk,
                index=i,
                start=s,
                end=e,
                input_offset=offsets[i] if offsets else None,
            )
            for i, (s, e) in enumerate(ranges)
        )
        # None is sent here: the scheduler sends them, fairly among the jobs, as room is made.
        transaction.on_commit(scheduler.refill)
