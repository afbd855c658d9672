"""What a table holds, for the wizard, the API and planning: its columns with a preview,
and whether a column can serve as the ID (no blanks, no repeats)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any, BinaryIO

from worker.lines import drain_line
from worker.parquet import parquet_columns, parquet_rows
from worker.remote import DataPath
from worker.repeats import possible_repeats
from worker.samples import MAX_SAMPLE_BYTES, DatasetReadError, text_field
from worker.tables import (
    PREVIEW_ROWS,
    Columns,
    Row,
    TableSchema,
    csv_column,
    csv_header,
    csv_rows,
    jsonable,
    object_values,
    short,
    table_kind,
)

SCHEMA_ROWS = 100  # JSON lines: the columns are the keys of the first rows
# The wizard and the API check an ID column over this many rows; planning checks it all.
ID_CHECK_ROWS = 200_000


def _limited_lines(fh: BinaryIO) -> Iterator[bytes]:
    """A file's lines, none read whole past MAX_SAMPLE_BYTES (a longer one comes cut, and
    fails to parse as JSON like any broken line)."""
    for raw in iter(partial(fh.readline, MAX_SAMPLE_BYTES + 1), b""):
        if len(raw) > MAX_SAMPLE_BYTES:
            drain_line(fh, raw)
        yield raw


def _jsonl_head(path: DataPath) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    with path.open("rb") as fh:
        for raw in _limited_lines(fh):
            if len(objects) >= SCHEMA_ROWS:
                break
            try:
                obj = json.loads(raw.removeprefix(b"\xef\xbb\xbf"))
            except ValueError:
                continue
            if isinstance(obj, dict):
                objects.append(obj)
    return objects


def table_schema(path: DataPath, *, preview: int = PREVIEW_ROWS) -> TableSchema:
    """The columns of a table (header, schema, or the keys of its first rows), the one
    that is read by default, and the first rows shortened for a preview."""
    kind = table_kind(path)
    rows: list[list[str]] = []
    if kind == "csv":
        columns, _ = csv_header(path)
        for _, values, _ in _head(csv_rows(path, columns), preview):
            rows.append([short(v or "") for v in values or []])
    elif kind == "parquet":
        columns = parquet_columns(path)
        for _, values, _ in _head(parquet_rows(path, columns), preview):
            rows.append([short(v if v is not None else "") for v in values or []])
    elif kind == "jsonl":
        objects = _jsonl_head(path)
        columns = list(dict.fromkeys(k for obj in objects for k in obj))
        for obj in objects[:preview]:
            rows.append([short(obj.get(c, "")) for c in columns])
    else:
        raise DatasetReadError(f"{path.name} is not a table (.csv, .tsv, .jsonl or .parquet).")
    if not columns:
        raise DatasetReadError(f"{path.name} has no columns.")
    return TableSchema(
        columns=columns, default_input=text_field(columns) or columns[0], preview=rows
    )


def _head(rows: Iterator[Row], count: int) -> Iterator[Row]:
    for n, row in enumerate(rows):
        if n >= count:
            return
        if row[1] is not None:
            yield row


def table_rows(path: DataPath, names: Sequence[str], *, skip: int = 0) -> Iterator[Row]:
    """Rows of any table kind with the values of `names` (JSON lines: by line number)."""
    kind = table_kind(path)
    if kind == "csv":
        yield from csv_rows(path, names, skip=skip)
    elif kind == "parquet":
        yield from parquet_rows(path, names, skip=skip)
    else:
        with path.open("rb") as fh:
            for number, raw in enumerate(_limited_lines(fh), start=1):
                if number <= skip:
                    continue
                try:
                    obj = json.loads(raw.removeprefix(b"\xef\xbb\xbf"))
                except ValueError:
                    yield number, None, "not valid JSON"
                    continue
                if not isinstance(obj, dict):
                    yield number, None, "not a JSON object"
                    continue
                yield number, object_values(obj, names), None


def id_problem(
    tables: Sequence[tuple[DataPath, str]], column: str, *, limit: int | None
) -> str | None:
    """Why `column` cannot be the ID column (blank or repeated values, with their rows),
    over the first `limit` rows of the tables (all with None), or None.

    Memory stays flat (worker.repeats); only rows whose hash may repeat are looked at
    again."""
    blanks: list[_Where] = []

    def hashes() -> Iterator[int]:
        # One loop over every row (the ID check reads the whole table at planning): no
        # generator between the csv module and the hash but _column.
        seen = 0
        for path, rel in tables:
            for number, value in _column(path, column):
                if limit is not None and seen >= limit:
                    return
                seen += 1
                if isinstance(value, str):
                    value = value.strip()
                if value is None or value == "":
                    word = "line" if table_kind(path) == "jsonl" else "row"
                    blanks.append(_Where(rel, word, number))
                    if len(blanks) >= 3:
                        return
                    continue
                yield hash(value if type(value) is str else _id_key(value))

    repeated = possible_repeats(hashes())
    if blanks:
        shown = ", ".join(map(str, blanks))
        return f"The ID column '{column}' is blank in {shown}: every row needs an ID."
    if not repeated:
        return None
    first_seen: dict[Any, _Where] = {}
    for values, where in _id_values(tables, column, limit):
        key = _id_key(values)
        if hash(key) not in repeated:
            continue
        if key in first_seen:
            return (
                f"The ID column '{column}' repeats {short(values, 40)!r} "
                f"({first_seen[key]} and {where}): IDs must be unique."
            )
        first_seen[key] = where
    return None


def _id_key(value: Any) -> Any:
    """An ID as a dict key: itself when hashable (texts, numbers), else its JSON."""
    if isinstance(value, str | int | float | bool):
        return value
    return json.dumps(jsonable(value), sort_keys=True)


def _column(path: DataPath, column: str) -> Iterator[tuple[int, Any]]:
    if table_kind(path) == "csv":
        yield from csv_column(path, column)
        return
    for number, values, error in table_rows(path, [column]):
        if error is None and values is not None:
            yield number, values[0]


def _id_values(
    tables: Sequence[tuple[DataPath, str]], column: str, limit: int | None
) -> Iterator[tuple[Any, _Where]]:
    seen = 0
    for path, rel in tables:
        word = "line" if table_kind(path) == "jsonl" else "row"
        for number, value in _column(path, column):
            if limit is not None and seen >= limit:
                return
            seen += 1
            yield (value.strip() if isinstance(value, str) else value), _Where(rel, word, number)


class _Where:
    """Where an ID is, said only when it is reported (most IDs never are)."""

    __slots__ = ("number", "rel", "word")

    def __init__(self, rel: str, word: str, number: int) -> None:
        self.rel, self.word, self.number = rel, word, number

    def __str__(self) -> str:
        return f"{self.rel} {self.word} {self.number}"


def table_problems(
    tables: Sequence[tuple[DataPath, str]], columns: Columns, *, limit: int | None = ID_CHECK_ROWS
) -> dict[str, str]:
    """Why the chosen columns cannot be read from `tables` (worker.readers.table_units),
    by setting name; empty when they can. The ID column is checked over `limit` rows."""
    if not columns.chosen:
        return {}
    if not tables:
        field = (
            "input_column"
            if columns.input
            else "id_column"
            if columns.id
            else "carry_columns"
            if columns.carry
            else columns.row[0][0]
        )
        return {
            field: "Columns can be chosen in a table only (.csv, .tsv, .jsonl or .parquet); "
            "this dataset path holds none."
        }
    problems: dict[str, str] = {}
    for path, rel in tables:
        known = table_schema(path, preview=0).columns
        listed = ", ".join(known[:20]) + (", …" if len(known) > 20 else "")
        for field, names in (
            ("input_column", [columns.input] if columns.input else []),
            ("id_column", [columns.id] if columns.id else []),
            ("carry_columns", list(columns.carry)),
            *((own, [name]) for own, _, name in columns.row),
        ):
            missing = [n for n in names if n not in known]
            if missing and field not in problems:
                which = ", ".join(f"'{n}'" for n in missing)
                plural = "s" if len(missing) > 1 else ""
                problems[field] = f"{rel} has no column{plural} {which} (its columns: {listed})."
    problem = None
    if columns.id and "id_column" not in problems:
        problem = id_problem(tables, columns.id, limit=limit)
    if problem:
        problems["id_column"] = problem
    return problems
