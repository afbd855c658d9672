"""The speaker count: `auto` on conversations of one sex's voices, a range, a per-file column.

The audio is made with espeak-ng once a session (tests/runners/speech_cases.py); jobs run
through the real service and worker with Whisper tiny.en, as in test_speech.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from apps.catalog.models import MLApp, MLModel, Visibility
from apps.jobs.services import job_create
from tests.factories import make_project
from tests.runners.conftest import Conversation, user_dataset
from tests.runners.speech_cases import SPEAKER_COUNTS
from worker.runners.speaker_count import (
    SpeakerCount,
    by_threshold,
    cluster,
    group_units,
    parse_speakers,
    speakers_from_settings,
    speakers_problems,
)


def rows_by_file(finished) -> dict[str, list[list[str]]]:
    with finished.results.open(newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))[1:]
    files: dict[str, list[list[str]]] = {}
    for row in table:
        files.setdefault(row[0], []).append(row)
    return files


def wav_files(conversations: dict[str, Conversation], tmp_path, names) -> dict[str, bytes]:
    return {
        f"calls/{name}.wav": conversations[name].write(tmp_path / f"{name}.wav").read_bytes()
        for name in names
    }


# --- the count found with auto ----------------------------------------------------------


def _turn_problem(rows: list[list[str]], conversation: Conversation, expected: int) -> str:
    """Why the rows are not one row a turn, starting within 0.5 s of the voice, with one
    identifier a voice and `expected` of them; empty when they are."""
    truth = conversation.turns
    if len({row[2] for row in rows}) != expected:
        return f"{len({row[2] for row in rows})} speakers, not {expected}"
    if len(rows) != len(truth):
        return f"{len(rows)} rows for {len(truth)} turns"
    label_of: dict[str, str] = {}
    for row, turn in zip(rows, truth, strict=True):
        if abs(float(row[3]) - turn.start) > 0.5:
            return f"a turn at {turn.start:.2f} s starts at {row[3]} s"
        if label_of.setdefault(turn.voice, row[2]) != row[2]:
            return f"{turn.voice} is both {label_of[turn.voice]} and {row[2]}"
    return ""


@pytest.mark.worker
def test_auto_finds_each_conversations_speakers_and_their_turns(
    run_job, owner, speaker_conversations, tmp_path
):
    """A monologue, two men, three men, two men and two women: nothing is told. Each file
    has its exact count, one identifier a voice, and every turn starts within 0.5 s."""
    files = wav_files(speaker_conversations, tmp_path, SPEAKER_COUNTS)
    dataset = user_dataset(owner, "speech-recognition", files, "speaker-counts")
    finished = run_job("speech-recognition", "whisper-tiny.en", dataset, "calls")
    assert finished.job.status == "COMPLETED", finished.job.error_message
    found = rows_by_file(finished)
    problems = {
        name: _turn_problem(found[f"{name}.wav"], speaker_conversations[name], expected)
        for name, expected in SPEAKER_COUNTS.items()
    }
    assert problems == dict.fromkeys(SPEAKER_COUNTS, ""), problems
    summary = finished.summary()
    assert summary["speakers"] == "auto" and "speakers_column" not in summary


@pytest.mark.worker
def test_a_range_bounds_what_auto_finds(run_job, owner, speaker_conversations, tmp_path):
    files = wav_files(speaker_conversations, tmp_path, ["four", "monologue"])
    dataset = user_dataset(owner, "speech-recognition", files, "speaker-range")
    finished = run_job(
        "speech-recognition",
        "whisper-tiny.en",
        dataset,
        "calls",
        min_speakers=2,
        max_speakers=3,
    )
    assert finished.job.status == "COMPLETED", finished.job.error_message
    found = rows_by_file(finished)
    assert len({row[2] for row in found["four.wav"]}) == 3  # four voices, at most three
    assert len({row[2] for row in found["monologue.wav"]}) == 2  # one voice, at least two
    assert finished.summary()["speakers"] == "auto 2-3"


@pytest.mark.worker
def test_a_speakers_column_gives_each_file_its_count(
    run_job, owner, speaker_conversations, tmp_path
):
    files = wav_files(speaker_conversations, tmp_path, ["monologue", "three"])
    table = (
        "call,audio,speakers\n"
        "A,calls/monologue.wav,1\n"
        "B,calls/three.wav,3\n"
        "C,calls/three.wav,lots\n"
        "D,calls/monologue.wav,\n"
    )
    files["calls.csv"] = table.encode()
    dataset = user_dataset(owner, "speech-recognition", files, "speaker-column")
    finished = run_job(
        "speech-recognition",
        "whisper-tiny.en",
        dataset,
        "calls.csv",
        input_column="audio",
        id_column="call",
        speakers_column="speakers",
        num_speakers=2,  # the job's setting: only row D, whose cell is empty, takes it
    )
    assert finished.job.status == "COMPLETED", finished.job.error_message
    joined = [
        json.loads(line)
        for line in (finished.folder / "results_joined.jsonl").read_text().splitlines()
    ]
    speakers: dict[str, set[str]] = {}
    for row in joined:
        if row["error"] is None:
            speakers.setdefault(row["call"], set()).add(row["speaker"])
    assert {call: len(found) for call, found in speakers.items()} == {"A": 1, "B": 3, "D": 2}
    (error,) = finished.errors()
    assert error["index"] == 2 and error["input"] == "calls.csv row 4"
    assert error["reason"] == (
        "the speakers column holds 'lots': give a number of speakers from 1 to 20, auto, "
        "or a range such as 2-4"
    )
    summary = finished.summary()
    assert summary["speakers_column"] == "speakers" and summary["speakers"] == "2"


# --- refusals at create (wizard, API and CLI share job_settings_check) -------------------


@pytest.fixture
def speech_job(catalog, owner):
    project = make_project(owner, name="Speaker settings")
    app = MLApp.objects.get(key="speech-recognition")
    model = MLModel.objects.get(name="whisper-tiny.en", visibility=Visibility.PLATFORM)

    def create(dataset, path="", **settings):
        return job_create(
            user=owner,
            project=project,
            name="speakers",
            ml_app=app,
            model=model,
            dataset=dataset,
            dataset_path=path,
            settings=settings,
        )

    return create


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        (
            {"min_speakers": 4, "max_speakers": 2},
            "min_speakers",
            "The minimum number of speakers (4) is more than the maximum (2).",
        ),
        (
            {"num_speakers": 5, "max_speakers": 3},
            "num_speakers",
            "5 speakers is outside the range 1-3 given by min_speakers and max_speakers: "
            "give the number or the range, not both.",
        ),
        ({"max_speakers": 21}, "max_speakers", "Must be at most 20."),
    ],
)
def test_inconsistent_speaker_settings_are_refused_with_a_sentence(
    speech_job, owner, settings, field, message
):
    dataset = user_dataset(owner, "speech-recognition", {"a.wav": b"RIFF"}, "refusals")
    with pytest.raises(ValidationError) as refused:
        speech_job(dataset, **settings)
    assert refused.value.message_dict["settings"] == [f"{field}: {message}"]


def test_a_speakers_column_the_table_lacks_is_refused(speech_job, owner):
    table = b"audio,count\na.wav,2\n"
    dataset = user_dataset(owner, "speech-recognition", {"t.csv": table, "a.wav": b"RIFF"}, "t")
    with pytest.raises(ValidationError) as refused:
        speech_job(dataset, "t.csv", input_column="audio", speakers_column="speakers")
    assert refused.value.message_dict["speakers_column"] == [
        "t.csv has no column 'speakers' (its columns: audio, count)."
    ]


# --- the clustering and the setting, on their own ----------------------------------------


def _voices(centres: int, per_voice: int, spread: float, seed: int = 0) -> np.ndarray:
    """Unit vectors around `centres` random directions, `per_voice` each, in voice order."""
    rng = np.random.default_rng(seed)
    axes = rng.normal(size=(centres, 256))
    points = np.repeat(axes, per_voice, axis=0) / np.sqrt(256)
    points += rng.normal(scale=spread / np.sqrt(256), size=points.shape)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


@pytest.mark.parametrize("voices", [1, 2, 3, 4])
def test_auto_counts_well_separated_voices(voices):
    points = _voices(voices, per_voice=4, spread=0.3)
    assert by_threshold(points, SpeakerCount()) == voices


def test_the_bounds_clip_the_count_found():
    points = _voices(4, per_voice=3, spread=0.3)
    assert by_threshold(points, SpeakerCount(low=1, high=2)) == 2
    assert by_threshold(_voices(1, 6, 0.3), SpeakerCount(low=3, high=5)) == 3


def test_windows_of_one_region_keep_their_speaker_and_a_fixed_count_is_kept():
    points = _voices(3, per_voice=4, spread=0.3, seed=1)
    windows = [(i // 2, i * 0.8, i * 0.8 + 1.6) for i in range(len(points))]  # 2 a region
    labels = cluster(points, windows, SpeakerCount())
    assert [len(set(labels[i : i + 4])) for i in range(0, 12, 4)] == [1, 1, 1]
    assert len(set(labels)) == 3
    assert len(set(cluster(points, windows, SpeakerCount(fixed=2)))) == 2


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("3", SpeakerCount(fixed=3)),
        (2, SpeakerCount(fixed=2)),
        (4.0, SpeakerCount(fixed=4)),
        ("auto", SpeakerCount(low=2, high=5)),
        ("2-4", SpeakerCount(low=2, high=4)),
        (" 3 - 3 ", SpeakerCount(fixed=3)),
        ("", SpeakerCount(low=2, high=5)),
        (None, SpeakerCount(low=2, high=5)),
    ],
)
def test_a_speakers_cell_is_a_number_auto_or_a_range(cell, expected):
    assert parse_speakers(cell, SpeakerCount(low=2, high=5)) == (expected, None)


@pytest.mark.parametrize("cell", ["0", "21", "4-2", "two", "-1", True, 2.5, "\u00b2", "\u00b2-3"])
def test_a_bad_speakers_cell_says_what_is_wanted(cell):
    found, problem = parse_speakers(cell, SpeakerCount())
    assert found is None and problem is not None
    assert "a number of speakers from 1 to 20, auto, or a range such as 2-4" in problem


def test_an_auto_cell_searches_the_jobs_range_even_with_a_fixed_number():
    job = speakers_from_settings({"num_speakers": 3, "min_speakers": 2, "max_speakers": 4})
    assert job.fixed == 3 and job.describe() == "3"
    assert parse_speakers("auto", job) == (SpeakerCount(low=2, high=4), None)


def test_units_that_all_embed_alike_do_not_break_the_grouping():
    unit = np.ones((1, 8)) / np.sqrt(8)
    alike = np.repeat(unit, 4, axis=0)
    assert group_units(alike, 2).tolist() == [0, 0, 0, 0]
    mixed = np.vstack([alike[:2], np.eye(8)[:1], alike[:1]])  # one unit sits at the mean
    assert len(group_units(mixed, 2)) == 4


def test_a_fixed_count_inside_the_range_is_accepted():
    assert speakers_problems({"num_speakers": 3, "min_speakers": 2, "max_speakers": 4}) == {}
    assert speakers_problems({"num_speakers": "auto", "min_speakers": 2}) == {}
