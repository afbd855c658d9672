"""Redis stops mid-job and comes back empty: the worker reconnects, the shards whose
messages were lost are queued again by the reaper, and the job completes."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.test import override_settings

from apps.jobs.models import Job, JobShard, JobStatus, ShardStatus
from bench.data import write_sentences
from tests.conftest import wait_for_job
from tests.worker.conftest import results_file
from worker.reaper import jobs_reap_stale

from .conftest import finish_with_reaper, job_row, record, wait_until

pytestmark = pytest.mark.worker

OUTAGE_SECONDS = 3


def test_job_completes_after_redis_restarts_empty_mid_job(
    make_dataset, jobs, live_worker, session_redis
):
    dataset, root = make_dataset()
    write_sentences(root / "reviews.txt", 200_000, seed=21)
    settings = {"shard_size": 20_000}
    clean = jobs.run(dataset, "reviews.txt", **settings)
    assert clean.status == JobStatus.COMPLETED, clean.error_message

    job = jobs.start(dataset, "reviews.txt", **settings)
    wait_until(
        lambda: JobShard.objects.filter(
            job_id=job.pk, status=ShardStatus.RUNNING, done_samples__gt=0
        ).exists(),
        what="a shard in progress",
    )
    pending = JobShard.objects.filter(job_id=job.pk, status=ShardStatus.PENDING).count()
    assert pending > 0  # their messages wait in Redis and are about to be lost

    session_redis.stop()
    stopped = time.monotonic()
    # A job created while Redis is down cannot be queued: it says so at once.
    refused = jobs.start(dataset, "reviews.txt", **settings)
    refused = wait_for_job(refused.pk, timeout=120)
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - stopped)))
    session_redis.start()
    restarted = time.monotonic()

    job = finish_with_reaper(job.pk)
    recovered = time.monotonic() - restarted

    assert refused.status == JobStatus.FAILED
    assert "queue" in refused.error_message.lower(), refused.error_message
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert results_file(job).read_bytes() == results_file(clean).read_bytes()
    assert job.done_samples == job.total_samples == 200_000
    # The session's worker reconnected: it answers and runs a new job.
    after = jobs.run(dataset, "reviews.txt", max_samples=1000)
    assert after.status == JobStatus.COMPLETED, after.error_message
    assert Job.objects.filter(status__in=["QUEUED", "RUNNING", "STOPPING"]).count() == 0
    record(f"Redis down {OUTAGE_SECONDS} s mid-job: restart → job COMPLETED", recovered)


# --- messages lost (rows only, as a restart leaves them) ---------------------------


def test_queued_job_whose_message_was_lost_is_planned_again_and_completes(live_worker, owner):
    job = job_row(owner, name="lost-plan", age=timedelta(seconds=30))

    jobs_reap_stale()

    job = wait_for_job(job.pk)
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.done_samples == job.total_samples > 0


@override_settings(JOB_STALE_SECONDS=60)
def test_job_queued_for_the_whole_stale_period_fails_with_a_message(live_worker, owner):
    job = job_row(owner, name="never-planned", age=timedelta(hours=1))

    assert jobs_reap_stale() == 1

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_message.startswith("No worker picked this job up for 1 minute(s)")
    assert job.finished_at is not None
