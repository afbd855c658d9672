"""Dataset readers on their own (no Django, no worker): order, ranges, bad samples, memory."""

from __future__ import annotations

import csv
import json
import tracemalloc
from pathlib import Path

import pytest

from bench.data import write_sentences
from worker import lines
from worker.readers import (
    MAX_TEXT_CHARS,
    DatasetReadError,
    count_samples,
    iter_samples,
    line_offsets,
)


def texts(
    path: Path, start: int = 0, end: int | None = None, **kwargs: int
) -> list[tuple[int, str | None]]:
    return [
        (s.index, s.payload if s.error is None else f"!{s.error}")
        for s in iter_samples(path, start, end, **kwargs)
    ]


def test_text_file_is_one_sample_a_line_with_bad_lines_reported(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(
        b"\xef\xbb\xbffirst\r\nsecond\n\n\xff\xfe\nnul\x00here\n   \nlast without newline"
    )

    samples = list(iter_samples(path))

    assert count_samples(path).count == len(samples) == 7
    assert count_samples(path).data_format == "lines"
    assert [(s.index, s.payload, s.error) for s in samples] == [
        (0, "first", None),  # byte order mark and CRLF removed
        (1, "second", None),
        (2, None, "empty text"),
        (3, None, "not valid UTF-8 text"),
        (4, None, "contains NUL bytes (binary data, not text)"),
        (5, None, "empty text"),
        (6, "last without newline", None),
    ]
    assert samples[3].location == "in.txt line 4"
    assert samples[3].source == "in.txt"


@pytest.mark.parametrize("cut", [0, 1, 2, 999, 1000, 7777, 19_999, 20_000])
def test_ranges_join_up_to_the_whole_file(tmp_path, cut):
    # About 2.2 MB, so the fast line skipping crosses its 1 MiB read chunks.
    path = write_sentences(tmp_path / "big.txt", 20_000, seed=3)
    lines = path.read_text(encoding="utf-8").splitlines()

    head, tail = texts(path, 0, cut), texts(path, cut, 20_000)

    assert head + tail == list(enumerate(lines))
    assert texts(path, cut, cut + 3) == list(enumerate(lines))[cut : cut + 3]


@pytest.mark.parametrize("chunk", [lines.CHUNK, 4096, 7])
def test_planned_byte_offsets_give_the_same_samples_as_counting(tmp_path, monkeypatch, chunk):
    # Small chunks put many checkpoints in the file (a chunk of 7 bytes ends mid-line and
    # sometimes holds no newline at all), as a multi-gigabyte input would.
    monkeypatch.setattr(lines, "CHUNK", chunk)
    path = write_sentences(tmp_path / "big.txt", 20_000, seed=4)
    cuts = [0, 1, 4_999, 12_345, 19_999, 20_000]

    info = count_samples(path)
    offsets = line_offsets(path, info, cuts)

    assert info.count == 20_000 and info.checkpoints is not None
    assert len(info.checkpoints) > 100 or chunk == 1 << 20
    assert offsets is not None and offsets[0] == 0 and offsets[-1] == path.stat().st_size
    with path.open("rb") as fh:
        starts = [0] + [fh.tell() for _ in iter(fh.readline, b"")]
    assert offsets == [starts[cut] for cut in cuts]
    for cut, offset in zip(cuts, offsets, strict=True):
        assert texts(path, cut, cut + 50, start_offset=offset) == texts(path, cut, cut + 50)
    # An offset that no longer falls on a line start (the file changed) is not trusted.
    assert texts(path, 5, 8, start_offset=offsets[3] + 3) == texts(path, 5, 8)


def test_only_one_lines_file_gets_checkpoints(tmp_path):
    (tmp_path / "a.txt").write_text("one\ntwo\n")
    (tmp_path / "b.csv").write_text("text\nx\n")
    assert count_samples(tmp_path).checkpoints is None
    assert line_offsets(tmp_path, count_samples(tmp_path), [0]) is None
    assert count_samples(tmp_path / "b.csv").checkpoints == ()  # no row starts past 1 MiB
    assert count_samples(tmp_path / "a.txt").checkpoints == ((0, 0), (2, 8))


def test_range_past_the_end_is_empty(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("one\ntwo\n")
    assert texts(path, 5, 10) == []
    assert texts(path, 1, 10) == [(1, "two")]


def test_folder_is_read_in_sorted_order_with_subfolders_and_skips(tmp_path):
    root = tmp_path / "ds"
    (root / "b").mkdir(parents=True)
    (root / "a").mkdir()
    (root / "z.jsonl").write_text(json.dumps({"text": "zed"}) + "\n")
    (root / "b" / "2.txt").write_text("doc b2\nsecond line of the same doc")
    (root / "b" / "1.txt").write_text("doc b1")
    (root / "a" / "rows.csv").write_text("id,sentence\n1,alpha\n2,beta\n")
    (root / ".hidden.txt").write_text("hidden")
    (root / "labels.txt").write_text("negative\npositive\n")
    (root / "notes.bin").write_bytes(b"\x00")

    assert count_samples(root).count == 5
    assert [(s.index, s.source, s.payload) for s in iter_samples(root)] == [
        (0, "z.jsonl", "zed"),  # files of a folder before its sub-folders
        (1, "a/rows.csv", "alpha"),
        (2, "a/rows.csv", "beta"),
        (3, "b/1.txt", "doc b1"),
        (4, "b/2.txt", "doc b2\nsecond line of the same doc"),  # a .txt in a folder is one doc
    ]
    # A range that starts inside the second file and ends inside the third.
    assert [s.payload for s in iter_samples(root, 2, 4)] == ["beta", "doc b1"]


def test_csv_finds_the_text_column_and_reports_bad_rows(tmp_path):
    path = tmp_path / "r.csv"
    with path.open("w", newline="", encoding="utf-8-sig") as fh:  # with a byte order mark
        writer = csv.writer(fh)
        writer.writerow(["id", "Text", "stars"])
        writer.writerow([1, "multi\nline, quoted", 5])
        writer.writerow([2])
        writer.writerow([3, "", 1])
        writer.writerow([4, "fine", 3])

    samples = list(iter_samples(path))

    assert count_samples(path).count == 4
    assert [(s.payload, s.error, s.location) for s in samples] == [
        ("multi\nline, quoted", None, "r.csv row 2"),
        (None, "no value in column 'Text'", "r.csv row 3"),
        (None, "empty text", "r.csv row 4"),
        ("fine", None, "r.csv row 5"),
    ]
    assert [s.payload for s in iter_samples(path, 3)] == ["fine"]


def test_tsv_and_csv_with_invalid_utf8_row(tmp_path):
    path = tmp_path / "r.tsv"
    path.write_bytes(b"text\tlabel\ngood one\t1\nbad \xff\t0\n")
    assert [(s.payload, s.error) for s in iter_samples(path)] == [
        ("good one", None),
        (None, "not valid UTF-8 text"),
    ]


def test_a_broken_csv_row_is_one_error_and_the_rest_is_read(tmp_path):
    path = tmp_path / "r.csv"
    oversized = b"x" * (17 * 1024 * 1024)  # over the csv module's field limit
    path.write_bytes(b"text\nbefore\n" + oversized + b"\nafter\n")

    samples = list(iter_samples(path))

    assert count_samples(path).count == len(samples) == 3
    assert [(s.payload, s.location) for s in samples] == [
        ("before", "r.csv row 2"),
        (None, "r.csv row 3"),
        ("after", "r.csv row 4"),
    ]
    assert samples[1].error is not None and "cannot be read" in samples[1].error


def test_a_csv_without_a_header_is_a_dataset_error(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"\n\n")
    with pytest.raises(DatasetReadError, match=r"r\.csv has no header row"):
        count_samples(path)


def test_jsonl_text_field_and_bad_lines(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps({"id": 1, "content": "by content"}),
                "{not json",
                json.dumps({"id": 3}),
                json.dumps(["a list"]),
                json.dumps({"text": "   "}),
                json.dumps({"sentence": "ok \u00e9"}),
            ]
        )
    )
    assert [(s.payload, s.error) for s in iter_samples(path)] == [
        ("by content", None),
        (None, "not valid JSON"),
        (None, "no text field (text, sentence, document, content, abstract)"),
        (None, "no text field (text, sentence, document, content, abstract)"),
        (None, "empty text"),
        ("ok \u00e9", None),
    ]


def test_overlong_line_is_one_bad_sample_and_the_next_line_still_reads(tmp_path):
    path = tmp_path / "long.txt"
    with path.open("wb") as fh:
        fh.write(b"before\n" + b"a" * (4 * MAX_TEXT_CHARS + 10) + b"\nafter\n")
    assert texts(path) == [
        (0, "before"),
        (1, f"!text longer than {MAX_TEXT_CHARS:,} characters"),
        (2, "after"),
    ]


def test_audio_files_are_one_sample_each_by_absolute_path(tmp_path):
    for name in ("b.wav", "a.flac", "c.mp3"):
        (tmp_path / name).write_bytes(b"RIFF")
    samples = list(iter_samples(tmp_path))
    assert [s.source for s in samples] == ["a.flac", "b.wav", "c.mp3"]
    assert samples[0].payload == str(tmp_path / "a.flac")
    assert count_samples(tmp_path).data_format == "audio"


@pytest.mark.parametrize(
    ("name", "message"),
    [("data.pdf", "unsupported file type '.pdf'"), ("missing.txt", "does not exist")],
)
def test_unreadable_dataset_paths_are_errors(tmp_path, name, message):
    if name.endswith(".pdf"):
        (tmp_path / name).write_bytes(b"%PDF")
    with pytest.raises(DatasetReadError, match=message):
        count_samples(tmp_path / name)


def test_folder_without_readable_files_is_an_error(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"1")
    with pytest.raises(DatasetReadError, match="holds no readable files"):
        list(iter_samples(tmp_path))


def test_reading_streams_in_constant_memory(tmp_path):
    path = write_sentences(tmp_path / "big.txt", 100_000, seed=5)
    size = path.stat().st_size
    tracemalloc.start()
    try:
        count = count_samples(path).count
        consumed = sum(1 for _ in iter_samples(path, 50_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (count, consumed) == (100_000, 50_000)
    # The file is ~10 MB; reading it holds a read buffer and one sample, not the file.
    assert peak < min(size // 4, 4 * 1024 * 1024)
