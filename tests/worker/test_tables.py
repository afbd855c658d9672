"""Tables through real Redis and the session's two worker processes: the ID and carried
columns come back beside each prediction, in input order, in every joined format."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.exceptions import ValidationError

from apps.jobs.models import JobShard, JobStatus
from worker.runners.sentiment import VaderRunner

from .conftest import results_file, results_folder

pytestmark = pytest.mark.worker

ROWS = 240


def records() -> list[dict]:
    """IDs that are not row numbers, a carried number and a carried text, some bad rows."""
    out = []
    for i in range(ROWS):
        text = f"Review {i}: " + ("a wonderful, great product" if i % 3 else "awful, broken junk")
        if i % 41 == 7:
            text = "   "  # fails: empty text
        out.append({"sku": f"SKU-{(i * 7919) % 100_003:06d}", "text": text, "price": i * 1.5,
                    "shop": f"shop {i % 4}"})  # fmt: skip
    return out


def write_table(root: Path, fmt: str, rows: list[dict]) -> str:
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), root / "items.parquet", row_group_size=50)
        return "items.parquet"
    if fmt == "jsonl":
        lines = [json.dumps(r) for r in rows]
        (root / "items.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        return "items.jsonl"
    name = f"items.{fmt}"
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=list(rows[0]), dialect="excel-tab" if fmt == "tsv" else "excel"
    )
    writer.writeheader()
    writer.writerows(rows)
    (root / name).write_text(buffer.getvalue(), encoding="utf-8")
    return name


def read_joined(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix == ".csv":
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(
    ("table", "joined"),
    [("csv", "csv"), ("tsv", "jsonl"), ("jsonl", "jsonl"), ("parquet", "parquet")],
)
def test_ids_and_carried_columns_come_back_in_input_order(make_dataset, jobs, table, joined):
    rows = records()
    dataset, root = make_dataset()
    name = write_table(root, table, rows)

    job = jobs.run(
        dataset,
        name,
        input_column="text",
        id_column="sku",
        carry_columns=["price", "shop"],
        joined_output=joined,
        shard_size=60,
    )

    assert job.status == JobStatus.COMPLETED, job.error_message
    assert JobShard.objects.filter(job=job).count() == 4
    out = read_joined(results_folder(job) / f"results_joined.{joined}")
    assert len(out) == ROWS
    vader = VaderRunner()
    as_text = joined == "csv" or table in ("csv", "tsv")  # CSV has no types
    for i, (row, source) in enumerate(zip(out, rows, strict=True)):
        assert str(row["index"]) == str(i)
        assert row["sku"] == source["sku"]
        assert row["shop"] == source["shop"]
        assert (str(row["price"]) if as_text else row["price"]) == (
            str(source["price"]) if as_text else source["price"]
        )
        if source["text"].strip():
            ((label, score),) = vader.predict([source["text"]])
            assert row["label"] == label
            assert float(row["score"]) == pytest.approx(score)
            assert row["error"] in (None, "")
        else:
            assert row["error"] == "empty text"
            assert row["label"] in (None, "")
    # The ML App's own results file is unchanged: index<TAB>label for the good rows.
    lines = results_file(job).read_text(encoding="utf-8").splitlines()
    good = [i for i, r in enumerate(rows) if r["text"].strip()]
    assert [line.split("\t")[0] for line in lines] == [str(i) for i in good]
    summary = json.loads((results_folder(job) / "summary.json").read_text(encoding="utf-8"))
    assert summary["joined_file"] == f"results_joined.{joined}"


def test_choosing_an_id_column_writes_joined_json_lines_by_default(make_dataset, jobs):
    dataset, root = make_dataset()
    name = write_table(root, "csv", records()[:30])

    job = jobs.run(dataset, name, id_column="sku")

    assert job.status == JobStatus.COMPLETED, job.error_message
    out = read_joined(results_folder(job) / "results_joined.jsonl")
    assert [r["sku"] for r in out] == [r["sku"] for r in records()[:30]]
    assert list(out[0]) == ["index", "sku", "label", "score", "error"]


def test_bad_column_choices_are_refused_at_create_next_to_the_field(make_dataset, jobs):
    rows = records()[:20]
    rows[12]["sku"] = rows[3]["sku"]
    dataset, root = make_dataset()
    name = write_table(root, "csv", rows)

    with pytest.raises(ValidationError) as refused:
        jobs.start(dataset, name, id_column="sku", carry_columns=["colour"])

    errors = refused.value.message_dict
    assert errors["carry_columns"] == [
        "items.csv has no column 'colour' (its columns: sku, text, price, shop)."
    ]
    assert errors["id_column"] == [
        f"The ID column 'sku' repeats '{rows[3]['sku']}' (items.csv row 5 and items.csv row "
        "14): IDs must be unique."
    ]
