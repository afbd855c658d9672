"""The inference engine: plan a job into shards and run one shard.

Every state change is a conditional UPDATE, so two workers (or a worker and a user who
quits) never both win. A shard's output is written under a temporary name and renamed
when complete; worker.finishing merges the parts in sample order into the results file.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from itertools import islice
from typing import Any, TextIO

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from apps.catalog.models import SourceType
from apps.catalog.settings_schema import threshold_exceeded
from apps.core.storage import storage_root
from apps.jobs.models import Job, JobShard, JobStatus, ShardStatus
from worker.finishing import (
    fail_job,
    job_maybe_finalize,
    job_stop_with_error,
    jobs_reap_stale,
    no_space_reason,
    shard_cancel,
    shard_uncount,
)
from worker.paths import (
    JobInputError,
    job_input_path,
    model_ref,
    part_paths,
    results_dir,
    runner_context,
)
from worker.readers import DatasetReadError, Sample, count_samples, iter_samples, line_offsets
from worker.runners import ModelLoadError, SampleFailure, Stopped, get_runner, runner_module

# Re-exported: tasks and services end jobs through the engine's name.
__all__ = ["BUSY", "job_maybe_finalize", "job_plan", "jobs_reap_stale", "shard_run"]

log = logging.getLogger(__name__)

# Fewer samples than this per shard costs more in task overhead than it gains in spread.
# A shard costs ~10 ms of bookkeeping (bench), so each runner module names a floor worth
# a second or more of its built-in model's work (MIN_SHARD_SAMPLES); a Hugging Face
# checkpoint is a transformer, tens of ms a sample on CPU, so its shards may be smaller:
# two workers then share a job of a few hundred documents.
TRANSFORMER_MIN_SHARD_SAMPLES = 200
STOP_CHECK_SECONDS = 0.25
HEARTBEAT_SECONDS = 2.0


def _now() -> Any:
    return timezone.now()


# --- planning ------------------------------------------------------------------------


def min_shard_samples(job: Job) -> int:
    try:
        floor = int(getattr(runner_module(job.ml_app.key), "MIN_SHARD_SAMPLES", 1))
    except ModelLoadError:  # no runner: the shards fail with that message
        floor = 1
    if job.model is not None and job.model.source_type == SourceType.HUGGINGFACE:
        return min(floor, TRANSFORMER_MIN_SHARD_SAMPLES)
    return floor


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
    try:
        path = job_input_path(job)
        info = count_samples(path)
    except (JobInputError, DatasetReadError) as exc:
        fail_job(job_id, _user_message(exc, job), from_statuses=[JobStatus.QUEUED])
        return
    except OSError as exc:
        fail_job(job_id, _os_message(exc, job), from_statuses=[JobStatus.QUEUED])
        return
    total = info.count
    if job.settings.get("max_samples"):
        total = min(total, int(job.settings["max_samples"]))
    if total == 0:
        fail_job(
            job_id,
            f"The dataset path '{job.dataset_path or '.'}' holds no samples.",
            from_statuses=[JobStatus.QUEUED],
        )
        return
    ranges = shard_ranges(
        total,
        shard_size=int(job.settings.get("shard_size") or 0),
        min_samples=min_shard_samples(job),
    )
    try:
        offsets = line_offsets(path, [start for start, _ in ranges])
    except OSError:
        offsets = None  # the shards count lines themselves, and report what is wrong
    try:
        _plan_commit(job, total=total, ranges=ranges, offsets=offsets)
    except OSError as exc:  # the results folder could not be made (disk full, permissions)
        fail_job(job_id, _os_message(exc, job), from_statuses=[JobStatus.QUEUED])


def _plan_commit(
    job: Job, *, total: int, ranges: list[tuple[int, int]], offsets: list[int] | None
) -> None:
    from worker.tasks import shard_run

    job_id = job.pk
    with transaction.atomic():
        now = _now()
        claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, total_samples=total
        )
        if not claimed:
            return
        # Before any shard is queued, so a fast quit or finalize always finds the folder.
        results_dir(job).mkdir(parents=True, exist_ok=True)

        shards = JobShard.objects.bulk_create(
            JobShard(
                job_id=job_id,
                index=i,
                start=s,
                end=e,
                input_offset=offsets[i] if offsets else None,
                task_id=str(uuid.uuid4()),
            )
            for i, (s, e) in enumerate(ranges)
        )
        for shard in shards:
            transaction.on_commit(
                partial(shard_run.apply_async, (shard.pk,), task_id=shard.task_id)
            )


def _user_message(exc: Exception, job: Job) -> str:
    text = str(exc)
    root = str(storage_root())
    # Workers see the storage root at their own mount point; users see NFS_DISPLAY_ROOT.
    return text.replace(root, str(settings.NFS_DISPLAY_ROOT))


def _os_message(exc: OSError, job: Job) -> str:
    no_space = no_space_reason(exc)
    if no_space:
        return f"Could not write the results: {no_space}. Free some space and run the job again."
    where = f" ({exc.filename})" if exc.filename else ""
    text = f"Could not read or write a file{where}: {exc.strerror or exc}."
    return text.replace(str(storage_root()), str(settings.NFS_DISPLAY_ROOT))


# --- running one shard ---------------------------------------------------------------

BUSY = "busy"


def _claim_shard(shard_id: int, task_id: str) -> JobShard | str | None:
    """PENDING (or RUNNING with a stale heartbeat) → RUNNING; returns the claimed shard.

    BUSY means "held by a live attempt, look again later"; it is only said to the shard's
    own task (a redelivery after its pool process was killed, whose heartbeat has not gone
    stale yet). Any other copy of the task (a requeue by the reaper that lost the race) is
    dropped: the holder finishes the shard, or the reaper requeues it again if it dies.
    """
    stale_before = _now() - timedelta(seconds=settings.SHARD_STALE_SECONDS)
    with transaction.atomic():
        # Lock the shard row only: other shards keep updating the job's counters meanwhile.
        shard = (
            JobShard.objects.select_for_update(of=("self",))
            .select_related("job")
            .filter(pk=shard_id)
            .first()
        )
        if shard is None:
            return None
        if shard.status == ShardStatus.RUNNING and (
            shard.heartbeat_at and shard.heartbeat_at >= stale_before
        ):
            return BUSY if shard.task_id == task_id else None
        if shard.status not in (ShardStatus.PENDING, ShardStatus.RUNNING):
            return None
        if shard.job.status != JobStatus.RUNNING:
            # Quit (or failed) while this shard waited, or while its worker was dead: the
            # shard will not run, and a dead attempt's partial counts must not stay counted.
            shard_cancel(shard)
            return None
        shard_uncount(shard)
        now = _now()
        JobShard.objects.filter(pk=shard_id).update(
            status=ShardStatus.RUNNING,
            attempts=F("attempts") + 1,
            done_samples=0,
            failed_samples=0,
            worker=f"{socket.gethostname()}:{os.getpid()}",
            task_id=task_id,
            started_at=now,
            heartbeat_at=now,
        )
        Job.objects.filter(pk=shard.job_id).update(heartbeat_at=now)
        shard.status, shard.attempts, shard.task_id = (
            ShardStatus.RUNNING,
            shard.attempts + 1,
            task_id,
        )
        shard.done_samples = shard.failed_samples = 0
        return shard


class _Progress:
    """Counts samples and writes them to the shard and job rows about once a second."""

    def __init__(self, shard: JobShard, *, error_threshold: str = "", total: int = 0) -> None:
        self.shard_id, self.job_id, self.attempt = shard.pk, shard.job_id, shard.attempts
        self.error_threshold, self.total = error_threshold, total
        self.done = self.failed = 0
        self._flushed_done = self._flushed_failed = 0
        self._last_flush = self._last_check = time.monotonic()  # just claimed: all is well
        self.stop_reason: str | None = None

    def maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= settings.PROGRESS_INTERVAL_SECONDS:
            self.flush()

    def flush(self, **shard_fields: Any) -> bool:
        delta_done = self.done - self._flushed_done
        delta_failed = self.failed - self._flushed_failed
        now = _now()
        with transaction.atomic():
            updated = JobShard.objects.filter(
                pk=self.shard_id, attempts=self.attempt, status=ShardStatus.RUNNING
            ).update(
                done_samples=F("done_samples") + delta_done,
                failed_samples=F("failed_samples") + delta_failed,
                heartbeat_at=now,
                **shard_fields,
            )
            if updated:
                Job.objects.filter(pk=self.job_id).update(
                    done_samples=F("done_samples") + delta_done,
                    failed_samples=F("failed_samples") + delta_failed,
                    heartbeat_at=now,
                )
        self._flushed_done, self._flushed_failed = self.done, self.failed
        self._last_flush = time.monotonic()
        if updated and delta_failed and self.error_threshold:
            self._stop_if_doomed()
        return bool(updated)

    def _stop_if_doomed(self) -> None:
        """Stop every shard once failures already pass the threshold: the job can only fail.

        A count is passed for good; a share is judged against the whole job, since the
        failures so far can only be joined by more.
        """
        failed = Job.objects.filter(pk=self.job_id).values_list("failed_samples", flat=True).first()
        if failed is None or not threshold_exceeded(
            self.error_threshold, failed=failed, processed=self.total
        ):
            return
        unfinished = [ShardStatus.PENDING, ShardStatus.RUNNING]
        if not JobShard.objects.filter(job_id=self.job_id, status__in=unfinished).exists():
            return  # nothing left to save: the final count decides, with exact numbers
        job_stop_with_error(
            self.job_id,
            f"{failed} of {self.total} samples had failed already, more than the error "
            f"threshold ({self.error_threshold}) allows, so the job was stopped early. "
            "See errors.jsonl.",
        )

    def should_stop(self, *, force: bool = False) -> bool:
        """True once the job is no longer RUNNING or this attempt lost its shard.

        Runners call it between the steps of a long batch: it also writes the progress
        and the heartbeat, about once a second.
        """
        if self.stop_reason:
            return True
        self.maybe_flush()
        if not force and time.monotonic() - self._last_check < STOP_CHECK_SECONDS:
            return False
        self._last_check = time.monotonic()
        # One query while all is well: the job's status, if this attempt still owns the shard.
        status = (
            JobShard.objects.filter(
                pk=self.shard_id, attempts=self.attempt, status=ShardStatus.RUNNING
            )
            .values_list("job__status", flat=True)
            .first()
        )
        if status == JobStatus.RUNNING:
            return False
        if status is None:
            gone = not Job.objects.filter(pk=self.job_id).exists()
            self.stop_reason = "job-gone" if gone else "taken-over"
        else:
            self.stop_reason = "stopping"
        return True


class _Heartbeat(threading.Thread):
    """Keeps the shard's heartbeat fresh while a model loads or one long sample is being
    predicted; started only for runners that want it (worker.runners says why)."""

    def __init__(self, shard_id: int, job_id: int, attempt: int) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{shard_id}")
        self.shard_id, self.job_id, self.attempt = shard_id, job_id, attempt
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            while not self.halt.wait(HEARTBEAT_SECONDS):
                now = _now()
                JobShard.objects.filter(
                    pk=self.shard_id, attempts=self.attempt, status=ShardStatus.RUNNING
                ).update(heartbeat_at=now)
                Job.objects.filter(pk=self.job_id).update(heartbeat_at=now)
        except Exception:  # the main thread carries on; a lost beat only risks a takeover
            log.exception("heartbeat of shard %s failed", self.shard_id)
        finally:
            connection.close()


def _batches(samples: Iterator[Sample], size: int) -> Iterator[list[Sample]]:
    while batch := list(islice(samples, size)):
        yield batch


def _predict(runner: Any, samples: list[Sample], should_stop: Any) -> list[Any]:
    """One result per sample; raises Stopped (with the results done) if the job is quit."""
    payloads = [s.payload for s in samples]
    try:
        results = runner.predict(payloads, should_stop=should_stop)
        if len(results) != len(payloads):
            raise RuntimeError(f"runner returned {len(results)} results for {len(payloads)}")
        return list(results)
    except Stopped as stopped:
        raise Stopped(stopped.done[: len(samples)]) from None
    except Exception:
        if len(samples) == 1:
            log.warning("sample %s failed", samples[0].location, exc_info=True)
            return [SampleFailure("the model could not process this sample")]
    # One bad sample should not cost its neighbours: retry them one at a time.
    results = []
    for sample in samples:
        try:
            results.append(_predict(runner, [sample], should_stop)[0])
        except Stopped as stopped:
            raise Stopped(results + stopped.done) from None
    return results


def shard_run(shard_id: int, *, task_id: str = "") -> str | None:
    claimed = _claim_shard(shard_id, task_id)
    if claimed == BUSY:
        return BUSY
    if not isinstance(claimed, JobShard):
        job_id = JobShard.objects.filter(pk=shard_id).values_list("job_id", flat=True).first()
        if job_id:
            job_maybe_finalize(job_id)
        return None
    shard = claimed
    job = Job.objects.select_related("dataset", "model", "ml_app").get(pk=shard.job_id)
    progress = _Progress(
        shard,
        error_threshold=str(job.settings.get("error_threshold") or ""),
        total=int(job.total_samples or 0),
    )
    heartbeat = _Heartbeat(shard.pk, job.pk, shard.attempts)
    if _wants_heartbeat_thread(job):
        heartbeat.start()
    try:
        status = _shard_process(job, shard, progress)
    except (JobInputError, DatasetReadError, ModelLoadError) as exc:
        _shard_fail(shard, progress, _user_message(exc, job))
        status = None
    except OSError as exc:
        if not Job.objects.filter(pk=job.pk).exists():
            return None  # deleted while running: its folder went away under the shard
        log.exception("shard %s of job %s: file error", shard.index, job.pk)
        _shard_fail(shard, progress, _os_message(exc, job))
        status = None
    except Exception as exc:
        if not Job.objects.filter(pk=job.pk).exists():
            return None  # deleted while running: nothing left to report to
        log.exception("shard %s of job %s crashed", shard.index, job.pk)
        _shard_fail(
            shard, progress, f"Internal error in the worker ({type(exc).__name__}); see its log."
        )
        status = None
    finally:
        heartbeat.halt.set()
    if status is not None:
        finished = progress.flush(status=status, finished_at=_now())
        if not finished:
            return None
    job_maybe_finalize(job.pk)
    return status


def _wants_heartbeat_thread(job: Job) -> bool:
    """Whether this job's runner needs a thread to keep the heartbeat (worker.runners)."""
    try:
        decide = getattr(runner_module(job.ml_app.key), "heartbeat_thread", None)
        return decide is None or bool(decide(model_ref(job.model, job)))
    except Exception:  # the shard fails while loading, with the message; a thread is harmless
        return True


def _shard_fail(shard: JobShard, progress: _Progress, message: str) -> None:
    progress.flush(status=ShardStatus.FAILED, error_message=message, finished_at=_now())
    # A shard that cannot run at all (model or input problem) dooms the job: stop the rest.
    job_stop_with_error(shard.job_id, message)


def _shard_process(job: Job, shard: JobShard, progress: _Progress) -> str | None:
    path = job_input_path(job)
    module = runner_module(job.ml_app.key)
    runner = get_runner(
        job.ml_app.key, model_ref(job.model, job), job.settings, **runner_context(job)
    )
    part, errors = part_paths(job, shard.index)
    part.parent.mkdir(parents=True, exist_ok=True)
    tmp_part = part.with_name(f"{part.name}.{shard.attempts}.tmp")
    tmp_errors = errors.with_name(f"{errors.name}.{shard.attempts}.tmp")
    batch_size = int(job.settings.get("batch_size") or 32)
    complete = False
    try:
        with (
            tmp_part.open("w", encoding="utf-8", buffering=1 << 20) as out,
            tmp_errors.open("w", encoding="utf-8") as err,
        ):
            samples = iter_samples(
                path,
                shard.start,
                shard.end,
                start_offset=shard.input_offset,
                input_kind=job.ml_app.input_kind,
            )
            for batch in _batches(samples, batch_size):
                if progress.should_stop():
                    break
                if not _process_batch(module, runner, batch, out, err, progress):
                    break  # quit in the middle of the batch
                progress.maybe_flush()
            else:
                complete = True
    except Exception:
        # A failed attempt leaves nothing half-written (on a full disk, it holds the space).
        tmp_part.unlink(missing_ok=True)
        tmp_errors.unlink(missing_ok=True)
        raise
    if progress.stop_reason is None:
        # Last look before publishing: a slow attempt that lost its shard to another worker
        # must not replace the part of the attempt that now owns it.
        progress.should_stop(force=True)
    if progress.stop_reason in ("job-gone", "taken-over"):
        tmp_part.unlink(missing_ok=True)
        tmp_errors.unlink(missing_ok=True)
        if progress.stop_reason == "job-gone":
            # Deleted while running: the delete removed the folder; leave nothing behind.
            shutil.rmtree(results_dir(job), ignore_errors=True)
        return None
    os.replace(tmp_part, part)
    os.replace(tmp_errors, errors)
    return ShardStatus.DONE if complete else ShardStatus.STOPPED


def _process_batch(
    module: Any, runner: Any, batch: list[Sample], out: TextIO, err: TextIO, progress: _Progress
) -> bool:
    """Write the batch's results and errors; False if the job was quit in the middle of it.

    On a quit, the samples before the first one the model did not finish are written; the
    rest are neither results nor errors, since they were never done.
    """
    good = [s for s in batch if s.error is None]
    finished = True
    try:
        predicted = _predict(runner, good, progress.should_stop) if good else []
    except Stopped as stopped:
        predicted, finished = stopped.done, False
        if len(predicted) < len(good):
            first_undone = good[len(predicted)].index
            batch = [s for s in batch if s.index < first_undone]
    results = iter(predicted)
    fmt = module.format_result
    lines: list[str] = []
    errors: list[str] = []
    for sample in batch:
        if sample.error is None:
            result = next(results)
            if not isinstance(result, SampleFailure):
                lines.append(fmt(sample, result))
                continue
            reason = result.reason
        else:
            reason = sample.error
        errors.append(
            json.dumps({"index": sample.index, "input": sample.location, "reason": reason}) + "\n"
        )
    # One write per batch: per-sample writes cost a few percent on fast models.
    out.write("".join(lines))
    progress.done += len(lines)
    if errors:
        err.write("".join(errors))
        progress.failed += len(errors)
    return finished
