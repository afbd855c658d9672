"""Ending jobs: merge the shard parts, write summary.json, set the final status, and find
jobs whose workers went away.

Every transition is a conditional UPDATE, like in worker.engine. All files are written
before the final status is set, so nothing appears in a results folder after the job is
terminal.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.catalog.settings_schema import threshold_exceeded
from apps.jobs.models import SHARD_FINISHED, Job, JobShard, JobStatus, ShardStatus
from worker.paths import JobInputError, model_ref, part_paths, results_dir, runner_context
from worker.runners import runner_module, runner_summary

log = logging.getLogger(__name__)

# The summary keeps the most common reasons; a runner that puts sample text in its
# reasons must not grow the file without bound.
SUMMARY_REASONS = 50
_ACTIVE = (JobStatus.RUNNING, JobStatus.STOPPING)


def now() -> datetime:
    return timezone.now()


def fail_job(job_id: int, message: str, *, from_statuses: Iterable[str]) -> bool:
    return bool(
        Job.objects.filter(pk=job_id, status__in=list(from_statuses)).update(
            status=JobStatus.FAILED, error_message=message, finished_at=now()
        )
    )


def job_stop_with_error(job_id: int, message: str) -> bool:
    """RUNNING → STOPPING with a message: the shards stop and the job ends FAILED.

    Lock order: shard rows before the job row, as the workers take them (claim, progress).
    The two statements commit one by one, so this never holds the job row while it waits
    for a shard row; it must not be called inside a transaction for the same reason.
    """
    stopped = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        status=JobStatus.STOPPING, error_message=message
    )
    JobShard.objects.filter(job_id=job_id, status=ShardStatus.PENDING).update(
        status=ShardStatus.CANCELLED, finished_at=now()
    )
    return bool(stopped)


def shard_uncount(shard: JobShard) -> None:
    """Take a lost attempt's samples off the job's counters (they are redone or dropped)."""
    if shard.done_samples or shard.failed_samples:
        Job.objects.filter(pk=shard.job_id).update(
            done_samples=F("done_samples") - shard.done_samples,
            failed_samples=F("failed_samples") - shard.failed_samples,
        )


def shard_cancel(shard: JobShard) -> None:
    """PENDING, or RUNNING on a worker that died → CANCELLED, its partial counts undone.

    The conditions (same status, same attempt) make it a no-op if the shard moved on.
    """
    if shard.status not in (ShardStatus.PENDING, ShardStatus.RUNNING):
        return
    if JobShard.objects.filter(pk=shard.pk, status=shard.status, attempts=shard.attempts).update(
        status=ShardStatus.CANCELLED, finished_at=now(), done_samples=0, failed_samples=0
    ):
        shard_uncount(shard)


# --- finalize ------------------------------------------------------------------------


def job_maybe_finalize(job_id: int) -> str | None:
    """Once every shard has finished: merge, write the summary, set the final status."""
    if JobShard.objects.filter(job_id=job_id).exclude(status__in=SHARD_FINISHED).exists():
        return None
    claimed = Job.objects.filter(pk=job_id, finalizing=False, status__in=_ACTIVE).update(
        finalizing=True
    )
    if not claimed:
        return None
    job = Job.objects.select_related("ml_app", "model", "dataset").filter(pk=job_id).first()
    if job is None:
        return None
    try:
        return _finalize(job)
    except OSError as exc:
        log.exception("finalizing job %s failed", job_id)
        # The parts are of no use to a failed job; on a full disk they hold the space a
        # new run needs.
        shutil.rmtree(results_dir(job) / "parts", ignore_errors=True)
        reason = no_space_reason(exc) or str(exc)
        fail_job(job_id, f"Could not write the results file: {reason}.", from_statuses=_ACTIVE)
        return JobStatus.FAILED


def no_space_reason(exc: OSError) -> str | None:
    """What to tell the user when a write failed for want of space, or None."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the results disk (or its quota is used up)"
    if exc.errno == errno.EFBIG:
        return (
            "no space left for the file: it reached the worker's file size limit "
            "(ulimit -f / RLIMIT_FSIZE)"
        )
    return None


def _merge(sources: list[Path], target: Path, header: str = "") -> int:
    """Concatenate `sources` into `target` atomically with constant memory."""
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        with tmp.open("wb") as out:
            if header:
                out.write(header.encode("utf-8"))
            for source in sources:
                with source.open("rb") as fh:
                    shutil.copyfileobj(fh, out, 1 << 20)
    except BaseException:
        tmp.unlink(missing_ok=True)  # half-written: never left where it takes space
        raise
    os.replace(tmp, target)
    return target.stat().st_size


def _error_histogram(errors_file: Path) -> Counter[str]:
    reasons: Counter[str] = Counter()
    with errors_file.open(encoding="utf-8") as fh:
        for line in fh:
            reasons[json.loads(line)["reason"]] += 1
    return reasons


def _final_status(
    job: Job, shards: list[JobShard], *, done: int, failed: int, reasons: Counter[str]
) -> tuple[str, str]:
    """(status, message) from the shards, the counts and how the job was stopped."""
    status, message = Job.objects.values_list("status", "error_message").get(pk=job.pk)
    failed_shard = next((s for s in shards if s.status == ShardStatus.FAILED), None)
    if status == JobStatus.STOPPING and message:
        # Stopped by the engine, not by a user: a shard could not run, the error threshold
        # was passed early, or the workers went away.
        return JobStatus.FAILED, message
    if failed_shard is not None:
        return JobStatus.FAILED, failed_shard.error_message
    if status == JobStatus.STOPPING:
        return JobStatus.STOPPED, ""
    if done == 0 and failed > 0:
        top = reasons.most_common(1)[0][0] if reasons else "unknown"
        return (
            JobStatus.FAILED,
            f"All {failed} samples failed (most common reason: {top}). See errors.jsonl.",
        )
    threshold = str(job.settings.get("error_threshold") or "")
    if threshold_exceeded(threshold, failed=failed, processed=done + failed):
        return (
            JobStatus.FAILED,
            f"{failed} of {done + failed} samples failed, more than the error threshold "
            f"({threshold}). See errors.jsonl.",
        )
    return JobStatus.COMPLETED, ""


def _runner_summary(job: Job) -> dict[str, Any]:
    context = runner_context(job)
    try:
        context["model"] = model_ref(job.model, job)
    except JobInputError:  # the model was deleted since; the summary still gets written
        context["model"] = None
    return runner_summary(job.ml_app.key, job.settings, **context)


def _finalize(job: Job) -> str:
    shards = list(JobShard.objects.filter(job=job).order_by("index"))
    folder = results_dir(job)
    folder.mkdir(parents=True, exist_ok=True)
    kept = [s for s in shards if s.status in (ShardStatus.DONE, ShardStatus.STOPPED)]
    parts = [part_paths(job, s.index) for s in kept]
    module = runner_module(job.ml_app.key)
    size = _merge(
        [p for p, _ in parts if p.exists()],
        folder / job.results_filename,
        getattr(module, "HEADER", ""),
    )
    _merge([e for _, e in parts if e.exists()], folder / "errors.jsonl")
    shutil.rmtree(folder / "parts", ignore_errors=True)

    totals = JobShard.objects.filter(job=job).aggregate(
        d=Sum("done_samples"), f=Sum("failed_samples")
    )
    done, failed = int(totals["d"] or 0), int(totals["f"] or 0)
    reasons = _error_histogram(folder / "errors.jsonl")
    status, message = _final_status(job, shards, done=done, failed=failed, reasons=reasons)
    finished = now()
    seconds = (finished - job.started_at).total_seconds() if job.started_at else None
    summary: dict[str, Any] = {
        "job": {"id": job.pk, "name": job.name, "project": job.project_id},
        "status": status,
        "message": message,
        "ml_app": job.ml_app.key,
        "model": job.model_name,
        "model_source": job.model.source if job.model else None,
        "dataset": {
            "name": job.dataset_name,
            "path": job.dataset_path,
            "folder": job.dataset.folder if job.dataset else None,
        },
        "settings": job.settings,
        "results_file": job.results_filename,
        "results_bytes": size,
        "counts": {"total": job.total_samples, "done": done, "failed": failed},
        "timings": {
            "created": job.created_at.isoformat(),
            "started": job.started_at.isoformat() if job.started_at else None,
            "finished": finished.isoformat(),
            "seconds": seconds,
            "samples_per_second": round((done + failed) / seconds, 2) if seconds else None,
        },
        "shards": {
            "count": len(shards),
            "by_status": dict(Counter(str(s.status) for s in shards)),
            "retried": sum(1 for s in shards if s.attempts > 1),
        },
        "error_reasons": dict(reasons.most_common(SUMMARY_REASONS)),
    }
    summary.update(_runner_summary(job))
    tmp = folder / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, folder / "summary.json")
    ended = Job.objects.filter(pk=job.pk, status__in=_ACTIVE).update(
        status=status,
        error_message=message,
        finished_at=finished,
        done_samples=done,
        failed_samples=failed,
    )
    if not ended and not Job.objects.filter(pk=job.pk).exists():
        # Deleted while we merged (Delete quits, then removes the folder at once): what we
        # wrote after its removal would be left behind with no job to show it.
        shutil.rmtree(folder, ignore_errors=True)
    return status


# --- jobs whose workers went away ----------------------------------------------------


def shard_requeue(shard: JobShard) -> None:
    """Queue a lost shard again under a new task id; the first worker to get it takes over.

    Celery redelivers the task of a killed pool process itself, but the task of a worker
    whose whole machine died waits in Redis until the visibility timeout (hours).
    """
    from worker.tasks import shard_run

    task_id = str(uuid.uuid4())
    if JobShard.objects.filter(
        pk=shard.pk, status=ShardStatus.RUNNING, attempts=shard.attempts
    ).update(task_id=task_id):
        # Handing the shard on counts as a sign of life: the job is judged abandoned only
        # if the requeued shard, too, finds no worker for JOB_STALE_SECONDS.
        Job.objects.filter(pk=shard.job_id).update(heartbeat_at=now())
        transaction.on_commit(lambda: shard_run.apply_async((shard.pk,), task_id=task_id))


def _inference_queue_length() -> int:
    from kombu.exceptions import ChannelError

    from worker.celery import app

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    with app.connection_for_read() as conn:
        try:
            declared = conn.default_channel.queue_declare(queue=queue, passive=True)
        except ChannelError:  # never declared: nothing was ever queued
            return 0
        return int(declared.message_count)


def _requeue_lost_messages(*, settled: datetime, alive_since: datetime) -> int:
    """Queue again the PENDING shards and QUEUED jobs whose task message is gone.

    Called only while the inference queue is empty: such a shard or job then has no message
    waiting, so Redis lost it (a restart without persistence keeps nothing) or a worker
    that died as a whole had reserved it (Redis hands it out again only after the
    visibility timeout, hours later). A copy of a message that was only in flight does no
    harm: the conditional claim lets one copy run and drops the other. Only jobs seen alive
    since `alive_since` get new messages; older ones are left to the abandoned-job check.
    Returns how many messages were sent again.
    """
    from worker.tasks import job_plan, shard_run

    lost_shards = JobShard.objects.filter(
        status=ShardStatus.PENDING,
        job__status=JobStatus.RUNNING,
        job__started_at__lt=settled,
        job__heartbeat_at__gte=alive_since,
    )
    sent = 0
    for shard_id, job_id in lost_shards.values_list("pk", "job_id"):
        task_id = str(uuid.uuid4())
        with transaction.atomic():
            if JobShard.objects.filter(pk=shard_id, status=ShardStatus.PENDING).update(
                task_id=task_id
            ):
                log.warning("requeueing shard %s of job %s: its message was lost", shard_id, job_id)
                transaction.on_commit(partial(shard_run.apply_async, (shard_id,), task_id=task_id))
                sent += 1
    lost_jobs = Job.objects.filter(
        status=JobStatus.QUEUED, created_at__lt=settled, created_at__gte=alive_since
    )
    for job_id in lost_jobs.values_list("pk", flat=True):
        log.warning("queueing job %s again: its message was lost", job_id)
        job_plan.apply_async((job_id,))
        sent += 1
    return sent


def jobs_reap_stale() -> int:
    """Requeue shards whose worker died and messages Redis lost; end the jobs that nobody
    works on any more.

    A job counts as abandoned only when its heartbeat is older than JOB_STALE_SECONDS and
    the workers are idle (no job reported anything in that time and nothing waits in the
    queue): a job whose shards wait behind other jobs' work is not dead. An abandoned job
    keeps its finished shards and ends FAILED with a message (STOPPED if it was quitting);
    a job that never left QUEUED in that time ends FAILED with a message too.
    """
    current = now()
    lost_before = current - timedelta(seconds=3 * settings.SHARD_STALE_SECONDS)
    lost = JobShard.objects.filter(status=ShardStatus.RUNNING, heartbeat_at__lt=lost_before)
    for shard in lost.select_related("job"):
        if shard.job.status == JobStatus.RUNNING:
            log.warning("requeueing %s: its worker stopped reporting", shard)
            with transaction.atomic():
                shard_requeue(shard)
        else:
            # Quitting or failing already: nothing to take over, just close the shard.
            with transaction.atomic():
                shard_cancel(shard)
            job_maybe_finalize(shard.job_id)
    # A worker that died between its shard's last write and the merge leaves a job whose
    # shards have all finished and that nobody merges.
    unmerged = (
        Job.objects.filter(status__in=_ACTIVE, finalizing=False, heartbeat_at__lt=lost_before)
        .filter(shards__isnull=False)
        .exclude(shards__status__in=[ShardStatus.PENDING, ShardStatus.RUNNING])
        .values_list("pk", flat=True)
        .distinct()
    )
    for job_id in unmerged:
        log.warning("merging job %s: its last worker died before it did", job_id)
        job_maybe_finalize(job_id)

    cutoff = current - timedelta(seconds=settings.JOB_STALE_SECONDS)
    # Messages lost with Redis are sent again first (nothing is judged abandoned in a run
    # that did so): the workers get their chance.
    settled = current - timedelta(seconds=settings.SHARD_STALE_SECONDS)
    queued = _inference_queue_length() or _requeue_lost_messages(
        settled=settled, alive_since=cutoff
    )
    if queued or Job.objects.filter(heartbeat_at__gte=cutoff).exists():
        close_old_connections()
        return 0
    stale = (
        Job.objects.filter(status__in=_ACTIVE)
        .annotate(last_seen=Coalesce("heartbeat_at", "created_at"))
        .filter(last_seen__lt=cutoff)
    )
    minutes = max(1, round(settings.JOB_STALE_SECONDS / 60))
    message = (
        f"No worker has reported progress for {minutes} minute(s): the workers may have "
        "stopped or lost the database or the job queue (Redis). Start a worker and run the "
        "job again."
    )
    reaped = 0
    never_planned = Job.objects.filter(status=JobStatus.QUEUED, created_at__lt=cutoff)
    for job_id in never_planned.values_list("pk", flat=True):
        log.warning("job %s never reached a worker", job_id)
        reaped += fail_job(
            job_id,
            f"No worker picked this job up for {minutes} minute(s): the workers may have "
            "stopped or lost the job queue (Redis). Start a worker and run the job again.",
            from_statuses=[JobStatus.QUEUED],
        )
    for job_id, finalizing in stale.values_list("pk", "finalizing"):
        log.warning("job %s abandoned by its workers", job_id)
        if finalizing:  # the merge itself died half-way
            reaped += fail_job(job_id, message, from_statuses=_ACTIVE)
            continue
        job_stop_with_error(job_id, message)
        with transaction.atomic():
            for shard in JobShard.objects.select_for_update().filter(
                job_id=job_id, status__in=[ShardStatus.PENDING, ShardStatus.RUNNING]
            ):
                shard_cancel(shard)
        reaped += job_maybe_finalize(job_id) is not None
    close_old_connections()
    return reaped
