"""The inference engine: plan a job into shards, run a shard, merge the shards.

Every state change is a conditional UPDATE, so two workers (or a worker and a user who
quits) never both win. Shard outputs are written to a temporary name and renamed when
complete; the merge streams them in sample order into the single results file.
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
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

from apps.catalog.models import MLModel, SourceType
from apps.catalog.settings_schema import threshold_exceeded
from apps.core.storage import UnsafePathError, display_path, safe_join, storage_root
from apps.jobs.models import SHARD_FINISHED, Job, JobShard, JobStatus, ShardStatus
from worker.readers import DatasetReadError, Sample, count_samples, iter_samples
from worker.runners import ModelLoadError, ModelRef, SampleFailure, get_runner, runner_module

log = logging.getLogger(__name__)

# Fewer samples than this per shard costs more in task overhead than it gains in spread.
MIN_SHARD_SAMPLES = {"text": 2000, "audio": 1}
STOP_CHECK_SECONDS = 0.25
HEARTBEAT_SECONDS = 2.0


class JobInputError(Exception):
    """A problem with the job's input that the user must fix; the message says how."""


def _now() -> Any:
    return timezone.now()


# --- helpers shared by the steps ------------------------------------------------------


def results_dir(job: Job) -> Path:
    return storage_root() / job.results_dir


def job_input_path(job: Job) -> Path:
    if job.dataset is None:
        raise JobInputError(f"The dataset '{job.dataset_name}' has been deleted.")
    dataset_root = storage_root() / job.dataset.folder
    try:
        path = safe_join(dataset_root, job.dataset_path)
    except UnsafePathError as exc:
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


def _fail_job(job_id: int, message: str, *, from_statuses: Iterable[str]) -> bool:
    return bool(
        Job.objects.filter(pk=job_id, status__in=list(from_statuses)).update(
            status=JobStatus.FAILED, error_message=message, finished_at=_now()
        )
    )


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --- planning ------------------------------------------------------------------------


def shard_ranges(total: int, *, shard_size: int, input_kind: str) -> list[tuple[int, int]]:
    if total <= 0:
        return []
    if shard_size <= 0:
        count = min(settings.MAX_SHARDS, math.ceil(total / MIN_SHARD_SAMPLES.get(input_kind, 1)))
        shard_size = math.ceil(total / max(count, 1))
    return [(start, min(start + shard_size, total)) for start in range(0, total, shard_size)]


def job_plan(job_id: int) -> None:
    """QUEUED → RUNNING: count the samples, record the shards and queue one task each."""
    from worker.tasks import shard_run

    job = Job.objects.select_related("dataset", "ml_app").filter(pk=job_id).first()
    if job is None or job.status != JobStatus.QUEUED:
        return
    try:
        path = job_input_path(job)
        info = count_samples(path)
    except (JobInputError, DatasetReadError) as exc:
        _fail_job(job_id, _user_message(exc, job), from_statuses=[JobStatus.QUEUED])
        return
    total = info.count
    if job.settings.get("max_samples"):
        total = min(total, int(job.settings["max_samples"]))
    if total == 0:
        _fail_job(
            job_id,
            f"The dataset path '{job.dataset_path or '.'}' holds no samples.",
            from_statuses=[JobStatus.QUEUED],
        )
        return
    ranges = shard_ranges(
        total,
        shard_size=int(job.settings.get("shard_size") or 0),
        input_kind=job.ml_app.input_kind,
    )
    with transaction.atomic():
        now = _now()
        claimed = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING, started_at=now, heartbeat_at=now, total_samples=total
        )
        if not claimed:
            return
        from uuid import uuid4

        shards = JobShard.objects.bulk_create(
            JobShard(job_id=job_id, index=i, start=s, end=e, task_id=str(uuid4()))
            for i, (s, e) in enumerate(ranges)
        )
        for shard in shards:
            transaction.on_commit(
                lambda s=shard: shard_run.apply_async((s.pk,), task_id=s.task_id)
            )
    results_dir(job).mkdir(parents=True, exist_ok=True)


def _user_message(exc: Exception, job: Job) -> str:
    text = str(exc)
    root = str(storage_root())
    # Workers see the storage root at their own mount point; users see NFS_DISPLAY_ROOT.
    return text.replace(root, str(settings.NFS_DISPLAY_ROOT))


# --- running one shard ---------------------------------------------------------------

BUSY = "busy"


def _claim_shard(shard_id: int, task_id: str) -> JobShard | str | None:
    """PENDING (or RUNNING with a stale heartbeat) → RUNNING; returns the claimed shard."""
    stale_before = _now() - timedelta(seconds=settings.SHARD_STALE_SECONDS)
    with transaction.atomic():
        shard = (
            JobShard.objects.select_for_update().select_related("job").filter(pk=shard_id).first()
        )
        if shard is None:
            return None
        if shard.status == ShardStatus.RUNNING and (
            shard.heartbeat_at and shard.heartbeat_at >= stale_before
        ):
            return BUSY
        if shard.status not in (ShardStatus.PENDING, ShardStatus.RUNNING):
            return None
        if shard.job.status != JobStatus.RUNNING:
            JobShard.objects.filter(pk=shard_id, status=ShardStatus.PENDING).update(
                status=ShardStatus.CANCELLED, finished_at=_now()
            )
            return None
        if shard.done_samples or shard.failed_samples:
            # A retry after a lost worker: its earlier progress is recomputed from scratch.
            Job.objects.filter(pk=shard.job_id).update(
                done_samples=F("done_samples") - shard.done_samples,
                failed_samples=F("failed_samples") - shard.failed_samples,
            )
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
        shard.refresh_from_db()
        return shard


class _Progress:
    """Counts samples and writes them to the shard and job rows about once a second."""

    def __init__(self, shard: JobShard) -> None:
        self.shard_id, self.job_id, self.attempt = shard.pk, shard.job_id, shard.attempts
        self.done = self.failed = 0
        self._flushed_done = self._flushed_failed = 0
        self._last_flush = time.monotonic()
        self._last_check = 0.0
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
        return bool(updated)

    def should_stop(self) -> bool:
        """True once the job is no longer RUNNING or this attempt lost its shard."""
        if self.stop_reason:
            return True
        if time.monotonic() - self._last_check < STOP_CHECK_SECONDS:
            return False
        self._last_check = time.monotonic()
        status = Job.objects.filter(pk=self.job_id).values_list("status", flat=True).first()
        if status != JobStatus.RUNNING:
            self.stop_reason = "job-gone" if status is None else "stopping"
            return True
        owned = JobShard.objects.filter(
            pk=self.shard_id, attempts=self.attempt, status=ShardStatus.RUNNING
        ).exists()
        if not owned:
            self.stop_reason = "taken-over"
        return not owned


class _Heartbeat(threading.Thread):
    """Keeps the shard's heartbeat fresh while one long sample is being predicted."""

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
    payloads = [s.payload for s in samples]
    try:
        results = runner.predict(payloads, should_stop=should_stop)
        if len(results) != len(payloads):
            raise RuntimeError(f"runner returned {len(results)} results for {len(payloads)}")
        return list(results)
    except Exception:
        if len(samples) == 1:
            log.warning("sample %s failed", samples[0].location, exc_info=True)
            return [SampleFailure("the model could not process this sample")]
    # One bad sample should not cost its neighbours: retry them one at a time.
    return [_predict(runner, [sample], should_stop)[0] for sample in samples]


def _part_paths(job: Job, index: int) -> tuple[Path, Path]:
    parts = results_dir(job) / "parts"
    return parts / f"{index:06d}.part", parts / f"{index:06d}.errors.jsonl"


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
    progress = _Progress(shard)
    heartbeat = _Heartbeat(shard.pk, job.pk, shard.attempts)
    heartbeat.start()
    try:
        status = _shard_process(job, shard, progress)
    except (JobInputError, DatasetReadError, ModelLoadError) as exc:
        _shard_fail(shard, progress, _user_message(exc, job))
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


def _shard_fail(shard: JobShard, progress: _Progress, message: str) -> None:
    progress.flush(status=ShardStatus.FAILED, error_message=message, finished_at=_now())
    # A shard that cannot run at all (model or input problem) dooms the job: stop the rest.
    with transaction.atomic():
        Job.objects.filter(pk=shard.job_id, status=JobStatus.RUNNING).update(
            status=JobStatus.STOPPING, error_message=message
        )
        JobShard.objects.filter(job_id=shard.job_id, status=ShardStatus.PENDING).update(
            status=ShardStatus.CANCELLED, finished_at=_now()
        )


def _shard_process(job: Job, shard: JobShard, progress: _Progress) -> str | None:
    path = job_input_path(job)
    module = runner_module(job.ml_app.key)
    runner = get_runner(job.ml_app.key, model_ref(job.model, job), job.settings)
    part, errors = _part_paths(job, shard.index)
    part.parent.mkdir(parents=True, exist_ok=True)
    tmp_part = part.with_name(f"{part.name}.{shard.attempts}.tmp")
    tmp_errors = errors.with_name(f"{errors.name}.{shard.attempts}.tmp")
    batch_size = int(job.settings.get("batch_size") or 32)
    with tmp_part.open("w", encoding="utf-8") as out, tmp_errors.open("w", encoding="utf-8") as err:
        for batch in _batches(iter_samples(path, shard.start, shard.end), batch_size):
            if progress.should_stop():
                break
            _process_batch(module, runner, batch, out, err, progress)
            progress.maybe_flush()
    if progress.stop_reason in ("job-gone", "taken-over"):
        tmp_part.unlink(missing_ok=True)
        tmp_errors.unlink(missing_ok=True)
        return None
    os.replace(tmp_part, part)
    os.replace(tmp_errors, errors)
    return ShardStatus.STOPPED if progress.stop_reason else ShardStatus.DONE


def _process_batch(
    module: Any, runner: Any, batch: list[Sample], out: TextIO, err: TextIO, progress: _Progress
) -> None:
    good = [s for s in batch if s.error is None]
    results = _predict(runner, good, progress.should_stop) if good else []
    by_index = {s.index: r for s, r in zip(good, results, strict=True)}
    for sample in batch:
        result = by_index.get(sample.index)
        reason = sample.error or (result.reason if isinstance(result, SampleFailure) else None)
        if reason:
            err.write(
                json.dumps({"index": sample.index, "input": sample.location, "reason": reason})
                + "\n"
            )
            progress.failed += 1
        else:
            out.write(module.format_result(sample, result))
            progress.done += 1


# --- finishing -----------------------------------------------------------------------


def job_maybe_finalize(job_id: int) -> str | None:
    """Once every shard has finished: merge, write the summary, set the final status."""
    if JobShard.objects.filter(job_id=job_id).exclude(status__in=SHARD_FINISHED).exists():
        return None
    claimed = Job.objects.filter(
        pk=job_id, finalizing=False, status__in=[JobStatus.RUNNING, JobStatus.STOPPING]
    ).update(finalizing=True)
    if not claimed:
        return None
    job = Job.objects.select_related("ml_app", "model", "dataset").get(pk=job_id)
    try:
        return _finalize(job)
    except OSError as exc:
        log.exception("finalizing job %s failed", job_id)
        reason = "no space left on the results disk" if exc.errno == 28 else str(exc)
        _fail_job(
            job_id,
            f"Could not write the results file: {reason}.",
            from_statuses=[JobStatus.RUNNING, JobStatus.STOPPING],
        )
        return JobStatus.FAILED


def _merge(sources: list[Path], target: Path, header: str = "") -> int:
    """Concatenate `sources` into `target` atomically with constant memory."""
    tmp = target.with_name(f".{target.name}.tmp")
    with tmp.open("wb") as out:
        if header:
            out.write(header.encode("utf-8"))
        for source in sources:
            with source.open("rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)
    os.replace(tmp, target)
    return target.stat().st_size


def _error_histogram(errors_file: Path) -> Counter[str]:
    reasons: Counter[str] = Counter()
    with errors_file.open(encoding="utf-8") as fh:
        for line in fh:
            reasons[json.loads(line)["reason"]] += 1
    return reasons


def _finalize(job: Job) -> str:
    shards = list(JobShard.objects.filter(job=job).order_by("index"))
    folder = results_dir(job)
    folder.mkdir(parents=True, exist_ok=True)
    kept = [s for s in shards if s.status in (ShardStatus.DONE, ShardStatus.STOPPED)]
    parts = [_part_paths(job, s.index) for s in kept]
    header = getattr(runner_module(job.ml_app.key), "HEADER", "")
    size = _merge([p for p, _ in parts if p.exists()], folder / job.results_filename, header)
    _merge([e for _, e in parts if e.exists()], folder / "errors.jsonl")
    shutil.rmtree(folder / "parts", ignore_errors=True)

    totals = JobShard.objects.filter(job=job).aggregate(d=Sum("done_samples"), f=Sum("failed_samples"))
    done, failed = int(totals["d"] or 0), int(totals["f"] or 0)
    reasons = _error_histogram(folder / "errors.jsonl")
    current = Job.objects.values_list("status", "error_message").get(pk=job.pk)
    failed_shard = next((s for s in shards if s.status == ShardStatus.FAILED), None)
    message = ""
    if failed_shard is not None:
        status, message = JobStatus.FAILED, current[1] or failed_shard.error_message
    elif current[0] == JobStatus.STOPPING:
        status = JobStatus.STOPPED
    elif done == 0 and failed > 0:
        top = reasons.most_common(1)[0][0] if reasons else "unknown"
        status = JobStatus.FAILED
        message = f"All {failed} samples failed (most common reason: {top}). See errors.jsonl."
    elif threshold_exceeded(
        str(job.settings.get("error_threshold") or ""), failed=failed, processed=done + failed
    ):
        status = JobStatus.FAILED
        message = (
            f"{failed} of {done + failed} samples failed, more than the error threshold "
            f"({job.settings.get('error_threshold')}). See errors.jsonl."
        )
    else:
        status = JobStatus.COMPLETED
    finished = _now()
    summary = {
        "job": {"id": job.pk, "name": job.name, "project": job.project_id},
        "status": status,
        "message": message,
        "ml_app": job.ml_app.key,
        "model": job.model_name,
        "dataset": {"name": job.dataset_name, "path": job.dataset_path},
        "settings": job.settings,
        "results_file": job.results_filename,
        "results_bytes": size,
        "counts": {"total": job.total_samples, "done": done, "failed": failed},
        "timings": {
            "created": job.created_at.isoformat(),
            "started": job.started_at.isoformat() if job.started_at else None,
            "finished": finished.isoformat(),
            "seconds": (finished - job.started_at).total_seconds() if job.started_at else None,
        },
        "shards": len(shards),
        "error_reasons": dict(reasons.most_common()),
    }
    summary.update(getattr(runner_module(job.ml_app.key), "summary_extra", lambda _s: {})(job.settings))
    _atomic_write_text(folder / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    Job.objects.filter(pk=job.pk, status__in=[JobStatus.RUNNING, JobStatus.STOPPING]).update(
        status=status,
        error_message=message,
        finished_at=finished,
        done_samples=done,
        failed_samples=failed,
    )
    return status


# --- stale jobs ----------------------------------------------------------------------


def jobs_reap_stale() -> int:
    """Mark FAILED the active jobs whose workers stopped reporting and nobody took over."""
    cutoff = _now() - timedelta(seconds=settings.JOB_STALE_SECONDS)
    stale = Job.objects.filter(
        status__in=[JobStatus.RUNNING, JobStatus.STOPPING], heartbeat_at__lt=cutoff
    ).values_list("pk", flat=True)
    reaped = 0
    minutes = max(1, round(settings.JOB_STALE_SECONDS / 60))
    for job_id in list(stale):
        reaped += _fail_job(
            job_id,
            f"No worker has reported progress for {minutes} minute(s): the workers may "
            "have stopped or lost the database. Start a worker and run the job again.",
            from_statuses=[JobStatus.RUNNING, JobStatus.STOPPING],
        )
        JobShard.objects.filter(job_id=job_id).exclude(status__in=SHARD_FINISHED).update(
            status=ShardStatus.CANCELLED, finished_at=_now()
        )
    close_old_connections()
    return reaped



