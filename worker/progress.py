"""Progress and heartbeat of a running shard: counts written about once a second, the
quit looked for every STOP_CHECK_SECONDS, and a heartbeat thread for models whose single
steps are long."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.catalog.settings_schema import threshold_exceeded
from apps.jobs import transitions
from apps.jobs.models import Job, JobShard, JobStatus, ShardStatus
from worker.paths import model_ref
from worker.runners.registry import plugin_for

log = logging.getLogger(__name__)

STOP_CHECK_SECONDS = 0.25
HEARTBEAT_SECONDS = 2.0


class Progress:
    """Counts samples and writes them to the shard and job rows about once a second."""

    def __init__(self, shard: JobShard, *, error_threshold: str = "", total: int = 0) -> None:
        self.shard_id, self.job_id, self.attempt = shard.pk, shard.job_id, shard.attempts
        self.error_threshold, self.total = error_threshold, total
        self.done = self.failed = self.tokens = 0
        self._flushed_done = self._flushed_failed = self._flushed_tokens = 0
        self._last_flush = self._last_check = time.monotonic()  # just claimed: all is well
        self.stop_reason: str | None = None

    def maybe_flush(self) -> None:
        if time.monotonic() - self._last_flush >= settings.PROGRESS_INTERVAL_SECONDS:
            self.flush()

    def flush(self, *, end: str | None = None, message: str = "") -> bool:
        """Write the counts since the last flush; with `end`, the shard's final status.
        False once this attempt no longer owns the shard."""
        done = self.done - self._flushed_done
        failed = self.failed - self._flushed_failed
        tokens = self.tokens - self._flushed_tokens
        ids = {"shard_id": self.shard_id, "job_id": self.job_id, "attempt": self.attempt}
        if end is None:
            updated = transitions.shard_report(**ids, done=done, failed=failed, tokens=tokens)
        else:
            updated = transitions.shard_end(
                **ids, status=end, done=done, failed=failed, tokens=tokens, message=message
            )
        self._flushed_done, self._flushed_failed = self.done, self.failed
        self._flushed_tokens = self.tokens
        self._last_flush = time.monotonic()
        if updated and failed and self.error_threshold:
            self._stop_if_doomed()
        return updated

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
        transitions.job_stop(
            job_id=self.job_id,
            message=f"{failed} of {self.total} samples had failed already, more than the "
            f"error threshold ({self.error_threshold}) allows, so the job was stopped early. "
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


class Heartbeat(threading.Thread):
    """Keeps the shard's heartbeat fresh while a model loads or one long sample is being
    predicted; started only for runners that want it (worker.runners says why)."""

    def __init__(self, shard_id: int, job_id: int, attempt: int) -> None:
        super().__init__(daemon=True, name=f"heartbeat-{shard_id}")
        self.shard_id, self.job_id, self.attempt = shard_id, job_id, attempt
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            while not self.halt.wait(HEARTBEAT_SECONDS):
                now = timezone.now()
                JobShard.objects.filter(
                    pk=self.shard_id, attempts=self.attempt, status=ShardStatus.RUNNING
                ).update(heartbeat_at=now)
                Job.objects.filter(pk=self.job_id).update(heartbeat_at=now)
        except Exception:  # the main thread carries on; a lost beat only risks a takeover
            log.exception("heartbeat of shard %s failed", self.shard_id)
        finally:
            connection.close()


def wants_heartbeat_thread(job: Job) -> bool:
    """Whether this job's runner needs a thread to keep the heartbeat
    (MLAppPlugin.heartbeat_thread)."""
    try:
        return plugin_for(job.ml_app.key).heartbeat_thread(model_ref(job.model, job))
    except Exception:  # the shard fails while loading, with the message; a thread is harmless
        return True
