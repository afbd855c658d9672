"""One real job end to end: VADER over the platform dataset, through Redis and a worker."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from django.db import transaction

from apps.catalog.models import Dataset
from apps.core.storage import storage_root
from tests.conftest import wait_for_job
from tests.factories import make_project, sentiment_job

pytestmark = pytest.mark.worker


def test_sentiment_job_completes_with_reference_format(live_worker, owner):
    job = wait_for_job(sentiment_job(owner).pk)
    assert job.status == "COMPLETED", job.error_message
    assert job.results_filename == "test_results_finance_sentiment.txt"
    results = storage_root() / "results" / str(job.pk) / job.results_filename
    lines = results.read_text().splitlines()
    dataset = Dataset.objects.get(name="finance_sentiment")
    sentences = (storage_root() / dataset.folder / "test.txt").read_text().splitlines()
    assert len(lines) == len(sentences) == job.total_samples == job.done_samples == 40
    for i, line in enumerate(lines):
        assert re.fullmatch(rf"{i}\t(negative|positive)", line), line
    # Real predictions, not a constant: clear cases each way.
    assert lines[3] == "3\tpositive"  # "The board approved a generous dividend increase"
    assert lines[2] == "2\tnegative"  # "Shares plunged ... fraud investigation"
    assert lines[25] == "25\tnegative"  # "The scandal forced the chief executive to resign"
    labels = {line.split("\t")[1] for line in lines}
    assert labels == {"negative", "positive"}
    summary = json.loads((results.parent / "summary.json").read_text())
    assert summary["counts"] == {"total": 40, "done": 40, "failed": 0}
    assert summary["status"] == "COMPLETED"


def test_job_whose_dataset_folder_vanished_fails_naming_the_path(live_worker, owner):
    project = make_project(owner)
    dataset = Dataset.objects.get(name="finance_sentiment")
    folder = storage_root() / dataset.folder
    backup = folder.with_name(folder.name + ".bak")
    shutil.copytree(folder, backup)
    try:
        # Validated while the file exists, queued (on commit) only once it is gone.
        with transaction.atomic():
            job = sentiment_job(owner, project)
            shutil.rmtree(folder)
        job = wait_for_job(job.pk)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        backup.rename(folder)
    assert job.status == "FAILED"
    assert "test.txt" in job.error_message and "no longer exists" in job.error_message
    assert dataset.folder in job.error_message, job.error_message


def test_job_window_shows_status_and_results_path(live_worker, owner, client):
    client.force_login(owner)
    job = wait_for_job(sentiment_job(owner).pk)
    page = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Completed" in page
    assert f"results/{job.pk}/test_results_finance_sentiment.txt" in page
