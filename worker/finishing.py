"""Ending a job: once every shard has finished, merge the shard parts in sample order into
the results file, write summary.json, and set the final status.

All files are written before the final status is set, so nothing appears in a results
folder after the job is terminal. Status changes go through apps.jobs.transitions.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from apps.catalog.settings_schema import threshold_exceeded
from apps.jobs import transitions
from apps.jobs.models import SHARD_FINISHED, Job, JobShard, JobStatus, ShardStatus
from worker.joined import joined_merge, joined_name, output_columns
from worker.messages import no_space_reason
from worker.parquet import parquet_schema
from worker.paths import (
    JobInputError,
    job_input_path,
    joined_part_path,
    model_ref,
    part_paths,
    results_dir,
    runner_context,
)
from worker.readers import DatasetReadError, table_units
from worker.reasons import library_reason
from worker.runners.plugin import MLAppPlugin
from worker.runners.registry import plugin_for, runner_summary
from worker.tables import Columns, table_kind

log = logging.getLogger(__name__)

# The summary keeps the most common reasons; a runner that puts sample text in its
# reasons must not grow the file without bound.
SUMMARY_REASONS = 50


def job_maybe_finalize(job_id: int) -> str | None:
    """Once every shard has finished: merge, write the summary, set the final status."""
    if JobShard.objects.filter(job_id=job_id).exclude(status__in=SHARD_FINISHED).exists():
        return None
    if not transitions.job_claim_merge(job_id=job_id):
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
        reason = no_space_reason(exc) or library_reason(exc, default="the disk refused it")
        transitions.job_fail(job_id=job_id, message=f"Could not write the results file: {reason}.")
        return JobStatus.FAILED
    except Exception as exc:
        # A job whose merge broke must still end: left RUNNING, nobody would ever tell.
        log.exception("finalizing job %s failed", job_id)
        transitions.job_fail(
            job_id=job_id,
            message=f"Internal error while writing the results ({type(exc).__name__}); "
            "see the worker's log.",
        )
        return JobStatus.FAILED


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


def _source_types(job: Job, names: list[str]) -> dict[str, Any]:
    """A Parquet input's types of the carried columns, so the joined Parquet keeps them."""
    try:
        tables = table_units(job_input_path(job))
    except (JobInputError, DatasetReadError, OSError):
        return {}
    if not names or not tables or table_kind(tables[0][0]) != "parquet":
        return {}
    schema = parquet_schema(tables[0][0])
    return {name: schema.field(name).type for name in names if name in schema.names}


def _merge_joined(job: Job, plugin: MLAppPlugin, shards: list[int]) -> str | None:
    """results_joined.<ext> from the shards' joined parts, when the job asks for it."""
    name = joined_name(job.settings)
    if name is None:
        return None
    record = Columns.from_settings(job.settings).record_names()
    parts = [p for p in (joined_part_path(job, i) for i in shards) if p.exists()]
    joined_merge(
        parts,
        results_dir(job) / name,
        columns=output_columns(record, plugin.joined_columns),
        sources=_source_types(job, record) if name.endswith(".parquet") else None,
    )
    return name


def _finalize(job: Job) -> str:
    shards = list(JobShard.objects.filter(job=job).order_by("index"))
    folder = results_dir(job)
    folder.mkdir(parents=True, exist_ok=True)
    kept = [s for s in shards if s.status in (ShardStatus.DONE, ShardStatus.STOPPED)]
    parts = [part_paths(job, s.index) for s in kept]
    plugin = plugin_for(job.ml_app.key)
    target = folder / job.results_filename
    present = [p for p, _ in parts if p.exists()]
    if plugin.merge(present, target, job.settings):
        size = target.stat().st_size
    else:
        size = _merge(present, target, plugin.header)
    _merge([e for _, e in parts if e.exists()], folder / "errors.jsonl")
    joined = _merge_joined(job, plugin, [s.index for s in kept])
    shutil.rmtree(folder / "parts", ignore_errors=True)

    totals = JobShard.objects.filter(job=job).aggregate(
        d=Sum("done_samples"), f=Sum("failed_samples"), t=Sum("generated_tokens")
    )
    done, failed = int(totals["d"] or 0), int(totals["f"] or 0)
    tokens = int(totals["t"] or 0)
    reasons = _error_histogram(folder / "errors.jsonl")
    status, message = _final_status(job, shards, done=done, failed=failed, reasons=reasons)
    finished = timezone.now()
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
        **({"joined_file": joined} if joined else {}),
        "counts": {"total": job.total_samples, "done": done, "failed": failed},
        "timings": {
            "created": job.created_at.isoformat(),
            "started": job.started_at.isoformat() if job.started_at else None,
            "finished": finished.isoformat(),
            "seconds": seconds,
            "samples_per_second": round((done + failed) / seconds, 2) if seconds else None,
        },
        **(
            {"tokens": {"generated": tokens, "per_second": round(tokens / seconds, 2)}}
            if tokens and seconds
            else {}
        ),
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
    ended = transitions.job_end(
        job_id=job.pk,
        status=status,
        message=message,
        done=done,
        failed=failed,
        tokens=tokens,
        at=finished,
    )
    if not ended and not Job.objects.filter(pk=job.pk).exists():
        # Deleted while we merged (Delete quits, then removes the folder at once): what we
        # wrote after its removal would be left behind with no job to show it.
        shutil.rmtree(folder, ignore_errors=True)
    return status
