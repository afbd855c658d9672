"""The joined results file: one row per input row, in input order, with the row's ID and
carried columns beside the ML App's prediction fields, or the reason the row failed.

The ML App's own results file stays exactly as it is; this one is written beside it when
the job's `joined_output` asks for it. Shards write their rows as JSON lines parts
(parts/NNNNNN.joined.jsonl) in sample order; the merge turns the parts into
`results_joined.<ext>` (JSON lines, CSV or Parquet) streaming: memory holds one batch of
rows, whatever the size of the job.

Pure Python (no Django); pyarrow is imported for Parquet only.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from worker.samples import Sample

BASENAME = "results_joined"
FORMATS = ("jsonl", "csv", "parquet")
PARQUET_ROWS = 10_000  # rows a Parquet row group gets (and the merge holds at once)

# What a prediction field holds, for the CSV and Parquet writers (MLAppPlugin.joined_columns):
# "string", "float", "int", "floats" (a list of numbers), "json" (any value, as JSON text).
Column = tuple[str, str]


def joined_format(settings: dict[str, Any]) -> str | None:
    """The joined file's format for a job's settings, or None when it writes none."""
    choice = str(settings.get("joined_output") or "auto")
    if choice == "auto":
        return "jsonl" if settings.get("id_column") else None
    return choice if choice in FORMATS else None


def joined_name(settings: dict[str, Any]) -> str | None:
    fmt = joined_format(settings)
    return f"{BASENAME}.{fmt}" if fmt else None


def output_columns(record: Sequence[str], predicted: Sequence[Column]) -> list[Column]:
    """The joined file's columns: index, the record (ID, carried), the prediction fields
    and error; a prediction field named like a carried column becomes predicted_<name>."""
    columns: list[Column] = [("index", "int"), *((name, "record") for name in record)]
    taken = {name for name, _ in columns}
    for name, kind in [*predicted, ("error", "string")]:
        shown = name
        while shown in taken:
            shown = f"predicted_{shown}"
        taken.add(shown)
        columns.append((shown, kind))
    return columns


class JoinedPart:
    """One shard's joined rows, as JSON lines, written as its batches are."""

    def __init__(self, out: TextIO, record: Sequence[str], predicted: Sequence[Column]) -> None:
        self._out = out
        columns = output_columns(record, predicted)
        self._record = list(record)
        self._predicted = [name for name, _ in predicted]
        self._shown = [name for name, _ in columns[1 + len(record) : -1]]
        self._error = columns[-1][0]
        self._lines: list[str] = []
        # One encoder for the part: json.dumps with arguments builds a new one every call.
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

    def _row(self, sample: Sample, fields: dict[str, Any] | None, reason: str | None) -> None:
        row: dict[str, Any] = {"index": sample.index}
        record = sample.record or {}
        for name in self._record:
            row[name] = record.get(name)
        for name, shown in zip(self._predicted, self._shown, strict=True):
            row[shown] = fields.get(name) if fields else None
        row[self._error] = reason
        self._lines.append(self._encode(row) + "\n")

    def done(self, sample: Sample, rows: list[dict[str, Any]]) -> None:
        for fields in rows or [{}]:
            self._row(sample, fields, None)

    def failed(self, sample: Sample, reason: str) -> None:
        self._row(sample, None, reason)

    def flush(self) -> None:
        self._out.write("".join(self._lines))
        self._lines.clear()


def _rows(parts: Sequence[Path]) -> Iterator[dict[str, Any]]:
    for part in parts:
        with part.open(encoding="utf-8") as fh:
            for line in fh:
                yield json.loads(line)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _write_csv(parts: Sequence[Path], tmp: Path, columns: Sequence[Column]) -> None:
    names = [name for name, _ in columns]
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        for row in _rows(parts):
            writer.writerow([_cell(row.get(name)) for name in names])


def _arrow_type(kind: str, source: Any) -> Any:
    import pyarrow as pa

    simple = {
        "int": pa.int64(),
        "float": pa.float64(),
        "floats": pa.list_(pa.float32()),
        "string": pa.string(),
        "json": pa.string(),
    }
    if kind == "record":
        # A Parquet input's own type where it is a plain one; anything else as text.
        if source is not None and (
            pa.types.is_integer(source)
            or pa.types.is_floating(source)
            or pa.types.is_boolean(source)
            or pa.types.is_string(source)
            or pa.types.is_large_string(source)
        ):
            return source
        return pa.string()
    return simple[kind]


def _same(value: Any) -> Any:
    return value


def _as_text(value: Any) -> Any:
    """A value for a string column: texts as they are, anything else as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _write_parquet(
    parts: Sequence[Path], tmp: Path, columns: Sequence[Column], sources: dict[str, Any]
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = [_arrow_type(kind, sources.get(name)) for name, kind in columns]
    schema = pa.schema([pa.field(name, t) for (name, _), t in zip(columns, types, strict=True)])
    # Decided once a column, not once a cell: the merge runs over every row of the job.
    textual = [
        kind == "json" or pa.types.is_string(t) for (_, kind), t in zip(columns, types, strict=True)
    ]
    with pq.ParquetWriter(tmp, schema) as writer:
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            arrays = [
                pa.array(
                    [_as_text(r.get(name)) for r in batch]
                    if text
                    else [r.get(name) for r in batch],
                    type=t,
                )
                for (name, _), t, text in zip(columns, types, textual, strict=True)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            batch.clear()

        for row in _rows(parts):
            batch.append(row)
            if len(batch) >= PARQUET_ROWS:
                flush()
        if batch:
            flush()


def joined_merge(
    parts: Sequence[Path],
    target: Path,
    *,
    columns: Sequence[Column],
    sources: dict[str, Any] | None = None,
) -> int:
    """Write `target` (its suffix names the format) from the shards' joined parts, in
    order, atomically; `sources` are a Parquet input's column types. Returns its size."""
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        if target.suffix == ".csv":
            _write_csv(parts, tmp, columns)
        elif target.suffix == ".parquet":
            _write_parquet(parts, tmp, columns, sources or {})
        else:
            with tmp.open("wb") as out:
                for part in parts:
                    with part.open("rb") as fh:
                        shutil.copyfileobj(fh, out, 1 << 20)
    except BaseException:
        tmp.unlink(missing_ok=True)  # half-written: never left where it takes space
        raise
    os.replace(tmp, target)
    return target.stat().st_size
