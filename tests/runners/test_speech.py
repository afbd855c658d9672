"""Speech recognition with diarization, run by the real worker on speech made by espeak-ng."""

from __future__ import annotations

import csv
import json
import re

import pytest
import soundfile

from tests.runners.conftest import Conversation, user_dataset
from worker.quality import word_error_rate

pytestmark = pytest.mark.worker

HEADER = [
    "input_file",
    "segment_file",
    "speaker",
    "start",
    "duration",
    "transcript",
    "annotated_transcript",
]


def rows_of(finished) -> list[list[str]]:
    with finished.results.open(newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    assert table[0] == HEADER
    assert all(len(row) == 7 for row in table)
    return table[1:]


def test_two_speaker_conversation_is_diarized_and_transcribed(
    run_job, owner, conversation: Conversation, tmp_path
):
    audio = conversation.write(tmp_path / "meeting.wav").read_bytes()
    dataset = user_dataset(owner, "speech-recognition", {"calls/meeting.wav": audio}, "calls")
    finished = run_job("speech-recognition", "whisper-tiny.en", dataset, "calls")
    assert finished.job.status == "COMPLETED", finished.job.error_message
    assert finished.results.name == "predictions.csv"
    rows = rows_of(finished)

    # One row per turn, boundaries within 0.5 s of where each voice really spoke.
    truth = conversation.turns
    assert len(rows) == len(truth), rows
    for row, turn in zip(rows, truth, strict=True):
        start, duration = float(row[3]), float(row[4])
        assert abs(start - turn.start) <= 0.5, (row, turn)
        assert abs(start + duration - turn.end) <= 0.5, (row, turn)

    # Both speakers found, and each voice always gets the same identifier.
    speaker_of = {}
    for row, turn in zip(rows, truth, strict=True):
        speaker_of.setdefault(turn.voice, row[2])
        assert row[2] == speaker_of[turn.voice]
    assert sorted(speaker_of.values()) == ["SPEAKER_00", "SPEAKER_01"]

    wer = word_error_rate(" ".join(row[5] for row in rows), " ".join(t.text for t in truth))
    print(f"tiny.en WER on the espeak conversation: {wer:.3f}")
    assert wer <= 0.25

    for row in rows:
        assert row[0] == "meeting.wav"
        raw, annotated = row[5], row[6]
        assert raw == raw.lower() and not re.search(r"[.,?!;:]", raw)
        assert re.search(r"[A-Z]", annotated) and re.search(r"[.,?!]", annotated)
        segment = finished.folder / row[1]
        assert row[1].startswith("segments/") and segment.is_file()
        info = soundfile.info(segment)
        assert info.samplerate == 16000
        assert abs(info.duration - float(row[4])) < 0.05

    summary = finished.summary()
    assert summary["segments_folder"] == "segments/"
    assert summary["counts"] == {"total": 1, "done": 1, "failed": 0}


def test_every_audio_format_is_read_and_a_corrupt_file_lands_in_errors(
    run_job, owner, conversation: Conversation, tmp_path
):
    first = conversation.turns[0]
    clip = Conversation(
        conversation.audio[: int((first.end + 0.3) * 16000)], conversation.turns[:1]
    )
    files = {
        "a.flac": clip.write(tmp_path / "a.flac").read_bytes(),
        "b.mp3": clip.write(tmp_path / "b.mp3").read_bytes(),
        "c.ogg": clip.write(tmp_path / "c.ogg", format="OGG", subtype="VORBIS").read_bytes(),
        "d.wav": clip.write(tmp_path / "d.wav").read_bytes(),
        "e_broken.mp3": b"ID3\x03\x00\x00\x00" + bytes(range(256)) * 8,
    }
    dataset = user_dataset(owner, "speech-recognition", files, "formats")
    finished = run_job("speech-recognition", "whisper-tiny.en", dataset, num_speakers=1)
    assert finished.job.status == "COMPLETED", finished.job.error_message
    rows = rows_of(finished)
    assert [row[0] for row in rows] == ["a.flac", "b.mp3", "c.ogg", "d.wav"]
    for row in rows:
        assert row[2] == "SPEAKER_00"
        assert word_error_rate(row[5], first.text) <= 0.25, row
    (error,) = finished.errors()
    assert error["index"] == 4 and error["input"] == "e_broken.mp3"
    assert error["reason"] == (
        "not a readable audio file (wav, flac, mp3, ogg, m4a): "
        "invalid data found when processing input"
    )
    assert finished.summary()["error_reasons"] == {error["reason"]: 1}


def _video_only(path):
    """A file with a video stream and no audio (an .m4a that is really a silent clip)."""
    import av
    import numpy as np

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width = stream.height = 32
        for _ in range(3):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_unreadable_audio_reasons_are_sentences_without_errno_or_path(tmp_path):
    """What errors.jsonl and the job window say for each way a file can fail to decode:
    FFmpeg's own words, never `[Errno 1094995529]`, an exception class or the worker's path."""
    from worker.runners import SampleFailure
    from worker.runners.asr import AsrRunner, Options
    from worker.runners.speaker_count import SpeakerCount

    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"ID3\x03\x00\x00\x00" + bytes(range(256)) * 8)
    text = tmp_path / "notes.wav"
    text.write_text("these are meeting notes, not a recording\n")
    silent = tmp_path / "silent.wav"
    silent.write_bytes(b"")
    video = _video_only(tmp_path / "clip.m4a")
    runner = AsrRunner(None, Options("en", 5, SpeakerCount()), tmp_path / "out", tmp_path)
    prefix = "not a readable audio file (wav, flac, mp3, ogg, m4a): "
    expected = {
        broken: prefix + "invalid data found when processing input",
        text: prefix + "invalid data found when processing input",
        silent: prefix + "invalid data found when processing input",
        video: prefix + "it has no audio track",
        tmp_path / "gone.wav": prefix + "no such file or directory",
    }
    for path, reason in expected.items():
        result = runner.transcribe(path, lambda: False)
        assert isinstance(result, SampleFailure), path
        assert result.reason == reason
        assert str(tmp_path) not in result.reason
        assert not re.search(r"Errno|\d{5,}|Error\b|\[|'", result.reason), result.reason


def test_whisper_base_transcribes_the_platform_call(run_job):
    finished = run_job("speech-recognition", "whisper-base", "meeting_audio", num_speakers=2)
    assert finished.job.status == "COMPLETED", finished.job.error_message
    rows = rows_of(finished)
    assert [row[2] for row in rows] == [f"SPEAKER_0{i % 2}" for i in range(5)]
    text = " ".join(row[5] for row in rows)
    for phrase in ("support desk", "order number", "delivered tomorrow"):
        assert phrase in text


@pytest.fixture(scope="session")
def tiny_en_runner(tmp_path_factory):
    from pathlib import Path

    from worker.runners import ModelRef, asr

    out: Path = tmp_path_factory.mktemp("asr-results")
    model = ModelRef("whisper-tiny.en", "builtin", "whisper-tiny.en")
    return asr.PLUGIN.load(model, {"num_speakers": 2}, output_dir=out, dataset_dir=out.parent)


def test_a_quit_stops_inside_a_long_file(tiny_en_runner, conversation: Conversation, tmp_path):
    import numpy as np

    from worker.runners import Stopped

    short = conversation.write(tmp_path / "short.wav")
    long = Conversation(np.tile(conversation.audio, 4), []).write(tmp_path / "long.wav")
    calls: list[int] = []

    def counting() -> bool:
        calls.append(1)
        return False

    (whole,) = tiny_en_runner.predict([str(short)], should_stop=counting)
    looks = len(calls)
    calls.clear()

    def quit_in_the_long_file() -> bool:
        calls.append(1)
        return len(calls) >= looks + 3  # the job is quit while Whisper decodes it

    with pytest.raises(Stopped) as stopped:
        tiny_en_runner.predict([str(short), str(long)], should_stop=quit_in_the_long_file)
    # The finished file is handed back to be written; the unfinished one is not a failure.
    assert stopped.value.done == [whole]
    assert len(calls) == looks + 3  # checked between steps, then it gave up at once


def test_a_quit_is_seen_inside_one_window(tiny_en_runner, conversation: Conversation, tmp_path):
    """A 30 s window is an encode, a generate and an align: a quit after the encode must not
    wait for the rest of the window (for Whisper base that is about a second more)."""
    from worker.runners import Stopped
    from worker.runners.whisper import Checkpointed

    checkpointed = tiny_en_runner._whisper.model
    assert isinstance(checkpointed, Checkpointed)
    inner = checkpointed._model
    calls: list[str] = []

    class Recording:
        def __getattr__(self, name: str):
            attribute = getattr(inner, name)
            if name not in Checkpointed.CALLS:
                return attribute

            def recorded(*args, **kwargs):
                calls.append(name)
                return attribute(*args, **kwargs)

            return recorded

    checkpointed._model = Recording()
    try:
        path = conversation.write(tmp_path / "one-window.wav")
        with pytest.raises(Stopped) as stopped:
            tiny_en_runner.predict([str(path)], should_stop=lambda: "encode" in calls)
    finally:
        checkpointed._model = inner
    assert calls == ["encode"]  # the quit came while encoding; generate never started
    assert stopped.value.done == []
    assert checkpointed.should_stop() is False  # the shard's callback is not kept


def test_a_table_of_audio_paths_gives_one_joined_row_per_segment_with_its_id(
    run_job, owner, conversation: Conversation, tmp_path
):
    audio = conversation.write(tmp_path / "meeting.wav").read_bytes()
    table = "call_id,recording,agent\nC-7,clips/meeting.wav,ana\nC-8,clips/../../../etc/passwd,bo\n"
    dataset = user_dataset(
        owner,
        "speech-recognition",
        {"clips/meeting.wav": audio, "calls.csv": table.encode()},
        "call-table",
    )
    finished = run_job(
        "speech-recognition",
        "whisper-tiny.en",
        dataset,
        "calls.csv",
        input_column="recording",
        id_column="call_id",
        carry_columns=["agent"],
        num_speakers=2,
    )
    assert finished.job.status == "COMPLETED", finished.job.error_message
    segments = rows_of(finished)
    joined = [
        json.loads(line)
        for line in (finished.folder / "results_joined.jsonl").read_text().splitlines()
    ]
    # One row per segment of the first call, with its ID; the second row's path is refused.
    assert [r["call_id"] for r in joined] == ["C-7"] * len(segments) + ["C-8"]
    assert all(r["agent"] == "ana" and r["error"] is None for r in joined[:-1])
    assert [r["transcript"] for r in joined[:-1]] == [row[5] for row in segments]
    assert [r["speaker"] for r in joined[:-1]] == [row[2] for row in segments]
    assert {row[0] for row in segments} == {"clips/meeting.wav"}  # the audio file, as usual
    assert (
        joined[-1]["error"]
        == "the audio path 'clips/../../../etc/passwd' leads outside the dataset"
    )
    assert joined[-1]["transcript"] is None
