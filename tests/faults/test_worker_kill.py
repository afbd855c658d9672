"""A whole worker (its `celery worker` parent and pool processes) is killed with SIGKILL
mid-job while another worker runs: the reaper hands its shard to the survivor and the
results are byte-identical to an uninterrupted run.

A killed pool process alone (its parent alive, Celery redelivers the task) is covered by
tests/worker/test_resilience.py::test_killed_worker_process_loses_only_its_shard_and_results_are_identical.
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.jobs.models import Job, JobShard, JobStatus, ShardStatus
from bench.data import write_sentences
from tests.worker.conftest import results_file, results_folder
from worker.reaper import jobs_reap_stale

from .conftest import finish_with_reaper, job_row, record, wait_until

pytestmark = pytest.mark.worker


def test_killed_worker_group_loses_nothing_and_results_are_identical(
    make_dataset, jobs, live_worker, second_worker
):
    dataset, root = make_dataset()
    write_sentences(root / "reviews.txt", 200_000, seed=31)
    settings = {"shard_size": 25_000}
    clean = jobs.run(dataset, "reviews.txt", **settings)
    assert clean.status == JobStatus.COMPLETED, clean.error_message

    job = jobs.start(dataset, "reviews.txt", **settings)
    doomed = set(second_worker.children())
    victim = wait_until(
        lambda: next(
            (
                s
                for s in JobShard.objects.filter(
                    job_id=job.pk, status=ShardStatus.RUNNING, done_samples__gt=0
                )
                if int(s.worker.rsplit(":", 1)[1]) in doomed
            ),
            None,
        ),
        what="a shard in progress on the second worker",
    )
    os.killpg(second_worker.proc.pid, signal.SIGKILL)
    killed, killed_at = time.monotonic(), timezone.now()
    second_worker.proc.wait(timeout=60)

    job = finish_with_reaper(job.pk)
    recovered = time.monotonic() - killed

    assert job.status == JobStatus.COMPLETED, job.error_message
    assert results_file(job).read_bytes() == results_file(clean).read_bytes()
    assert job.done_samples == job.total_samples == 200_000
    shards = {s.index: s for s in JobShard.objects.filter(job=job)}
    taken_over = shards[victim.index]
    assert taken_over.attempts == 2
    assert int(taken_over.worker.rsplit(":", 1)[1]) in live_worker.children()
    # The dead worker (one pool process) held one shard: only that one ran twice.
    assert [i for i, s in sorted(shards.items()) if s.attempts > 1] == [victim.index]
    summary = json.loads((results_folder(job) / "summary.json").read_text())
    assert summary["counts"] == {"total": 200_000, "done": 200_000, "failed": 0}
    assert summary["shards"]["retried"] == 1
    assert live_worker.proc.poll() is None
    record("whole worker killed: kill → its shard taken over (reaper every 1 s)",
           (taken_over.started_at - killed_at).total_seconds())  # fmt: skip
    record("whole worker killed: kill → job COMPLETED", recovered)


def test_job_whose_last_worker_died_before_the_merge_is_merged_by_the_reaper(live_worker, owner):
    # The last shard was written and marked DONE; its worker died before merging.
    job = job_row(owner, name="unmerged", age=timedelta(minutes=1), status=JobStatus.RUNNING)
    parts = results_folder(job) / "parts"
    parts.mkdir(parents=True)
    for index, (start, end) in enumerate([(0, 20), (20, 40)]):
        JobShard.objects.create(
            job=job, index=index, start=start, end=end, status=ShardStatus.DONE,
            attempts=1, done_samples=end - start,
        )  # fmt: skip
        (parts / f"{index:06d}.part").write_text(
            "".join(f"{i}\tpositive\n" for i in range(start, end))
        )
        (parts / f"{index:06d}.errors.jsonl").write_text("")
    Job.objects.filter(pk=job.pk).update(total_samples=40, done_samples=40)

    jobs_reap_stale()

    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED, job.error_message
    lines = results_file(job).read_text().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(i) for i in range(40)]
    assert json.loads((results_folder(job) / "summary.json").read_text())["status"] == "COMPLETED"
