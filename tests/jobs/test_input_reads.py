"""A job's input is read once per request, and once more by planning (count and index in
one pass): a multi-gigabyte dataset costs one read where it used to cost four."""

from __future__ import annotations

from collections import Counter

import pytest
from django.conf import settings

from apps.catalog.models import Dataset, MLApp, MLModel
from apps.jobs.models import Job, JobShard, JobStatus
from tests.factories import job_row, make_project
from worker import dispatch, lines, planning, readers
from worker.paths import job_input_path


@pytest.fixture
def reads(monkeypatch):
    """How many times each dataset file was counted (every count goes through _units)."""
    seen: Counter[str] = Counter()
    units = readers._units

    def spy(path):
        seen[path.name] += 1
        return units(path)

    monkeypatch.setattr(readers, "_units", spy)
    return seen


@pytest.fixture
def form_data(catalog):
    return {
        "name": "read-once",
        "ml_app": MLApp.objects.get(key="sentiment-analysis").pk,
        "model": MLModel.objects.get(name="vader-sentiment").pk,
        "dataset": Dataset.objects.get(name="finance_sentiment").pk,
        "dataset_path": "test.txt",
    }


def _post(client, project, data):
    return client.post(f"/projects/{project.pk}/jobs/new/", data)


def test_run_job_reads_the_input_once(owner_client, owner, form_data, redis_server, reads):
    project = make_project(owner, "Reads")
    response = _post(owner_client, project, form_data)

    assert response.status_code == 302
    assert Job.objects.filter(project=project, name="read-once").exists()
    assert reads == {"test.txt": 1}


def test_a_refused_run_job_reads_the_input_once_and_still_shows_the_count(
    owner_client, owner, form_data, reads
):
    project = make_project(owner, "Reads")
    job_row(owner, project, name="read-once")

    response = _post(owner_client, project, form_data)

    assert response.status_code == 400
    body = response.content.decode()
    assert "already exists in this project" in body
    assert "40 samples" in body  # the preflight line, from the form's own count
    assert reads == {"test.txt": 1}


def test_planning_counts_and_finds_every_shard_start_in_one_pass(
    owner, catalog, monkeypatch, reads
):
    sent: list[tuple[str, tuple[int, ...]]] = []
    monkeypatch.setattr(dispatch, "send", lambda name, *args, **_: sent.append((name, args)))
    lines_read = Counter[int]()
    count_lines = lines.count_lines
    monkeypatch.setattr(
        lines,
        "count_lines",
        lambda path, marks=None: lines_read.update([1]) or count_lines(path, marks),
    )
    job = job_row(
        owner,
        name="planned",
        status=JobStatus.QUEUED,
        model=MLModel.objects.get(name="vader-sentiment"),
        dataset=Dataset.objects.get(name="finance_sentiment"),
        dataset_path="test.txt",
        settings={"shard_size": 7},
    )

    planning.job_plan(job.pk)

    shards = list(JobShard.objects.filter(job=job).order_by("index"))
    assert [(s.start, s.end) for s in shards] == [(i, min(i + 7, 40)) for i in range(0, 40, 7)]
    assert reads == {"test.txt": 1} and lines_read.total() == 1
    # Each recorded offset is where its shard's first line starts in the file.
    text = job_input_path(job).read_bytes()
    starts = [0] + [i + 1 for i, byte in enumerate(text) if byte == ord("\n")]
    assert [s.input_offset for s in shards] == [starts[s.start] for s in shards]
    # Fair share: the first SHARDS_IN_FLIGHT go to the broker, the rest wait unsent.
    budget = settings.SHARDS_IN_FLIGHT
    assert sorted(args[0] for name, args in sent if name == dispatch.SHARD_RUN) == [
        s.pk for s in shards[:budget]
    ]
    assert all(s.task_id == "" for s in shards[budget:]) and len(shards) > budget
