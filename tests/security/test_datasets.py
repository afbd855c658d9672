"""Hostile dataset contents, run as real jobs on the session's workers: binary garbage, invalid
UTF-8, a 10 MB line, empty files and folders, broken and fake audio. Each sample that cannot
be read is one line in errors.jsonl (or the job ends FAILED with a message saying why when
nothing can be read); the worker processes stay the same and the next job completes."""

from __future__ import annotations

import io
import random

import pytest
from django.db import transaction

from apps.catalog.models import Dataset, MLApp, MLModel
from apps.core.storage import storage_root
from apps.jobs.services import job_create
from tests.conftest import wait_for_job
from tests.factories import make_project
from tests.runners.conftest import SAMPLE_RATE, JobRunner, espeak, user_dataset

pytestmark = pytest.mark.worker

SAMPLE_ERRORS = {
    "not valid UTF-8 text",
    "contains NUL bytes (binary data, not text)",
    "empty text",
    "text longer than 1,000,000 characters",
}


@pytest.fixture
def run_job(live_worker, owner):
    """Runs a job and checks afterwards that no worker process died or was replaced."""
    before = sorted(live_worker.children())
    assert len(before) == live_worker.concurrency
    runner = JobRunner(owner)
    yield runner
    assert sorted(live_worker.children()) == before, "a worker process died"
    follow_up = runner("sentiment-analysis", "vader-sentiment", "finance_sentiment")
    assert follow_up.job.status == "COMPLETED", follow_up.job.error_message
    assert follow_up.job.done_samples == 40


def _garbage() -> bytes:
    return random.Random(10).randbytes(256 * 1024)  # noqa: S311 - repeatable noise


TEXT_CASES = [
    ("binary-garbage", _garbage()),
    ("invalid-utf8", b"good morning\n\xff\xfe\xfd broken\n\xc3\x28 half\nnice day\n"),
    ("10mb-line", b"great " * (10 * 1024 * 1024 // 6) + b"\nfine\n"),
    ("nul-and-blank", b"ok then\nnul\x00inside\n\n   \nlast line, no newline"),
]


@pytest.mark.parametrize("case,content", TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_bad_text_lines_become_per_sample_errors(run_job, owner, files_watch, case, content):
    dataset = user_dataset(owner, "sentiment-analysis", {"data.txt": content}, case)
    finished = run_job("sentiment-analysis", "vader-sentiment", dataset, "data.txt")
    job = finished.job
    lines = content.split(b"\n")
    total = len(lines) - (1 if content.endswith(b"\n") else 0)
    assert job.total_samples == total
    errors = finished.errors()
    assert errors and {e["reason"] for e in errors} <= SAMPLE_ERRORS, errors[:5]
    for error in errors:  # each error names its line, and that line is bad the way it says
        assert error["input"] == f"data.txt line {error['index'] + 1}"
        raw = lines[error["index"]]
        assert BAD_BECAUSE[error["reason"]](raw), (error, raw[:80])
    assert job.failed_samples == len(errors) and job.done_samples + job.failed_samples == total
    assert len(finished.lines()) == job.done_samples
    if job.done_samples:
        assert job.status == "COMPLETED", job.error_message
    else:  # nothing at all could be read: FAILED, and the message says so
        assert job.status == "FAILED" and "errors.jsonl" in job.error_message, job.error_message
    files_watch.assert_only_under(f"storage/{dataset.folder}/", f"storage/{job.results_dir}/")


def _invalid(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


# Each reason of errors.jsonl, and what must then be true of the line it names.
BAD_BECAUSE = {
    "not valid UTF-8 text": _invalid,
    "contains NUL bytes (binary data, not text)": lambda raw: b"\x00" in raw and not _invalid(raw),
    "empty text": lambda raw: not raw.strip(),
    "text longer than 1,000,000 characters": lambda raw: len(raw) > 1_000_000,
}


def test_a_text_file_named_wav_in_a_text_dataset_is_not_read_as_text(run_job, owner):
    dataset = user_dataset(
        owner,
        "sentiment-analysis",
        {"notes.txt": b"a fine day\n", "fake.wav": b"this is not audio\n"},
        "fake-wav-text",
    )
    finished = run_job("sentiment-analysis", "vader-sentiment", dataset, "")
    assert finished.job.status == "COMPLETED", finished.job.error_message
    results = "\n".join(finished.lines())
    assert str(storage_root()) not in results  # the file's path was never scored as text
    assert finished.errors() == [
        {"index": 0, "input": "fake.wav", "reason": "an audio file, but this ML App reads text"}
    ]


def test_links_inside_a_dataset_folder_are_not_followed(run_job, linked_dataset, files_watch):
    """The folder holds data.txt, leak.txt (a link to a file outside) and escape/ (a link to
    a folder outside): a job on the whole folder reads data.txt alone."""
    finished = run_job("sentiment-analysis", "vader-sentiment", linked_dataset, ".")
    assert finished.job.status == "COMPLETED", finished.job.error_message
    assert finished.job.total_samples == 1 and finished.job.done_samples == 1
    assert not (finished.folder / "errors.jsonl").read_text()
    summary = finished.summary()
    assert summary["counts"] == {"total": 1, "done": 1, "failed": 0}
    files_watch.assert_only_under(f"storage/{finished.job.results_dir}/")


def test_an_empty_file_fails_the_job_with_a_message(run_job, owner):
    dataset = user_dataset(owner, "sentiment-analysis", {"empty.txt": b""}, "empty-file")
    finished = run_job("sentiment-analysis", "vader-sentiment", dataset, "empty.txt")
    assert finished.job.status == "FAILED"
    assert finished.job.error_message == "The dataset path 'empty.txt' holds no samples."


def test_an_empty_folder_is_refused_and_one_emptied_later_fails_with_a_message(
    run_job, owner, files_watch
):
    from django.core.exceptions import ValidationError

    dataset = user_dataset(owner, "sentiment-analysis", {"folder/a.txt": b"fine\n"}, "emptied")
    folder = storage_root() / dataset.folder / "folder"
    (folder / "a.txt").unlink()
    kwargs = {
        "user": owner,
        "project": make_project(owner),
        "name": "empty-folder",
        "ml_app": MLApp.objects.get(key="sentiment-analysis"),
        "model": MLModel.objects.get(name="vader-sentiment"),
        "dataset": dataset,
        "dataset_path": "folder",
    }
    with pytest.raises(ValidationError, match="holds no readable files"):
        job_create(**kwargs)
    (folder / "a.txt").write_text("fine\n")
    with transaction.atomic():  # emptied after the check, before any worker looks
        job = job_create(**kwargs)
        (folder / "a.txt").unlink()
    job = wait_for_job(job.pk)
    assert job.status == "FAILED"
    assert "holds no readable files" in job.error_message, job.error_message
    assert not (storage_root() / job.results_dir / "parts").exists()
    files_watch.assert_only_under(f"storage/{dataset.folder}/", f"storage/{job.results_dir}/")


def test_broken_and_fake_audio_are_per_sample_errors(run_job, owner, tmp_path):
    import soundfile

    clip = espeak("en-us", "Hello, this is a short test of the speech recognition.")
    buffer = io.BytesIO()
    soundfile.write(buffer, clip, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    wav = buffer.getvalue()
    files = {
        "a-whole.wav": wav,
        "b-cut-in-half.wav": wav[: len(wav) // 2],  # the header still claims the full length
        "c-cut-in-header.wav": wav[:30],
        "d-text.wav": b"This is a text file with a .wav name.\n" * 20,
        "e-empty.wav": b"",
        # A text file naming audio outside the dataset: never opened as a path.
        "f-list.txt": str(tmp_path / "private.wav").encode(),
    }
    (tmp_path / "private.wav").write_bytes(wav)
    dataset = user_dataset(owner, "speech-recognition", files, "broken-audio")
    finished = run_job("speech-recognition", "whisper-tiny.en", dataset, "", num_speakers=1)
    job = finished.job
    assert job.status == "COMPLETED", job.error_message
    assert job.total_samples == 6 and job.done_samples + job.failed_samples == 6
    failed = {e["input"]: e["reason"] for e in finished.errors()}
    assert set(failed) == {"c-cut-in-header.wav", "d-text.wav", "e-empty.wav", "f-list.txt"}
    assert failed.pop("f-list.txt") == "not an audio file (this ML App reads audio files)"
    for reason in failed.values():
        assert reason.startswith(("not a readable audio file", "the audio file holds no sound"))
    assert "private" not in "\n".join(finished.lines())
    assert not list(finished.folder.glob("segments/*private*"))
    rows = [line.split(",")[0] for line in finished.lines()[1:]]
    assert "a-whole.wav" in rows and "b-cut-in-half.wav" in rows  # what is there is read
    assert Dataset.objects.filter(pk=dataset.pk).exists()
