"""The job and shard state machines (apps.jobs.transitions): which moves exist, that each
is one conditional UPDATE, and that any other move is refused."""

from __future__ import annotations

import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.catalog.models import MLApp
from apps.jobs import services, transitions
from apps.jobs.models import Job, JobShard, JobStatus, ShardStatus
from apps.jobs.transitions import TransitionNotAllowed
from tests.factories import make_project
from worker import dispatch

J, S = JobStatus, ShardStatus

JOB_MOVES = {
    (J.QUEUED, J.RUNNING),  # planned
    (J.QUEUED, J.STOPPED),  # quit before planning
    (J.QUEUED, J.FAILED),  # unusable input, no queue, no worker
    (J.RUNNING, J.STOPPING),  # quit, or stopped by the engine
    (J.RUNNING, J.COMPLETED),  # merged
    (J.RUNNING, J.FAILED),  # merged with failures, or the merge failed
    (J.STOPPING, J.STOPPED),  # merged after a quit
    (J.STOPPING, J.FAILED),  # merged after an engine stop
    (J.STOPPING, J.COMPLETED),  # the quit came after the last shard
}
SHARD_MOVES = {
    (S.PENDING, S.RUNNING),  # claimed
    (S.PENDING, S.CANCELLED),  # the job left RUNNING first
    (S.RUNNING, S.RUNNING),  # a stale attempt taken over
    (S.RUNNING, S.DONE),
    (S.RUNNING, S.STOPPED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELLED),  # its worker died while the job was ending
}


@pytest.fixture
def job(owner) -> Job:
    """A job row with no task behind it (no worker can touch it)."""
    app = MLApp.objects.create(
        key="transitions-test",
        name="Transitions test",
        input_kind="text",
        results_filename="r.txt",
        results_format="tsv",
    )
    return Job.objects.create(
        project=make_project(owner, "Transitions"),
        owner=owner,
        name="machine",
        ml_app=app,
        model_name="m",
        dataset_name="d",
        results_filename="r.txt",
    )


def _set(job: Job, status: str) -> None:
    Job.objects.filter(pk=job.pk).update(status=status)  # the test's own setup, not a move


def _updates(queries: CaptureQueriesContext, table: str) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith(f'UPDATE "{table}"')]


def test_the_machines_have_exactly_the_documented_moves():
    job_moves = {(a, b) for a, targets in transitions.JOB_MACHINE.items() for b in targets}
    shard_moves = {(a, b) for a, targets in transitions.SHARD_MACHINE.items() for b in targets}
    assert job_moves == JOB_MOVES
    assert shard_moves == SHARD_MOVES
    assert set(transitions.JOB_MACHINE) == set(JobStatus)
    assert set(transitions.SHARD_MACHINE) == set(ShardStatus)
    # Every move is drawn in the module's docstring.
    doc = transitions.__doc__ or ""
    for a, b in job_moves | shard_moves:
        assert f"{a} → {b}".replace(" ", "") in doc.replace(" ", ""), (a, b)


@pytest.mark.parametrize("source,target", list(itertools.product(JobStatus, JobStatus)))
def test_every_job_move_is_one_conditional_update_or_refused(job, source, target):
    _set(job, source)
    with CaptureQueriesContext(connection) as queries:
        if (source, target) in JOB_MOVES:
            assert transitions.job_move(job_id=job.pk, sources=[source], target=target)
        else:
            with pytest.raises(TransitionNotAllowed):
                transitions.job_move(job_id=job.pk, sources=[source], target=target)
    job.refresh_from_db()
    if (source, target) in JOB_MOVES:
        assert job.status == target
        (update,) = _updates(queries, "jobs_job")
        assert "status" in update.split("WHERE", 1)[1]  # conditional on the status
    else:
        assert job.status == source
        assert queries.captured_queries == []  # refused before the database is asked


@pytest.mark.parametrize("source,target", list(itertools.product(ShardStatus, ShardStatus)))
def test_every_shard_move_is_one_conditional_update_or_refused(job, source, target):
    shard = JobShard.objects.create(job=job, index=0, start=0, end=10, status=source, attempts=2)
    with CaptureQueriesContext(connection) as queries:
        if (source, target) in SHARD_MOVES:
            moved = transitions.shard_move(
                shard_id=shard.pk, attempt=2, sources=[source], target=target
            )
            assert moved == 1
        else:
            with pytest.raises(TransitionNotAllowed):
                transitions.shard_move(shard_id=shard.pk, sources=[source], target=target)
    shard.refresh_from_db()
    if (source, target) in SHARD_MOVES:
        assert shard.status == target
        (update,) = _updates(queries, "jobs_jobshard")
        where = update.split("WHERE", 1)[1]
        assert "status" in where and "attempts" in where
    else:
        assert shard.status == source
        assert queries.captured_queries == []


def test_a_move_from_a_state_the_row_has_left_changes_nothing(job):
    # The race a conditional UPDATE settles: the loser finds the row moved on.
    _set(job, J.STOPPED)
    assert not transitions.job_start(job_id=job.pk, total=10, at=job.created_at)
    assert not transitions.job_stop(job_id=job.pk)
    assert not transitions.job_fail(job_id=job.pk, message="too late")
    job.refresh_from_db()
    assert (job.status, job.error_message, job.total_samples) == (J.STOPPED, "", None)
    # STOPPED only ever follows STOPPING: a merge cannot stop a job nobody quit.
    _set(job, J.RUNNING)
    assert not transitions.job_end(
        job_id=job.pk, status=J.STOPPED, message="", done=0, failed=0, at=job.created_at
    )
    assert Job.objects.get(pk=job.pk).status == J.RUNNING


def test_a_shard_attempt_that_lost_its_shard_cannot_end_it(job):
    _set(job, J.RUNNING)
    shard = JobShard.objects.create(job=job, index=0, start=0, end=10, status=S.RUNNING, attempts=2)
    lost = {"shard_id": shard.pk, "job_id": job.pk, "attempt": 1, "done": 5, "failed": 0}
    assert not transitions.shard_report(**lost)
    assert not transitions.shard_end(**lost, status=S.DONE)
    shard.refresh_from_db()
    job.refresh_from_db()
    assert (shard.status, shard.done_samples, job.done_samples) == (S.RUNNING, 0, 0)
    owner = {**lost, "attempt": 2}
    assert transitions.shard_end(**owner, status=S.DONE)
    shard.refresh_from_db()
    job.refresh_from_db()
    assert (shard.status, shard.done_samples, job.done_samples) == (S.DONE, 5, 5)


def test_claiming_a_stale_attempt_takes_its_counts_off_the_job(job):
    Job.objects.filter(pk=job.pk).update(status=J.RUNNING, done_samples=7, failed_samples=1)
    shard = JobShard.objects.create(
        job=job, index=0, start=0, end=10, status=S.RUNNING, attempts=1, done_samples=4
    )
    shard.failed_samples = 1
    JobShard.objects.filter(pk=shard.pk).update(failed_samples=1)
    assert transitions.shard_claim(shard, task_id="t-2", worker="w:1", at=job.created_at)
    assert (shard.status, shard.attempts, shard.task_id) == (S.RUNNING, 2, "t-2")
    job.refresh_from_db()
    assert (job.done_samples, job.failed_samples) == (3, 0)
    # The stale attempt's copy of the shard is out of date: it cannot claim it again.
    stale = JobShard(pk=shard.pk, job=job, status=S.RUNNING, attempts=1)
    assert not transitions.shard_claim(stale, task_id="t-3", worker="w:2", at=job.created_at)


def test_quit_of_a_queued_job_stops_it_at_once_and_sends_nothing(
    job, monkeypatch, django_capture_on_commit_callbacks
):
    sent: list[tuple[object, ...]] = []
    monkeypatch.setattr(dispatch, "send", lambda *args, **kwargs: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        services.job_quit(job=job)
    assert job.status == J.STOPPED and job.finished_at is not None
    assert sent == []  # no worker needed: nothing was planned, nothing to merge


def test_quit_of_a_running_job_asks_a_worker_to_merge(
    job, monkeypatch, django_capture_on_commit_callbacks
):
    _set(job, J.RUNNING)
    running = JobShard.objects.create(job=job, index=0, start=0, end=5, status=S.RUNNING)
    queued = JobShard.objects.create(job=job, index=1, start=5, end=10, task_id="t-1")
    sent: list[tuple[object, ...]] = []
    revoked: list[list[str]] = []
    monkeypatch.setattr(dispatch, "send", lambda *args, **kwargs: sent.append(args))
    monkeypatch.setattr(dispatch, "revoke", lambda ids: revoked.append(list(ids)))
    with django_capture_on_commit_callbacks(execute=True):
        services.job_quit(job=job)
    assert job.status == J.STOPPING  # the merge that ends it runs in a worker
    assert JobShard.objects.get(pk=running.pk).status == S.RUNNING  # it stops by itself
    assert JobShard.objects.get(pk=queued.pk).status == S.CANCELLED
    assert revoked == [["t-1"]]
    assert sent == [(dispatch.JOB_FINALIZE, job.pk)]
    assert not Job.objects.get(pk=job.pk).finalizing  # the web process merged nothing


def test_a_merge_that_breaks_unexpectedly_still_ends_the_job(job, monkeypatch):
    # Any error in the merge, not only a full disk: a job left RUNNING is never told about.
    from worker import finishing

    Job.objects.filter(pk=job.pk).update(status=J.RUNNING)
    JobShard.objects.create(job=job, index=0, start=0, end=10, status=S.DONE, attempts=1)

    def broken(job):
        raise TypeError("a reader the merge did not expect")

    monkeypatch.setattr(finishing, "_finalize", broken)
    assert finishing.job_maybe_finalize(job.pk) == J.FAILED
    job.refresh_from_db()
    assert job.status == J.FAILED
    assert job.error_message == (
        "Internal error while writing the results (TypeError); see the worker's log."
    )
