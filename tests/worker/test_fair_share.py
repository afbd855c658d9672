"""Fair share (worker.scheduler): a small job of another user runs while a big job still has
most of its shards to go, the broker never holds more than the pool can take, and within a
user's share a job of higher priority goes first."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest
from django.conf import settings

from apps.jobs.models import Job, JobPriority, JobShard, JobStatus, ShardStatus
from tests.conftest import wait_for_job, wait_until
from tests.factories import make_project, sentiment_job
from worker.scheduler import _Waiting, next_job

T0 = datetime(2026, 1, 1)


def waiting(job_id, user, *, priority=JobPriority.NORMAL, minute=0, in_flight=0):
    return _Waiting(job_id, user, priority, T0 + timedelta(minutes=minute), in_flight, unsent=99)


def order(jobs, by_user=None, picks=6):
    """The jobs whose shards go next, `picks` times, as refill counts them."""
    by_user = Counter(by_user or {})
    chosen = []
    for _ in range(picks):
        job = next_job(jobs, by_user)
        job.in_flight += 1
        by_user[job.user_id] += 1
        chosen.append(job.job_id)
    return chosen


def test_users_take_turns_whatever_the_number_of_their_jobs():
    # Ann has three jobs and two shards running, Bob one new job: Bob's goes first until
    # the users are even, then turns alternate (a tie goes to whoever has waited longer),
    # and Ann's turns go round her jobs.
    jobs = [waiting(1, "ann", minute=0, in_flight=2), waiting(2, "ann", minute=1),
            waiting(3, "ann", minute=2), waiting(4, "bob", minute=5)]  # fmt: skip
    assert order(jobs, {"ann": 2}) == [4, 4, 2, 4, 3, 4]


def test_priority_orders_a_users_own_jobs_not_other_users_turns():
    jobs = [waiting(1, "ann", minute=0), waiting(2, "ann", minute=1, priority=JobPriority.HIGH),
            waiting(3, "bob", minute=2, priority=JobPriority.LOW)]  # fmt: skip
    assert order(jobs, picks=4) == [2, 3, 2, 3]
    assert order([waiting(5, "cy", minute=0, priority=JobPriority.LOW),
                  waiting(6, "cy", minute=9)], picks=2) == [6, 6]  # fmt: skip


@pytest.mark.worker
def test_a_small_job_runs_between_the_shards_of_a_big_one(
    live_worker, make_dataset, owner, colleague
):
    lines = b"".join(
        b"What a great, lovely product\n" if i % 2 else b"Terrible service, never again\n"
        for i in range(120_000)
    )
    dataset, _ = make_dataset({"big.txt": lines})
    big = sentiment_job(owner, make_project(owner, "big"), name="big", dataset=dataset,
                        dataset_path="big.txt", settings={"shard_size": 2_000})  # fmt: skip
    shards = JobShard.objects.filter(job=big)
    wait_until(lambda: shards.filter(status=ShardStatus.DONE).exists(), timeout=240,
               what="the big job's first shard")  # fmt: skip
    sent = shards.exclude(task_id="").filter(status__in=[ShardStatus.PENDING, ShardStatus.RUNNING])
    # Bounded: the budget, plus at most one overshoot a worker process refilling at once.
    assert sent.count() <= settings.SHARDS_IN_FLIGHT + settings.WORKER_SLOTS
    assert shards.filter(task_id="").exists(), "the rest wait in the database, not the broker"

    small = sentiment_job(colleague, make_project(colleague, "small"), name="small")
    small = wait_for_job(small.pk)

    assert small.status == JobStatus.COMPLETED, small.error_message
    unfinished = shards.exclude(status=ShardStatus.DONE).count()
    assert unfinished > shards.count() // 2, "the small job waited for most of the big one"
    big = wait_for_job(big.pk, timeout=600)
    assert big.status == JobStatus.COMPLETED and big.done_samples == 120_000
    assert Job.objects.get(pk=big.pk).priority == JobPriority.NORMAL


@pytest.mark.worker
def test_a_member_over_the_cap_waits_in_queued_saying_why(
    live_worker, make_dataset, owner, colleague
):
    from apps.accounts.services import membership_limit_set
    from apps.catalog.models import Visibility

    membership_limit_set(actor=owner, member=colleague.membership, max_running_jobs=1)
    lines = b"".join(b"A fine, useful tool\n" for _ in range(60_000))
    dataset, _ = make_dataset({"long.txt": lines})
    dataset.visibility = Visibility.ORGANIZATION
    dataset.save(update_fields=["visibility"])
    project = make_project(colleague, "capped")
    first = sentiment_job(colleague, project, name="first", dataset=dataset,
                          dataset_path="long.txt", settings={"shard_size": 2_000})  # fmt: skip
    wait_until(lambda: Job.objects.filter(pk=first.pk, status=JobStatus.RUNNING).first(),
               timeout=240, what="the first job to run")  # fmt: skip
    second = sentiment_job(colleague, project, name="second")

    held = wait_until(lambda: Job.objects.filter(pk=second.pk).exclude(waiting_reason="").first(),
                      timeout=240, what="the second job to be held")  # fmt: skip
    assert held.status == JobStatus.QUEUED
    assert held.waiting_reason.startswith("Waiting: 1 of your jobs are running")
    assert Job.objects.get(pk=first.pk).status == JobStatus.RUNNING

    first, second = wait_for_job(first.pk), wait_for_job(second.pk)
    assert (first.status, second.status) == (JobStatus.COMPLETED, JobStatus.COMPLETED)
    assert second.started_at >= first.finished_at and second.waiting_reason == ""
