"""Fair share: which shards go to the broker next, so that many jobs share one pool of workers.

Planning records every shard of a job but sends none; `refill` sends shards while fewer than
SHARDS_IN_FLIGHT (the worker processes plus one, so no process idles between a finish and
the next refill) are in the broker or running. It is called whenever room may have been
made: after planning, after every shard task, after a quit's merge and by the reaper every
30 s (which also covers a refill lost with a killed worker). The broker's queue therefore
stays about as long as the pool, and a new job's first shard runs on the next free process
instead of behind every shard of the jobs before it.

The next shard is chosen by:
1. the user with the fewest shards in flight (round-robin between users; ties go to the
   user whose oldest waiting job is oldest);
2. among that user's jobs, the highest priority, then the fewest shards in flight
   (round-robin between a user's jobs), then the oldest;
3. that job's lowest-index shard not yet sent.

A shard is sent once: the conditional UPDATE that gives it its task id is the claim, so two
workers refilling at once never send the same shard (at worst they overshoot the budget by
a few shards, which only lengthens the queue a little).
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q

from apps.accounts.models import Membership
from apps.jobs.models import Job, JobShard, JobStatus, ShardStatus
from worker import dispatch

IN_FLIGHT = (ShardStatus.PENDING, ShardStatus.RUNNING)


@dataclass
class _Waiting:
    job_id: int
    user_id: int
    priority: int
    created_at: datetime
    in_flight: int
    unsent: int


# A quitting job's running shards still hold worker processes until they see the quit.
ACTIVE = (JobStatus.RUNNING, JobStatus.STOPPING)


def _in_flight() -> dict[tuple[int, int], int]:
    """Shards sent and not finished, by (job, owner): one query for both counts."""
    sent = (
        JobShard.objects.filter(status__in=IN_FLIGHT, job__status__in=ACTIVE)
        .exclude(task_id="")
        .values_list("job_id", "job__owner_id")
        .annotate(n=Count("pk"))
    )
    return {(job_id, owner_id): n for job_id, owner_id, n in sent}


def _waiting_jobs(in_flight: dict[tuple[int, int], int]) -> list[_Waiting]:
    """RUNNING jobs with shards not yet sent, with how many are sent and how many not."""
    by_job = {job_id: n for (job_id, _), n in in_flight.items()}
    rows = (
        Job.objects.filter(status=JobStatus.RUNNING, shards__status=ShardStatus.PENDING)
        .annotate(unsent=Count("shards", filter=Q(shards__task_id="")))
        .filter(unsent__gt=0)
        .values_list("pk", "owner_id", "priority", "created_at", "unsent")
    )
    return [
        _Waiting(pk, owner, priority, created, by_job.get(pk, 0), unsent)
        for pk, owner, priority, created, unsent in rows
    ]


def next_job(waiting: list[_Waiting], by_user: Counter[int]) -> _Waiting:
    """The job whose shard goes next (the order in the module's docstring)."""
    oldest: dict[int, datetime] = {}
    for job in waiting:
        oldest[job.user_id] = min(oldest.get(job.user_id, job.created_at), job.created_at)
    user = min(oldest, key=lambda u: (by_user[u], oldest[u], u))
    mine = [job for job in waiting if job.user_id == user]
    return min(mine, key=lambda j: (-j.priority, j.in_flight, j.created_at, j.job_id))


def _send_next_shard(job_id: int) -> bool:
    """Give the job's lowest-index unsent shard a task id and send it; False if none."""
    for shard_id in (
        JobShard.objects.filter(job_id=job_id, status=ShardStatus.PENDING, task_id="")
        .order_by("index")
        .values_list("pk", flat=True)[:4]
    ):
        task_id = str(uuid.uuid4())
        with transaction.atomic():
            if JobShard.objects.filter(pk=shard_id, status=ShardStatus.PENDING, task_id="").update(
                task_id=task_id
            ):
                dispatch.send_on_commit(dispatch.SHARD_RUN, shard_id, task_id=task_id)
                return True
    return False


def _cap_and_running(owner_id: int, *, but: int = 0) -> tuple[int | None, int]:
    """The owner's cap on running jobs (None: none) and how many of theirs run now."""
    cap = (
        Membership.objects.filter(user_id=owner_id)
        .values_list("max_running_jobs", flat=True)
        .first()
    )
    if not cap:
        return None, 0
    running = Job.objects.filter(owner_id=owner_id, status__in=ACTIVE).exclude(pk=but).count()
    return cap, running


def cap_reason(job: Job) -> str:
    """Why `job` must wait for its owner's cap on running jobs (set by an organization
    admin), or "" when it may start."""
    cap, running = _cap_and_running(job.owner_id, but=job.pk)
    if cap is None or running < cap:
        return ""
    return (
        f"Waiting: {running} of your jobs are running, the most your organization lets you "
        f"run at once ({cap}); this one starts when one of them ends."
    )


def hold(job: Job, reason: str) -> None:
    """Leave a QUEUED job queued with the reason (release_held plans it later)."""
    Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(waiting_reason=reason)


def release_held() -> int:
    """Plan again, oldest first, as many of each owner's held jobs as their cap has room
    for now (not the whole backlog: each planning reads its whole input)."""
    held = Job.objects.filter(status=JobStatus.QUEUED).exclude(waiting_reason="")
    room: dict[int, int] = {}
    released = 0
    for pk, owner_id, reason in held.order_by("created_at", "pk").values_list(
        "pk", "owner_id", "waiting_reason"
    ):
        if owner_id not in room:
            cap, running = _cap_and_running(owner_id)
            room[owner_id] = len(held) if cap is None else cap - running
        if room[owner_id] <= 0:
            continue
        if Job.objects.filter(pk=pk, status=JobStatus.QUEUED, waiting_reason=reason).update(
            waiting_reason=""
        ):
            dispatch.send_on_commit(dispatch.JOB_PLAN, pk)
            room[owner_id] -= 1
            released += 1
    return released


def refill() -> int:
    """Plan held jobs that may start now, then send shards, fairly, until SHARDS_IN_FLIGHT
    are in flight; how many shards were sent."""
    release_held()
    in_flight = _in_flight()
    by_user: Counter[int] = Counter()
    for (_, owner_id), n in in_flight.items():
        by_user[owner_id] += n
    room = settings.SHARDS_IN_FLIGHT - sum(by_user.values())
    if room <= 0:
        return 0
    waiting = _waiting_jobs(in_flight)
    sent = 0
    while room > 0 and waiting:
        job = next_job(waiting, by_user)
        if not _send_next_shard(job.job_id):
            waiting.remove(job)  # sent by someone else meanwhile, or quit
            continue
        job.in_flight += 1
        by_user[job.user_id] += 1
        job.unsent -= 1
        room -= 1
        sent += 1
        if job.unsent <= 0:
            waiting.remove(job)
    return sent
