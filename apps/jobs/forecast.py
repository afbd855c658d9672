"""Predicted start and finish of active jobs, from the measured speed of their models on this
platform (apps.jobs.selectors.model_speeds: the latest completed jobs' samples/s) and the
work ahead of them in the pool of WORKER_SLOTS worker processes.

- A RUNNING job ends after its remaining samples at its own measured rate once it has run
  a while, before that at its model's speed times its share of the pool (fair share splits
  the pool between the users with active jobs, then between a user's jobs).
- A QUEUED job starts when a worker process is free for it: the processes' free times are
  the running shards' remaining work at a process's speed (a model's job speed divided by
  the processes), the shards already sent wait before it, then the jobs queued before it.
  A job held by its owner's cap starts when the first of that owner's running jobs ends.
- Planning keeps the first prediction of a job's finish (`Job.first_predicted_finish`);
  a prediction that has slipped by more than a third of the predicted run time is said.

The pool's state is read once a second at most (dashboards poll every row every 2 s).
"""

from __future__ import annotations

import heapq
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from apps.jobs.models import Job, JobShard, JobStatus, ShardStatus
from apps.jobs.selectors import model_speeds

# What a prediction reads of a job (the dashboard loads these and no more).
FORECAST_FIELDS = (
    "owner",
    "model",
    "status",
    "total_samples",
    "done_samples",
    "failed_samples",
    "started_at",
    "finished_at",
    "waiting_reason",
    "first_predicted_finish",
)
OWN_RATE_AFTER = 5.0  # seconds of running before a job's own rate is trusted
SLIP = 4 / 3  # "slips by more than a third"


@dataclass(frozen=True)
class Forecast:
    position: int | None = None  # QUEUED: its place among the queued jobs (1 = next)
    start_at: datetime | None = None
    finish_at: datetime | None = None
    first_finish_at: datetime | None = None
    slipped: bool = False


@dataclass
class _Pool:
    at: float
    now: datetime
    speeds: dict[int, float] = field(default_factory=dict)  # model id → job samples/s
    free_after: list[float] = field(default_factory=list)  # seconds until each process frees
    queued: list[int] = field(default_factory=list)  # QUEUED, not held, oldest first
    share: dict[int, float] = field(default_factory=dict)  # RUNNING job → fraction of pool
    ends: dict[int, list[datetime]] = field(default_factory=dict)  # owner → running jobs' ends


_cache: _Pool | None = None


def _pool() -> _Pool:
    global _cache
    if _cache is not None and time.monotonic() - _cache.at < 1.0:
        return _cache
    pool = _Pool(at=time.monotonic(), now=timezone.now())
    slots = settings.WORKER_SLOTS
    active = list(
        Job.objects.filter(status__in=(JobStatus.QUEUED, JobStatus.RUNNING))
        .only("created_at", *FORECAST_FIELDS)
        .order_by("created_at", "pk")
    )
    pool.speeds = model_speeds(sorted({j.model_id for j in active if j.model_id is not None}))
    running = [j for j in active if j.status == JobStatus.RUNNING]
    per_user = Counter(j.owner_id for j in running)
    for job in running:
        pool.share[job.pk] = 1 / len(per_user) / per_user[job.owner_id]
    for job in running:  # after the shares, which a young job's prediction uses
        if (ends_at := _finish(job, pool)) is not None:
            pool.ends.setdefault(job.owner_id, []).append(ends_at)
    pool.queued = [j.pk for j in active if j.status == JobStatus.QUEUED and not j.waiting_reason]
    models = {j.pk: j.model_id for j in active}
    busy: list[float] = []
    waiting: list[float] = []
    shards = JobShard.objects.filter(
        job__status=JobStatus.RUNNING, status__in=(ShardStatus.PENDING, ShardStatus.RUNNING)
    ).exclude(task_id="")
    for job_id, status, start, end, done, failed in shards.values_list(
        "job_id", "status", "start", "end", "done_samples", "failed_samples"
    ):
        speed = pool.speeds.get(models.get(job_id) or 0)
        if speed is None:
            continue
        seconds = max(end - start - done - failed, 0) / (speed / slots)
        (busy if status == ShardStatus.RUNNING else waiting).append(seconds)
    free = sorted(busy)[:slots] + [0.0] * max(0, slots - len(busy))
    heapq.heapify(free)
    for seconds in waiting:  # the shards already in the broker go first
        heapq.heappush(free, heapq.heappop(free) + seconds)
    pool.free_after = free
    _cache = pool
    return pool


def _finish(job: Job, pool: _Pool) -> datetime | None:
    if job.total_samples is None:
        return None
    remaining = max(job.total_samples - job.processed_samples, 0)
    duration = job.duration
    rate = None
    if duration is not None and duration.total_seconds() >= OWN_RATE_AFTER:
        rate = job.samples_per_second
    if rate is None and job.model_id in pool.speeds:
        rate = pool.speeds[job.model_id] * min(1.0, pool.share.get(job.pk, 1.0))
    if not rate:
        return None
    return pool.now + timedelta(seconds=remaining / rate)


def first_finish(job: Job, total: int, at: datetime) -> datetime | None:
    """The finish predicted when planning starts the job (kept, to tell a slip): its
    model's speed times the share of the pool fair share gives it now."""
    speed = model_speeds([job.model_id]).get(job.model_id) if job.model_id else None
    if not speed:
        return None
    running = list(
        Job.objects.filter(status=JobStatus.RUNNING)
        .exclude(pk=job.pk)
        .values_list("owner_id", flat=True)
    )
    share = 1 / len({*running, job.owner_id}) / (1 + running.count(job.owner_id))
    return at + timedelta(seconds=total / (speed * share))


def forecast(job: Job) -> Forecast | None:
    """The job's prediction, or None when it has ended or nothing is measured yet."""
    if job.status == JobStatus.RUNNING:
        pool = _pool()
        finish = _finish(job, pool)
        first = job.first_predicted_finish
        slipped = bool(
            finish and first and job.started_at
            and (finish - job.started_at) > SLIP * (first - job.started_at)
        )  # fmt: skip
        return Forecast(finish_at=finish, first_finish_at=first, slipped=slipped)
    if job.status != JobStatus.QUEUED:
        return None
    pool = _pool()
    if job.waiting_reason:  # held: when the first of its owner's running jobs ends
        ends = pool.ends.get(job.owner_id)
        return Forecast(start_at=min(ends) if ends else None)
    if job.pk not in pool.queued:
        return Forecast(position=1, start_at=pool.now)
    position = pool.queued.index(job.pk) + 1
    free = list(pool.free_after)
    start = 0.0
    for _ in range(position):
        start = heapq.heappop(free) if free else start
        heapq.heappush(free, start + 1.0)  # planning a job ahead takes about a second
    return Forecast(position=position, start_at=pool.now + timedelta(seconds=start))
