"""Quit, a killed worker process, and jobs whose workers went away: real Redis, real
Celery worker processes, the engine unmocked."""

from __future__ import annotations

import json
import os
import signal
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone

from apps.catalog.models import Dataset, MLApp, MLModel
from apps.core.storage import storage_root
from apps.jobs.models import Job, JobShard, JobStatus, ShardStatus
from apps.jobs.services import job_quit
from bench.data import write_sentences
from tests.conftest import wait_for_job, wait_until, wait_worker_idle
from worker.reaper import jobs_reap_stale

from .conftest import results_file, results_folder

pytestmark = pytest.mark.worker


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


def test_quit_stops_running_shards_cancels_queued_ones_and_keeps_the_results(make_dataset, jobs):
    dataset, root = make_dataset()
    write_sentences(root / "many.txt", 300_000, seed=11)  # seconds of VADER on two processes
    job = jobs.start(dataset, "many.txt")
    wait_until(
        lambda: Job.objects.filter(pk=job.pk, status="RUNNING", done_samples__gt=0).exists(),
        what="first progress",
    )

    job_quit(job=job)
    job = wait_for_job(job.pk)

    folder = results_folder(job)
    after_stop = snapshot(folder)
    assert job.status == JobStatus.STOPPED
    assert job.error_message == ""
    assert 0 < job.done_samples < job.total_samples == 300_000
    shards = list(JobShard.objects.filter(job=job).order_by("index"))
    statuses = {s.status for s in shards}
    assert statuses <= {ShardStatus.DONE, ShardStatus.STOPPED, ShardStatus.CANCELLED}
    # Shards still queued at the quit never started.
    cancelled = [s for s in shards if s.status == ShardStatus.CANCELLED]
    assert cancelled and all(s.attempts == 0 and s.done_samples == 0 for s in cancelled)
    # What each shard did is a prefix of its range, and all of it is in the results file.
    indexes = [int(line.split("\t")[0]) for line in results_file(job).open()]
    expected = [i for s in shards for i in range(s.start, s.start + s.done_samples)]
    assert indexes == expected
    assert len(indexes) == job.done_samples
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "STOPPED"
    assert summary["counts"]["done"] == job.done_samples
    assert not (folder / "parts").exists()
    # Nothing is written once the job is STOPPED: not while the shards that saw the quit
    # wind down, nor after the worker has let go of every task.
    wait_worker_idle()
    assert snapshot(folder) == after_stop


def test_killed_worker_process_loses_only_its_shard_and_results_are_identical(
    make_dataset, jobs, live_worker
):
    dataset, root = make_dataset()
    write_sentences(root / "reviews.txt", 200_000, seed=12)
    settings = {"shard_size": 50_000}
    clean = jobs.run(dataset, "reviews.txt", **settings)
    assert clean.status == JobStatus.COMPLETED, clean.error_message

    job = jobs.start(dataset, "reviews.txt", **settings)
    victim = wait_until(
        lambda: JobShard.objects.filter(
            job_id=job.pk, status=ShardStatus.RUNNING, done_samples__gt=0
        ).first(),
        what="a shard in progress",
    )
    pid = int(victim.worker.rsplit(":", 1)[1])
    assert pid in live_worker.children()
    os.kill(pid, signal.SIGKILL)
    job = wait_for_job(job.pk)

    assert job.status == JobStatus.COMPLETED, job.error_message
    assert results_file(job).read_bytes() == results_file(clean).read_bytes()
    assert job.done_samples == job.total_samples == 200_000
    shards = {s.index: s for s in JobShard.objects.filter(job=job)}
    # The killed shard ran again, in another process; finished shards were not redone.
    assert shards[victim.index].attempts == 2
    assert shards[victim.index].worker != victim.worker
    assert all(s.attempts == 1 for i, s in shards.items() if i != victim.index)
    summary = json.loads((results_folder(job) / "summary.json").read_text())
    assert summary["shards"]["retried"] == 1
    assert summary["counts"] == {"total": 200_000, "done": 200_000, "failed": 0}
    assert live_worker.proc.poll() is None  # the pool replaced its process and carries on


# --- jobs whose workers went away (the reaper runs here, in the test process) ----------


def running_job(owner, *, name: str, heartbeat_age: timedelta, total: int = 40) -> Job:
    """A RUNNING job as a crashed system leaves it: rows only, no task queued for it."""
    from tests.factories import make_project

    old = timezone.now() - heartbeat_age
    job = Job.objects.create(
        project=make_project(owner, name=f"p-{name}"),
        owner=owner,
        name=name,
        ml_app=MLApp.objects.get(key="sentiment-analysis"),
        model=MLModel.objects.get(name="vader-sentiment"),
        model_name="vader-sentiment",
        dataset=Dataset.objects.get(name="finance_sentiment"),
        dataset_name="finance_sentiment",
        dataset_path="test.txt",
        settings={"batch_size": 32},
        status=JobStatus.RUNNING,
        results_filename="test_results_finance_sentiment.txt",
        total_samples=total,
        started_at=old,
        heartbeat_at=old,
    )
    (storage_root() / job.results_dir / "parts").mkdir(parents=True)
    return job


@override_settings(JOB_STALE_SECONDS=60)
def test_abandoned_job_is_failed_with_a_message_and_keeps_finished_shards(live_worker, owner):
    job = running_job(owner, name="abandoned", heartbeat_age=timedelta(hours=1))
    JobShard.objects.create(job=job, index=0, start=0, end=20, status="DONE", done_samples=20)
    # Sent once (a task id), but its message was lost.
    JobShard.objects.create(job=job, index=1, start=20, end=40, task_id="lost")
    part = storage_root() / job.results_dir / "parts" / "000000.part"
    part.write_text("".join(f"{i}\tpositive\n" for i in range(20)))

    assert jobs_reap_stale() == 1

    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error_message.startswith("No worker has reported progress for 1 minute(s)")
    assert JobShard.objects.get(job=job, index=1).status == ShardStatus.CANCELLED
    assert len(results_file(job).read_text().splitlines()) == 20
    summary = json.loads((results_folder(job) / "summary.json").read_text())
    assert summary["status"] == "FAILED"


@override_settings(JOB_STALE_SECONDS=60)
def test_job_waiting_behind_busy_workers_is_not_reaped(live_worker, owner):
    waiting = running_job(owner, name="waiting", heartbeat_age=timedelta(hours=1))
    JobShard.objects.create(job=waiting, index=0, start=0, end=40, task_id="sent")
    busy = running_job(owner, name="busy", heartbeat_age=timedelta(seconds=0))

    assert jobs_reap_stale() == 0
    assert Job.objects.get(pk=waiting.pk).status == JobStatus.RUNNING

    # Once no job has reported anything for the whole period, the waiting job is abandoned.
    Job.objects.filter(pk=busy.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert jobs_reap_stale() == 2
    assert Job.objects.get(pk=waiting.pk).status == JobStatus.FAILED


def test_shard_of_a_worker_that_vanished_is_requeued_and_the_job_completes(live_worker, owner):
    # A whole worker machine died: its task stays unacknowledged in Redis for hours, so
    # the reaper hands the shard to the workers that are left.
    job = running_job(owner, name="orphan", heartbeat_age=timedelta(minutes=5))
    long_ago = timezone.now() - timedelta(minutes=5)
    JobShard.objects.create(
        job=job, index=0, start=0, end=40, status="RUNNING", attempts=1,
        worker="gone-host:1", done_samples=10, started_at=long_ago, heartbeat_at=long_ago,
    )  # fmt: skip
    Job.objects.filter(pk=job.pk).update(done_samples=10)

    assert jobs_reap_stale() == 0
    job = wait_for_job(job.pk)

    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.done_samples == 40
    shard = JobShard.objects.get(job=job)
    assert shard.attempts == 2 and shard.worker != "gone-host:1"
    lines = results_file(job).read_text().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(i) for i in range(40)]


def test_deleting_a_running_job_leaves_no_results_folder_behind(make_dataset, jobs):
    from apps.jobs.services import job_delete

    dataset, root = make_dataset()
    write_sentences(root / "many.txt", 200_000, seed=13)
    job = jobs.start(dataset, "many.txt")
    wait_until(
        lambda: Job.objects.filter(pk=job.pk, status="RUNNING", done_samples__gt=0).exists(),
        what="first progress",
    )
    folder = results_folder(job)
    shard_ids = list(JobShard.objects.filter(job=job).values_list("pk", flat=True))

    job_delete(job=Job.objects.get(pk=job.pk))

    # The shards that were running notice within a second and clean up after themselves;
    # once the worker holds no task, nothing can bring the folder back.
    wait_until(lambda: not folder.exists(), what="the results folder to go")
    wait_worker_idle()
    assert not folder.exists()
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not JobShard.objects.filter(pk__in=shard_ids).exists()


@pytest.mark.parametrize("stop", ["quit", "stop_with_error"])
def test_quit_never_deadlocks_with_a_worker_holding_a_shard(live_worker, owner, stop):
    # A worker claims or flushes a shard: it locks the shard row, then the job row. A quit
    # (or an engine stop) that held the job row while it waited for the shard rows made
    # PostgreSQL kill one of the two with "deadlock detected". SQLite takes one lock for
    # the whole database, so there it only checks that both sides get through.
    import threading

    from django.db import connection, transaction

    from apps.jobs.transitions import job_stop

    job = running_job(owner, name=f"lock-{stop}", heartbeat_age=timedelta(0))
    JobShard.objects.create(job=job, index=0, start=0, end=20, status="RUNNING", attempts=1)
    pending = JobShard.objects.create(job=job, index=1, start=20, end=40)
    locked, errors, quit_waited = threading.Event(), [], []

    def quit_is_waiting_for_our_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database() AND pid <> pg_backend_pid()"
            )
            return cursor.fetchone()[0] > 0

    def worker_side() -> None:
        try:
            with transaction.atomic():
                JobShard.objects.select_for_update().get(pk=pending.pk)
                locked.set()
                if connection.vendor == "postgresql":
                    # Hold the shard until the quit is stuck behind it: then both sides
                    # really cross, which is what used to deadlock.
                    quit_waited.append(wait_until(quit_is_waiting_for_our_lock, timeout=120))
                Job.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=worker_side)
    if connection.vendor == "postgresql":
        thread.start()
        assert locked.wait(120)
    if stop == "quit":
        job_quit(job=Job.objects.get(pk=job.pk))
    else:
        job_stop(job_id=job.pk, message="stopped by the engine")
    if thread.ident is None:
        thread.start()
    thread.join(120)

    assert not thread.is_alive(), "the worker side never finished"
    assert errors == []
    if connection.vendor == "postgresql":
        assert quit_waited == [True]
    job.refresh_from_db()
    assert job.status == JobStatus.STOPPING
    assert JobShard.objects.get(pk=pending.pk).status == ShardStatus.CANCELLED
    # The RUNNING shard is a row with no worker behind it: nothing would ever end it, and
    # the cleanup between tests waits for every running shard to see the stop.
    JobShard.objects.filter(job=job, status=ShardStatus.RUNNING).update(status="STOPPED")
