"""The job and shard state machines: the only code that writes `Job.status` or
`JobShard.status`.

Job::

               job_start                  job_stop
    QUEUED ────────────────▶ RUNNING ────────────────▶ STOPPING
      │  │                      │                         │
      │  │ job_fail_queued      │ job_end, job_fail       │ job_end, job_fail
      │  ▼                      ▼                         ▼
      │ FAILED          COMPLETED | FAILED      STOPPED | FAILED | COMPLETED
      │ job_stop_queued
      ▼
    STOPPED

    QUEUED   → RUNNING    job_start         planning claimed it and counted the samples
    QUEUED   → STOPPED    job_stop_queued   a quit before any shard exists
    QUEUED   → FAILED     job_fail_queued   input unusable, broker unreachable, no worker
    RUNNING  → STOPPING   job_stop          a user's quit, or the engine stops it (message)
    RUNNING  → COMPLETED  job_end           the merge after the last shard
    RUNNING  → FAILED     job_end           the merge's verdict (failed shard, threshold)
                          job_fail          the merge could not write, or died
    STOPPING → STOPPED    job_end           the merge after a user's quit
    STOPPING → FAILED     job_end, job_fail the merge after an engine stop, or as above
    STOPPING → COMPLETED  job_end           a quit that came after the last shard finished

COMPLETED, FAILED and STOPPED are final. `finalizing` is the merge's claim
(job_claim_merge): set once, by the one worker that merges, while RUNNING or STOPPING.

Shard::

               shard_claim                shard_end
    PENDING ────────────────▶ RUNNING ────────────────▶ DONE | STOPPED | FAILED
       │                      │    ▲
       │                      └────┘ shard_claim: a new attempt takes over a stale one
       │ shard_cancel,        │ shard_cancel: its worker died and the job is ending
       │ shards_cancel_pending│
       ▼                      │
    CANCELLED ◀───────────────┘

    PENDING → RUNNING     shard_claim
    PENDING → CANCELLED   shard_cancel, shards_cancel_pending (the job left RUNNING)
    RUNNING → RUNNING     shard_claim       a stale attempt taken over (attempts + 1)
    RUNNING → DONE        shard_end         every sample of the range done
    RUNNING → STOPPED     shard_end         the job was quit; what was done is kept
    RUNNING → FAILED      shard_end         the shard could not run (model, input, bug)
    RUNNING → CANCELLED   shard_cancel      its worker died and the job is ending

Every transition is one conditional UPDATE (`WHERE status IN (<allowed sources>)`, and for
a shard also the attempt that owns it), so two workers, or a worker and a user who quits,
never both win: the loser's UPDATE matches no row and the function returns False. Asking
for a move that JOB_MACHINE or SHARD_MACHINE does not have raises TransitionNotAllowed
before the database is touched.

Lock order (PostgreSQL): workers lock a shard row and then the job row (claim, progress).
Nothing here holds the job row while it waits for shard rows: job_stop commits its two
statements one by one and must not be called inside a transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.jobs.models import TERMINAL_STATUSES, Job, JobShard, JobStatus, ShardStatus
from apps.jobs.signals import job_ended

J, S = JobStatus, ShardStatus

JOB_MACHINE: Mapping[str, frozenset[str]] = {
    J.QUEUED: frozenset({J.RUNNING, J.STOPPED, J.FAILED}),
    J.RUNNING: frozenset({J.STOPPING, J.COMPLETED, J.FAILED}),
    J.STOPPING: frozenset({J.STOPPED, J.FAILED, J.COMPLETED}),
    J.COMPLETED: frozenset(),
    J.FAILED: frozenset(),
    J.STOPPED: frozenset(),
}
SHARD_MACHINE: Mapping[str, frozenset[str]] = {
    S.PENDING: frozenset({S.RUNNING, S.CANCELLED}),
    S.RUNNING: frozenset({S.RUNNING, S.DONE, S.STOPPED, S.FAILED, S.CANCELLED}),
    S.DONE: frozenset(),
    S.STOPPED: frozenset(),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
}
JOB_ACTIVE = (J.RUNNING, J.STOPPING)  # planned and not ended: what a merge may end


class TransitionNotAllowed(ValueError):
    """A move the state machine does not have: a bug in the caller, never a race."""


def _check(machine: Mapping[str, frozenset[str]], sources: Iterable[str], target: str) -> list[str]:
    wanted = list(sources)
    refused = [s for s in wanted if target not in machine[s]]
    if refused or not wanted:
        raise TransitionNotAllowed(f"{', '.join(refused) or 'nothing'} → {target}")
    return wanted


def job_move(*, job_id: int, sources: Iterable[str], target: str, **fields: Any) -> bool:
    """sources → target for one job, in one conditional UPDATE; False if it had moved on."""
    allowed = _check(JOB_MACHINE, sources, target)
    moved = bool(Job.objects.filter(pk=job_id, status__in=allowed).update(status=target, **fields))
    if moved and target in TERMINAL_STATUSES:
        transaction.on_commit(partial(job_ended.send, sender=Job, job_id=job_id))
    return moved


def shard_move(
    *,
    sources: Iterable[str],
    target: str,
    shard_id: int | None = None,
    job_id: int | None = None,
    attempt: int | None = None,
    **fields: Any,
) -> int:
    """sources → target for one shard (`shard_id`, optionally only while `attempt` owns it)
    or for every shard of `job_id`, in one conditional UPDATE; returns the rows moved."""
    allowed = _check(SHARD_MACHINE, sources, target)
    rows = JobShard.objects.filter(status__in=allowed)
    if shard_id is not None and job_id is None:
        rows = rows.filter(pk=shard_id)
    elif job_id is not None and shard_id is None:
        rows = rows.filter(job_id=job_id)
    else:
        raise TypeError("shard_move needs exactly one of shard_id and job_id")
    if attempt is not None:
        rows = rows.filter(attempts=attempt)
    return rows.update(status=target, **fields)


# --- jobs ----------------------------------------------------------------------------


def job_start(*, job_id: int, total: int, at: datetime, predicted: datetime | None = None) -> bool:
    """QUEUED → RUNNING: planning counted `total` samples and is about to record shards;
    `predicted` is the finish it foresees (apps.jobs.forecast.first_finish)."""
    return job_move(
        job_id=job_id,
        sources=[J.QUEUED],
        target=J.RUNNING,
        started_at=at,
        heartbeat_at=at,
        total_samples=total,
        first_predicted_finish=predicted,
    )


def job_stop_queued(*, job_id: int) -> bool:
    """QUEUED → STOPPED: a quit before planning; no shard exists, nothing to merge."""
    return job_move(job_id=job_id, sources=[J.QUEUED], target=J.STOPPED, finished_at=timezone.now())


def job_fail_queued(*, job_id: int, message: str) -> bool:
    """QUEUED → FAILED with a message the user can act on."""
    return job_move(
        job_id=job_id,
        sources=[J.QUEUED],
        target=J.FAILED,
        error_message=message,
        finished_at=timezone.now(),
    )


def job_fail(*, job_id: int, message: str) -> bool:
    """RUNNING | STOPPING → FAILED without a merge (the merge could not write, or died)."""
    return job_move(
        job_id=job_id,
        sources=JOB_ACTIVE,
        target=J.FAILED,
        error_message=message,
        finished_at=timezone.now(),
    )


def job_stop(*, job_id: int, message: str = "") -> bool:
    """RUNNING → STOPPING, then the job's PENDING shards → CANCELLED.

    Without a message it is a user's quit and the job ends STOPPED; with one, the engine
    stopped it (a shard could not run, the error threshold was passed early, the workers
    went away) and the job ends FAILED with that message. The running shards see it within
    a second and stop; the merge then ends the job.

    Two statements, each committed on its own, job row first, never one transaction: see
    the lock order above.
    """
    fields = {"error_message": message} if message else {}
    stopped = job_move(job_id=job_id, sources=[J.RUNNING], target=J.STOPPING, **fields)
    shards_cancel_pending(job_id=job_id)
    return stopped


def job_claim_merge(*, job_id: int) -> bool:
    """The right to merge a RUNNING or STOPPING job: won by exactly one caller, once."""
    return bool(
        Job.objects.filter(pk=job_id, finalizing=False, status__in=JOB_ACTIVE).update(
            finalizing=True
        )
    )


def job_end(
    *,
    job_id: int,
    status: str,
    message: str,
    done: int,
    failed: int,
    at: datetime,
    tokens: int = 0,
) -> bool:
    """RUNNING | STOPPING → COMPLETED | FAILED | STOPPED: the merge's verdict, with the
    final counts. STOPPED only ever follows STOPPING (a quit)."""
    sources = [s for s in JOB_ACTIVE if status in JOB_MACHINE[s]]
    return job_move(
        job_id=job_id,
        sources=sources,
        target=status,
        error_message=message,
        finished_at=at,
        done_samples=done,
        failed_samples=failed,
        generated_tokens=tokens,
    )


# --- shards --------------------------------------------------------------------------


def shard_claim(shard: JobShard, *, task_id: str, worker: str, at: datetime) -> bool:
    """PENDING, or RUNNING on a stale attempt → RUNNING as a new attempt of this task.

    The caller holds the shard row locked and has read `shard` under that lock; a lost
    attempt's counts come off the job's (the new attempt redoes them). Updates `shard`.
    """
    moved = shard_move(
        shard_id=shard.pk,
        attempt=shard.attempts,
        sources=[shard.status],
        target=S.RUNNING,
        attempts=F("attempts") + 1,
        done_samples=0,
        failed_samples=0,
        generated_tokens=0,
        worker=worker,
        task_id=task_id,
        started_at=at,
        heartbeat_at=at,
    )
    if not moved:
        return False
    _job_uncount(shard)
    Job.objects.filter(pk=shard.job_id).update(heartbeat_at=at)
    shard.status, shard.attempts, shard.task_id = S.RUNNING, shard.attempts + 1, task_id
    shard.done_samples = shard.failed_samples = shard.generated_tokens = 0
    return True


def shard_report(
    *, shard_id: int, job_id: int, attempt: int, done: int, failed: int, tokens: int = 0
) -> bool:
    """RUNNING stays RUNNING: add `done` and `failed` samples (and generated `tokens`) to the
    shard and its job, and beat both hearts. False once `attempt` no longer owns the shard."""
    return _shard_write(
        shard_id=shard_id, job_id=job_id, attempt=attempt, done=done, failed=failed, tokens=tokens
    )


def shard_end(
    *,
    shard_id: int,
    job_id: int,
    attempt: int,
    status: str,
    done: int,
    failed: int,
    tokens: int = 0,
    message: str = "",
) -> bool:
    """RUNNING → DONE | STOPPED | FAILED, with the last counts, if `attempt` still owns it."""
    return _shard_write(
        shard_id=shard_id,
        job_id=job_id,
        attempt=attempt,
        done=done,
        failed=failed,
        tokens=tokens,
        end=status,
        message=message,
    )


def _shard_write(
    *,
    shard_id: int,
    job_id: int,
    attempt: int,
    done: int,
    failed: int,
    tokens: int = 0,
    end: str | None = None,
    message: str = "",
) -> bool:
    now = timezone.now()
    counts: dict[str, Any] = {
        "done_samples": F("done_samples") + done,
        "failed_samples": F("failed_samples") + failed,
        "heartbeat_at": now,
    }
    if tokens:
        counts["generated_tokens"] = F("generated_tokens") + tokens
    with transaction.atomic():
        if end is None:
            updated = JobShard.objects.filter(
                pk=shard_id, attempts=attempt, status=S.RUNNING
            ).update(**counts)
        else:
            fields = {**counts, "finished_at": now}
            if message:
                fields["error_message"] = message
            updated = shard_move(
                shard_id=shard_id, attempt=attempt, sources=[S.RUNNING], target=end, **fields
            )
        if updated:
            Job.objects.filter(pk=job_id).update(**counts)
    return bool(updated)


def shard_cancel(shard: JobShard) -> bool:
    """PENDING, or RUNNING on a worker that died → CANCELLED, its partial counts undone.

    Conditional on the status and attempt read in `shard`: a no-op if the shard moved on.
    """
    if shard.status not in (S.PENDING, S.RUNNING):
        return False
    if not shard_move(
        shard_id=shard.pk,
        attempt=shard.attempts,
        sources=[shard.status],
        target=S.CANCELLED,
        finished_at=timezone.now(),
        done_samples=0,
        failed_samples=0,
        generated_tokens=0,
    ):
        return False
    _job_uncount(shard)
    return True


def shards_cancel_pending(*, job_id: int) -> int:
    """Every PENDING shard of the job → CANCELLED (it never ran: nothing to undo)."""
    return shard_move(
        job_id=job_id, sources=[S.PENDING], target=S.CANCELLED, finished_at=timezone.now()
    )


def _job_uncount(shard: JobShard) -> None:
    """Take a lost attempt's samples off the job's counters (they are redone or dropped)."""
    if shard.done_samples or shard.failed_samples or shard.generated_tokens:
        Job.objects.filter(pk=shard.job_id).update(
            done_samples=F("done_samples") - shard.done_samples,
            failed_samples=F("failed_samples") - shard.failed_samples,
            generated_tokens=F("generated_tokens") - shard.generated_tokens,
        )
