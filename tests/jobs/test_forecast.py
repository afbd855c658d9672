"""Predicted start and finish (apps.jobs.forecast) on job rows whose numbers are known: the
model's measured speed, a job's share of the pool, its own rate once it runs, the queue,
a job held by its owner's cap, and a prediction that slipped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.catalog.models import MLModel
from apps.jobs import forecast as forecasting
from apps.jobs.models import JobShard, JobStatus, ShardStatus
from tests.factories import job_row, make_project

J = JobStatus


@pytest.fixture
def vader(catalog, owner, settings):
    """VADER measured at 100 samples/s here (one completed job), two worker processes."""
    settings.WORKER_SLOTS = 2
    model = MLModel.objects.get(name="vader-sentiment")
    now = timezone.now()
    job_row(owner, name="measured", model=model, started_at=now - timedelta(seconds=20),
            finished_at=now - timedelta(seconds=10), done_samples=1_000)  # fmt: skip
    yield model
    # The shard rows these tests make have no worker behind them: end them, or the
    # session's clean-up would wait for them to stop.
    JobShard.objects.filter(status=ShardStatus.RUNNING).update(status=ShardStatus.CANCELLED)


def predicted(job):
    forecasting._cache = None  # the pool as it is now, not as read a second ago
    job.refresh_from_db()
    return forecasting.forecast(job)


def seconds_from_now(when):
    return (when - timezone.now()).total_seconds()


def test_a_running_job_ends_at_its_models_speed_times_its_share(vader, owner, colleague):
    now = timezone.now()
    mine = job_row(owner, name="mine", model=vader, status=J.RUNNING, started_at=now,
                   total_samples=1_000)  # fmt: skip
    assert seconds_from_now(predicted(mine).finish_at) == pytest.approx(10, abs=1)
    # Another user's job halves its share of the pool.
    job_row(colleague, name="theirs", model=vader, status=J.RUNNING, started_at=now,
            total_samples=1_000)  # fmt: skip
    assert seconds_from_now(predicted(mine).finish_at) == pytest.approx(20, abs=1)


def test_its_own_rate_takes_over_and_a_slip_is_said(vader, owner):
    started = timezone.now() - timedelta(seconds=20)
    slow = job_row(owner, name="slow", model=vader, status=J.RUNNING, started_at=started,
                   total_samples=1_000, done_samples=100,
                   first_predicted_finish=started + timedelta(seconds=10))  # fmt: skip
    f = predicted(slow)
    # 100 samples in 20 s: 5/s, 900 to go.
    assert seconds_from_now(f.finish_at) == pytest.approx(180, abs=2)
    assert f.slipped and f.first_finish_at == started + timedelta(seconds=10)
    on_time = job_row(owner, name="on-time", model=vader, status=J.RUNNING, started_at=started,
                      total_samples=2_200, done_samples=2_000,
                      first_predicted_finish=started + timedelta(seconds=22))  # fmt: skip
    assert not predicted(on_time).slipped


def test_queued_jobs_start_when_a_process_is_free(vader, owner, colleague):
    now = timezone.now()
    busy = job_row(owner, name="busy", model=vader, status=J.RUNNING, started_at=now,
                   total_samples=500)  # fmt: skip
    # One process busy for 10 s (500 samples at 50/s a process); the other is free.
    JobShard.objects.create(job=busy, index=0, start=0, end=500, status=ShardStatus.RUNNING,
                            task_id="t")  # fmt: skip
    first = job_row(colleague, name="q1", model=vader, status=J.QUEUED,
                    project=make_project(colleague, "q"))  # fmt: skip
    second = job_row(colleague, name="q2", model=vader, status=J.QUEUED,
                     project=first.project)  # fmt: skip

    one, two = predicted(first), predicted(second)
    assert (one.position, two.position) == (1, 2)
    assert seconds_from_now(one.start_at) == pytest.approx(0, abs=1)
    assert seconds_from_now(two.start_at) == pytest.approx(1, abs=1)  # after q1's planning
    # Both processes busy for 10 s.
    JobShard.objects.create(job=busy, index=1, start=0, end=500, status=ShardStatus.RUNNING,
                            task_id="u")  # fmt: skip
    assert seconds_from_now(predicted(first).start_at) == pytest.approx(10, abs=1)


def test_a_held_job_starts_when_its_owners_first_job_ends(vader, owner):
    now = timezone.now()
    job_row(owner, name="long", model=vader, status=J.RUNNING, started_at=now, total_samples=3_000)
    job_row(owner, name="short", model=vader, status=J.RUNNING, started_at=now, total_samples=500,
            project=make_project(owner, "other"))  # fmt: skip
    held = job_row(owner, name="held", model=vader, status=J.QUEUED,
                   waiting_reason="Waiting: 2 of your jobs are running",
                   project=make_project(owner, "h"))  # fmt: skip
    f = predicted(held)
    # Two jobs of one user share the pool: 500 samples at 50/s.
    assert f.position is None and seconds_from_now(f.start_at) == pytest.approx(10, abs=1)


def test_ended_jobs_and_unmeasured_models_have_no_prediction(catalog, owner):
    assert predicted(job_row(owner, name="done")) is None
    vader = MLModel.objects.get(name="vader-sentiment")
    fresh = job_row(owner, name="fresh", status=J.RUNNING, started_at=timezone.now(),
                    model=vader, total_samples=10)  # fmt: skip
    assert predicted(fresh).finish_at is None  # no completed job of the model yet
