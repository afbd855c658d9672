"""Running one shard: claim it, stream its samples through the runner in batches, publish
its part atomically (tmp file + rename), then let worker.finishing end the job if it was
the last one."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from itertools import islice
from typing import Any, TextIO

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.jobs import transitions
from apps.jobs.models import Job, JobShard, JobStatus, ShardStatus
from worker.finishing import job_maybe_finalize
from worker.joined import JoinedPart, joined_format
from worker.messages import os_message, user_message
from worker.paths import (
    JobInputError,
    dataset_dir,
    job_input_path,
    joined_part_path,
    model_ref,
    part_paths,
    results_dir,
    runner_context,
)
from worker.progress import Heartbeat, Progress, wants_heartbeat_thread
from worker.readers import DatasetReadError, Sample, iter_samples
from worker.runners import ModelLoadError, Runner, SampleFailure, Stopped
from worker.runners.plugin import MLAppPlugin
from worker.runners.registry import get_runner, plugin_for
from worker.tables import Columns

log = logging.getLogger(__name__)

BUSY = "busy"


def _claim_shard(shard_id: int, task_id: str) -> JobShard | str | None:
    """PENDING (or RUNNING with a stale heartbeat) → RUNNING; returns the claimed shard.

    BUSY means "held by a live attempt, look again later"; it is only said to the shard's
    own task (a redelivery after its pool process was killed, whose heartbeat has not gone
    stale yet). Any other copy of the task (a requeue by the reaper that lost the race) is
    dropped: the holder finishes the shard, or the reaper requeues it again if it dies.
    """
    stale_before = timezone.now() - timedelta(seconds=settings.SHARD_STALE_SECONDS)
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
            transitions.shard_cancel(shard)
            return None
        worker = f"{socket.gethostname()}:{os.getpid()}"
        if not transitions.shard_claim(shard, task_id=task_id, worker=worker, at=timezone.now()):
            return None
        return shard


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
    progress = Progress(
        shard,
        error_threshold=str(job.settings.get("error_threshold") or ""),
        total=int(job.total_samples or 0),
    )
    heartbeat = Heartbeat(shard.pk, job.pk, shard.attempts)
    if wants_heartbeat_thread(job):
        heartbeat.start()
    try:
        status = _shard_process(job, shard, progress)
    except (JobInputError, DatasetReadError, ModelLoadError) as exc:
        _shard_fail(shard, progress, user_message(exc))
        status = None
    except OSError as exc:
        if _cleared_if_deleted(job):
            return None  # deleted while running: its folder went away under the shard
        log.exception("shard %s of job %s: file error", shard.index, job.pk)
        _shard_fail(shard, progress, os_message(exc))
        status = None
    except Exception as exc:
        if _cleared_if_deleted(job):
            return None  # deleted while running: nothing left to report to
        log.exception("shard %s of job %s crashed", shard.index, job.pk)
        _shard_fail(
            shard, progress, f"Internal error in the worker ({type(exc).__name__}); see its log."
        )
        status = None
    finally:
        heartbeat.halt.set()
    if status is not None:
        finished = progress.flush(end=status)
        if not finished:
            return None
    job_maybe_finalize(job.pk)
    return status


def _cleared_if_deleted(job: Job) -> bool:
    """Whether the job was deleted; if so, remove whatever this shard wrote of its folder.

    Delete quits the job, removes its row, then its folder; a shard still writing can land
    a file after that removal (or make it fail, as rmtree cannot remove a folder that gains
    a file meanwhile), so the shard, as the last writer, looks again and clears up.
    """
    if Job.objects.filter(pk=job.pk).exists():
        return False
    shutil.rmtree(results_dir(job), ignore_errors=True)
    return True


def _shard_fail(shard: JobShard, progress: Progress, message: str) -> None:
    progress.flush(end=ShardStatus.FAILED, message=message)
    # A shard that cannot run at all (model or input problem) dooms the job: stop the rest.
    transitions.job_stop(job_id=shard.job_id, message=message)


def _shard_process(job: Job, shard: JobShard, progress: Progress) -> str | None:
    path = job_input_path(job)
    plugin = plugin_for(job.ml_app.key)
    runner = get_runner(
        job.ml_app.key, model_ref(job.model, job), job.settings, **runner_context(job)
    )
    part, errors = part_paths(job, shard.index)
    part.parent.mkdir(parents=True, exist_ok=True)
    joined = joined_part_path(job, shard.index) if joined_format(job.settings) else None
    published = [p for p in (part, errors, joined) if p is not None]
    tmps = [p.with_name(f"{p.name}.{shard.attempts}.tmp") for p in published]
    batch_size = int(job.settings.get("batch_size") or 32)
    columns = Columns.from_settings(job.settings, plugin.row_settings)
    complete = False
    try:
        with ExitStack() as stack:
            out, err, *rest = (
                stack.enter_context(t.open("w", encoding="utf-8", buffering=1 << 20)) for t in tmps
            )
            joined_rows = (
                JoinedPart(rest[0], columns.record_names(), plugin.joined_columns) if rest else None
            )
            samples = iter_samples(
                path,
                shard.start,
                shard.end,
                start_offset=shard.input_offset,
                input_kind=plugin.input_kind,
                columns=columns,
                root=dataset_dir(job),
            )
            for batch in _batches(samples, batch_size):
                if progress.should_stop():
                    break
                if not _process_batch(plugin, runner, batch, out, err, progress, joined_rows):
                    break  # quit in the middle of the batch
                progress.maybe_flush()
            else:
                complete = True
    except Exception:
        # A failed attempt leaves nothing half-written (on a full disk, it holds the space).
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        raise
    if progress.stop_reason is None:
        # Last look before publishing: a slow attempt that lost its shard to another worker
        # must not replace the part of the attempt that now owns it.
        progress.should_stop(force=True)
    if progress.stop_reason in ("job-gone", "taken-over"):
        for tmp in tmps:
            tmp.unlink(missing_ok=True)
        if progress.stop_reason == "job-gone":
            # Deleted while running: the delete removed the folder; leave nothing behind.
            shutil.rmtree(results_dir(job), ignore_errors=True)
        return None
    for tmp, target in zip(tmps, published, strict=True):
        os.replace(tmp, target)
    if _cleared_if_deleted(job):
        return None  # deleted while we published: its removal of the folder may have come first
    return ShardStatus.DONE if complete else ShardStatus.STOPPED


def _batches(samples: Iterator[Sample], size: int) -> Iterator[list[Sample]]:
    while batch := list(islice(samples, size)):
        yield batch


def _predict(runner: Any, samples: list[Sample], should_stop: Any) -> list[Any]:
    """One result per sample; raises Stopped (with the results done) if the job is quit."""
    payloads = [s.payload for s in samples]
    rows = [s.settings for s in samples]
    # Only a runner whose ML App has per-row settings is ever given them (row_settings).
    own = {"row_settings": rows} if any(rows) else {}
    try:
        results = runner.predict(payloads, should_stop=should_stop, **own)
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


def _process_batch(
    plugin: MLAppPlugin,
    runner: Runner,
    batch: list[Sample],
    out: TextIO,
    err: TextIO,
    progress: Progress,
    joined: JoinedPart | None = None,
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
    fmt = plugin.format_result
    lines: list[str] = []
    errors: list[str] = []
    for sample in batch:
        if sample.error is None:
            result = next(results)
            if not isinstance(result, SampleFailure):
                lines.append(fmt(sample, result))
                if plugin.counts_tokens:
                    progress.tokens += plugin.tokens_of(result)
                if joined is not None:
                    joined.done(sample, plugin.joined_fields(sample, result))
                continue
            reason = result.reason
        else:
            reason = sample.error
        errors.append(
            json.dumps({"index": sample.index, "input": sample.location, "reason": reason}) + "\n"
        )
        if joined is not None:
            joined.failed(sample, reason)
    # One write per batch: per-sample writes cost a few percent on fast models.
    out.write("".join(lines))
    if joined is not None:
        joined.flush()
    progress.done += len(lines)
    if errors:
        err.write("".join(errors))
        progress.failed += len(errors)
    return finished
