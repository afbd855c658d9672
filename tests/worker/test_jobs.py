"""Sharded jobs through real Redis and real Celery worker processes: order, bad samples,
the error threshold.

The session worker has two pool processes, so shards of one job run side by side.
"""

from __future__ import annotations

import csv
import io
import json

import pytest

from apps.jobs.models import JobShard, JobStatus, ShardStatus
from bench.data import write_sentences
from worker.runners.sentiment import VaderRunner

from .conftest import results_file, results_folder

pytestmark = pytest.mark.worker


def vader_labels(texts: list[str]) -> list[str]:
    return [label for label, _ in VaderRunner().predict(texts)]


def test_indexes_are_global_and_in_order_across_shards(make_dataset, jobs):
    dataset, root = make_dataset()
    write_sentences(root / "reviews.txt", 20_000, seed=1)
    texts = (root / "reviews.txt").read_text(encoding="utf-8").splitlines()

    job = jobs.run(dataset, "reviews.txt", shard_size=2_000)

    assert job.status == JobStatus.COMPLETED, job.error_message
    shards = list(JobShard.objects.filter(job=job))
    assert len(shards) == 10
    assert {s.status for s in shards} == {ShardStatus.DONE}
    # Planning found where each shard starts in the file, so no shard counts lines.
    assert all(s.input_offset is not None for s in shards)
    # Which pool process ran which shard is the scheduler's business (on a loaded machine
    # one process may take them all); the results must not depend on it.
    lines = results_file(job).read_text(encoding="utf-8").splitlines()
    expected = [f"{i}\t{label}" for i, label in enumerate(vader_labels(texts))]
    assert lines == expected
    assert job.done_samples == job.total_samples == 20_000
    assert not (results_folder(job) / "parts").exists()


def test_folder_of_mixed_files_is_read_in_sorted_order_with_global_indexes(make_dataset, jobs):
    csv_rows = [
        f"Row {i}: profits rose strongly" if i % 3 else f"Row {i}: losses" for i in range(30)
    ]
    csv_rows[4] = "A quoted\nmulti-line review, sadly terrible"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "text"])
    writer.writerows([i, text] for i, text in enumerate(csv_rows))
    jsonl_texts = [f"Item {i} was {'great' if i % 2 else 'awful'}" for i in range(25)]
    docs = {
        "docs/a.txt": "A wonderful quarter.",
        "docs/b.txt": "Terrible fraud.",
        "docs/c.txt": "Fine.",
    }
    files = {
        "01.csv": buffer.getvalue().encode(),
        "02.jsonl": "".join(json.dumps({"text": t}) + "\n" for t in jsonl_texts).encode(),
        ".hidden.txt": b"never read\n",
        "labels.txt": b"negative\npositive\n",
        **{name: text.encode() for name, text in docs.items()},
    }
    dataset, _ = make_dataset(files)

    job = jobs.run(dataset, "", shard_size=7)

    assert job.status == JobStatus.COMPLETED, job.error_message
    texts = csv_rows + jsonl_texts + list(docs.values())
    assert job.total_samples == len(texts) == 58
    assert JobShard.objects.filter(job=job).count() == 9  # ranges cross file boundaries
    lines = results_file(job).read_text(encoding="utf-8").splitlines()
    assert lines == [f"{i}\t{label}" for i, label in enumerate(vader_labels(texts))]


CORRUPT_LINES = [
    b"Profits soared to a record high.",
    b"\xff\xfe broken \xc3\x28 bytes",  # not UTF-8
    b"The outlook is grim and losses widen.",
    b"",  # empty line
    b"Investors cheered the excellent results.",
    b" \t ",  # blank
    b"Margins improved nicely.",
    b"binary\x00data",
    b"Sales collapsed after the scandal.",
    b"Guidance was raised again.",
    b"A solid, reassuring quarter.",
    b"Debt worries hurt the shares.",
]
BAD_INDEXES = {1: "not valid UTF-8 text", 3: "empty text", 5: "empty text"}
BAD_INDEXES[7] = "contains NUL bytes (binary data, not text)"


def corrupt_dataset(make_dataset):
    return make_dataset({"mixed.txt": b"\n".join(CORRUPT_LINES) + b"\n"})[0]


def test_bad_samples_go_to_errors_jsonl_and_the_job_carries_on(make_dataset, jobs):
    job = jobs.run(corrupt_dataset(make_dataset), "mixed.txt", shard_size=3)

    assert job.status == JobStatus.COMPLETED, job.error_message
    assert (job.done_samples, job.failed_samples, job.total_samples) == (8, 4, 12)
    folder = results_folder(job)
    errors = [json.loads(line) for line in (folder / "errors.jsonl").read_text().splitlines()]
    assert {e["index"]: e["reason"] for e in errors} == BAD_INDEXES
    assert [e["index"] for e in errors] == sorted(BAD_INDEXES)
    assert errors[0]["input"] == "mixed.txt line 2"
    good = [i for i in range(12) if i not in BAD_INDEXES]
    texts = [CORRUPT_LINES[i].decode() for i in good]
    lines = results_file(job).read_text().splitlines()
    assert lines == [f"{i}\t{label}" for i, label in zip(good, vader_labels(texts), strict=True)]
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "COMPLETED"
    assert summary["counts"] == {"total": 12, "done": 8, "failed": 4}
    assert summary["error_reasons"] == {
        "empty text": 2,
        "not valid UTF-8 text": 1,
        "contains NUL bytes (binary data, not text)": 1,
    }
    assert summary["model"] == "vader-sentiment"
    assert summary["dataset"]["path"] == "mixed.txt"
    assert summary["settings"]["shard_size"] == 3
    assert summary["shards"]["count"] == 4
    assert summary["timings"]["seconds"] >= 0


@pytest.mark.parametrize(
    ("threshold", "status"),
    [
        ("3", "FAILED"),
        ("25%", "FAILED"),
        ("0.3", "FAILED"),
        ("4", "COMPLETED"),
        ("50%", "COMPLETED"),
    ],
)
def test_error_threshold_decides_whether_the_job_fails(make_dataset, jobs, threshold, status):
    job = jobs.run(corrupt_dataset(make_dataset), "mixed.txt", error_threshold=threshold)

    assert job.status == status, job.error_message
    if status == "FAILED":
        assert "error threshold" in job.error_message
        assert "errors.jsonl" in job.error_message
    summary = json.loads((results_folder(job) / "summary.json").read_text())
    assert summary["status"] == status
    # The results of the samples that worked are kept either way.
    assert len(results_file(job).read_text().splitlines()) == 8


def test_job_whose_every_sample_fails_is_failed_with_the_reason(make_dataset, jobs):
    dataset, _ = make_dataset({"blank.txt": b"\n\n \n"})

    job = jobs.run(dataset, "blank.txt")

    assert job.status == JobStatus.FAILED
    assert job.error_message == (
        "All 3 samples failed (most common reason: empty text). See errors.jsonl."
    )


def test_passing_a_count_threshold_stops_the_remaining_shards_early(make_dataset, jobs):
    # 100,000 unreadable lines in 50 shards: once one shard reports its failures the job
    # cannot succeed, so the shards still queued are cancelled.
    dataset, root = make_dataset()
    (root / "bad.txt").write_bytes(b"\xff\n" * 100_000)

    job = jobs.run(dataset, "bad.txt", error_threshold="10")

    assert job.status == JobStatus.FAILED
    assert "stopped early" in job.error_message
    shards = JobShard.objects.filter(job=job)
    assert shards.filter(status=ShardStatus.CANCELLED, attempts=0).exists()
    assert job.failed_samples < job.total_samples == 100_000
    assert sum(1 for _ in (results_folder(job) / "errors.jsonl").open()) == job.failed_samples
