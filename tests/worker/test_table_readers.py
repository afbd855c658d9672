"""Tables on their own (no Django, no worker): CSV, TSV, JSON lines and Parquet rows, the
column choices, the ID checks and shard starts by byte offset."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from worker import tables
from worker.readers import count_samples, iter_samples, line_offsets, table_units
from worker.table_schema import id_problem, table_problems, table_schema
from worker.tables import Columns


def write_csv(
    path: Path, rows: list[list[str]], *, dialect: str = "excel", bom: bool = False
) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, dialect=dialect).writerows(rows)
    data = buffer.getvalue().encode("utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def picked(path: Path, columns: Columns, start: int = 0, end: int | None = None) -> list:
    return [
        (s.index, s.payload, s.error, s.record)
        for s in iter_samples(path, start, end, columns=columns)
    ]


def test_csv_with_quoted_newlines_bom_crlf_and_a_one_megabyte_cell(tmp_path):
    big = "grand " * 166_000  # about 1 MB in one cell (the limit is 1,000,000 characters)
    rows = [
        ["review_id", "text", "stars"],
        ["r1", "Plain and good", "5"],
        ["r2", 'A quoted\nmulti-line\r\nreview, with "quotes"', "2"],
        ["r3", big.strip(), "4"],
        ["r4", "Last one", "1"],
    ]
    path = write_csv(tmp_path / "reviews.csv", rows, bom=True)  # csv writes \r\n line ends

    columns = Columns(input="text", id="review_id", carry=("stars",))
    samples = picked(path, columns)

    assert count_samples(path).count == len(samples) == 4
    assert [s[1] for s in samples] == [r[1] for r in rows[1:3]] + [big.strip(), "Last one"]
    assert [s[3] for s in samples] == [{"review_id": r[0], "stars": r[2]} for r in rows[1:]]
    schema = table_schema(path)
    assert schema.columns == ["review_id", "text", "stars"]  # the BOM is not in the name
    assert schema.default_input == "text"
    assert schema.preview[0] == ["r1", "Plain and good", "5"]


def test_a_broken_row_is_an_error_naming_its_row_and_the_table_carries_on(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes(
        b"id\ttext\n1\tfine\n2\ttoo\tmany\tfields\n3\t\xff\xfe bad bytes\n\n4\tstill read\n"
    )

    samples = list(iter_samples(path, columns=Columns(id="id")))

    assert [(s.location, s.payload, s.error) for s in samples] == [
        ("t.tsv row 2", "fine", None),
        ("t.tsv row 3", None, "4 fields where the header has 2"),
        ("t.tsv row 4", None, "not valid UTF-8 text"),
        ("t.tsv row 5", None, "empty row"),
        ("t.tsv row 6", "still read", None),
    ]
    assert count_samples(path).count == 5


def test_wide_rows_pick_only_the_chosen_columns(tmp_path):
    header = [f"c{i}" for i in range(2_000)]
    rows = [header] + [[f"{r}-{i}" for i in range(2_000)] for r in range(3)]
    path = write_csv(tmp_path / "wide.csv", rows)

    samples = picked(path, Columns(input="c1999", id="c0", carry=("c7",)))

    assert [s[1] for s in samples] == ["0-1999", "1-1999", "2-1999"]
    assert samples[2][3] == {"c0": "2-0", "c7": "2-7"}


@pytest.mark.parametrize("checkpoint", [tables.CHECKPOINT_BYTES, 512, 1])
def test_csv_shards_start_at_their_planned_byte_offsets(tmp_path, monkeypatch, checkpoint):
    # Small checkpoint spacing puts many of them in a small file, as a big table would;
    # rows with quoted newlines make line numbers and row numbers differ.
    monkeypatch.setattr(tables, "CHECKPOINT_BYTES", checkpoint)
    rows = [["id", "text"]] + [
        [str(i), f"row {i}\nsecond line" if i % 7 == 0 else f"row {i}"] for i in range(3_000)
    ]
    path = write_csv(tmp_path / "t.csv", rows)
    whole = picked(path, Columns(id="id"))
    cuts = [0, 1, 700, 1_234, 2_999, 3_000]

    info = count_samples(path)
    offsets = line_offsets(path, info, cuts)

    assert info.count == 3_000
    if checkpoint == 1:
        assert offsets is not None and len(info.checkpoints or ()) > 2_000
    for (start, end), offset in zip(zip(cuts, cuts[1:], strict=False), offsets or [], strict=False):
        shard = [
            (s.index, s.payload, s.error, s.record)
            for s in iter_samples(path, start, end, start_offset=offset, columns=Columns(id="id"))
        ]
        assert shard == whole[start:end]


def test_parquet_is_read_from_the_row_group_a_shard_starts_in(tmp_path):
    table = pa.table(
        {
            "doc_id": pa.array(range(1_000), type=pa.int64()),
            "body": [f"document {i}" if i != 500 else None for i in range(1_000)],
            "score": [i / 10 for i in range(1_000)],
        }
    )
    path = tmp_path / "docs.parquet"
    pq.write_table(table, path, row_group_size=128)
    columns = Columns(input="body", id="doc_id", carry=("score",))

    whole = picked(path, columns)
    assert count_samples(path).count == len(whole) == 1_000
    assert whole[3] == (3, "document 3", None, {"doc_id": 3, "score": 0.3})
    assert whole[500][2] == "no value in column 'body'"
    assert picked(path, columns, 300, 450) == whole[300:450]
    assert table_schema(path).columns == ["doc_id", "body", "score"]


def test_parquet_reads_a_column_named_twice(tmp_path):
    """The ID column carried as well: CSV and JSONL cope, Parquet must too."""
    table = pa.table({"doc_id": pa.array([7, 8], type=pa.int64()), "body": ["a", "b"]})
    path = tmp_path / "docs.parquet"
    pq.write_table(table, path)
    columns = Columns(input="body", id="doc_id", carry=("doc_id", "body"))
    assert picked(path, columns) == [
        (0, "a", None, {"doc_id": 7, "body": "a"}),
        (1, "b", None, {"doc_id": 8, "body": "b"}),
    ]


def test_jsonl_is_a_table_when_columns_are_chosen(tmp_path):
    path = tmp_path / "q.jsonl"
    lines = [{"qid": i, "question": f"q{i}", "meta": {"lang": "en"}} for i in range(4)]
    lines[2]["question"] = 7
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n", encoding="utf-8")

    samples = picked(path, Columns(input="question", id="qid", carry=("meta",)))

    assert [s[1:3] for s in samples] == [
        ("q0", None),
        ("q1", None),
        (None, "column 'question' holds int, not text"),
        ("q3", None),
        (None, "not valid JSON"),
    ]
    assert samples[0][3] == {"qid": 0, "meta": {"lang": "en"}}


def test_an_id_column_with_repeats_or_blanks_is_refused_naming_the_rows(tmp_path):
    repeated = write_csv(
        tmp_path / "a.csv", [["id", "text"], ["x1", "a"], ["x2", "b"], ["x1", "c"]]
    )
    blank = write_csv(tmp_path / "b.csv", [["id", "text"], ["x1", "a"], ["  ", "b"]])

    assert id_problem([(repeated, "a.csv")], "id", limit=None) == (
        "The ID column 'id' repeats 'x1' (a.csv row 2 and a.csv row 4): IDs must be unique."
    )
    assert id_problem([(blank, "b.csv")], "id", limit=None) == (
        "The ID column 'id' is blank in b.csv row 3: every row needs an ID."
    )
    assert id_problem([(repeated, "a.csv")], "text", limit=None) is None


def test_unknown_columns_and_non_tables_are_refused_by_setting(tmp_path):
    path = write_csv(tmp_path / "t.csv", [["id", "text"], ["1", "a"]])
    (tmp_path / "plain.txt").write_text("one\n", encoding="utf-8")

    problems = table_problems(table_units(path), Columns(input="body", id="id", carry=("x", "y")))
    assert problems == {
        "input_column": "t.csv has no column 'body' (its columns: id, text).",
        "carry_columns": "t.csv has no columns 'x', 'y' (its columns: id, text).",
    }
    assert (
        "a table only"
        in table_problems(table_units(tmp_path / "plain.txt"), Columns(id="id"))["id_column"]
    )
    assert table_problems(table_units(path), Columns()) == {}


def test_audio_paths_in_a_table_stay_inside_the_dataset(tmp_path):
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.wav").write_bytes(b"RIFF")
    path = write_csv(
        tmp_path / "calls.csv",
        [
            ["call", "audio"],
            ["c1", "clips/a.wav"],
            ["c2", "../../etc/passwd"],
            ["c3", "clips/no.wav"],
        ],
    )

    samples = list(
        iter_samples(
            path, input_kind="audio", columns=Columns(input="audio", id="call"), root=tmp_path
        )
    )

    assert samples[0].payload == str((tmp_path / "clips" / "a.wav").resolve())
    assert samples[1].error == "the audio path '../../etc/passwd' leads outside the dataset"
    assert samples[2].error == "no audio file 'clips/no.wav' in the dataset"
