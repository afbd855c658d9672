"""Tables: CSV, TSV, JSON lines and Parquet datasets as rows of named columns.

A job on a table makes three choices (Columns): the input column (a text, or for speech an
audio file's path relative to the dataset), an optional ID column, and columns to carry.
The ID and the carried values travel with each Sample (`record`) into the joined results.

- CSV/TSV: Python's csv module (quoted fields with newlines, a BOM, \\r\\n), fed line by
  line from a binary file so the byte offset where each row starts is known: counting
  notes one every 1 MiB (checkpoints), so a shard starts reading at its first row instead
  of parsing the table from the top. A row that cannot be read (a field over the size
  limit, more fields than the header, undecodable text in the input column) is an error
  sample naming its row; the job carries on.
- JSON lines: one object a line (worker.readers reads the lines; `object_values` here).
- Parquet: pyarrow, batch by batch from the row group a shard starts in, only the chosen
  columns; never read whole.

Pure Python (no Django).
"""

from __future__ import annotations

import csv
import datetime
import decimal
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from worker.remote import DataPath
from worker.samples import DatasetReadError, check_text

CSV_EXTS = {".csv", ".tsv"}
JSONL_EXTS = {".jsonl", ".ndjson"}
PARQUET_EXTS = {".parquet", ".pq"}
TABLE_EXTS = CSV_EXTS | JSONL_EXTS | PARQUET_EXTS
# A line longer than this is not read whole: its row is an error (a 1 MB cell is fine).
MAX_LINE_BYTES = 64 * 1024 * 1024
CHECKPOINT_BYTES = 1 << 20
PREVIEW_ROWS = 5

csv.field_size_limit(16 * 1024 * 1024)


@dataclass(frozen=True)
class Columns:
    """A job's choice of columns; empty means the defaults (the text column, no ID)."""

    input: str = ""
    id: str = ""
    carry: tuple[str, ...] = ()
    # (column setting, the setting it gives per row, column): e.g. ("speakers_column",
    # "num_speakers", "speakers"); see MLAppPlugin.row_settings.
    row: tuple[tuple[str, str, str], ...] = ()

    @classmethod
    def from_settings(
        cls, settings: dict[str, Any], row_settings: Mapping[str, str] | None = None
    ) -> Columns:
        """`row_settings`: the ML App's {column setting: setting} (MLAppPlugin)."""
        carry = settings.get("carry_columns") or ()
        if isinstance(carry, str):
            carry = [c.strip() for c in carry.split(",") if c.strip()]
        row = tuple(
            (name, setting, str(settings[name]))
            for name, setting in (row_settings or {}).items()
            if settings.get(name)
        )
        return cls(
            input=str(settings.get("input_column") or ""),
            id=str(settings.get("id_column") or ""),
            carry=tuple(str(c) for c in carry),
            row=row,
        )

    @property
    def chosen(self) -> bool:
        return bool(self.input or self.id or self.carry or self.row)

    def record_names(self) -> list[str]:
        """The columns written beside each prediction: the ID first, then the carried."""
        names = [self.id] if self.id else []
        return names + [c for c in self.carry if c not in names]


@dataclass(frozen=True)
class TableSchema:
    columns: list[str]
    default_input: str
    preview: list[list[str]] = field(default_factory=list)  # the first rows, shortened


def table_kind(path: DataPath) -> str | None:
    ext = path.suffix.lower()
    if ext in CSV_EXTS:
        return "csv"
    if ext in JSONL_EXTS:
        return "jsonl"
    if ext in PARQUET_EXTS:
        return "parquet"
    return None


def jsonable(value: Any) -> Any:
    """A carried value as JSON can hold it (Parquet brings dates, decimals, bytes)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def clean_cell(value: str | None) -> str | None:
    """A CSV field read with surrogateescape, with undecodable bytes shown as U+FFFD."""
    if value is None or value.isascii():  # most cells: no encoding to check
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value


def short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(jsonable(value), ensure_ascii=False)
    text = " ".join((clean_cell(text) or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


# --- CSV ---------------------------------------------------------------------------------


class _Feed:
    """Lines of a binary file for csv.reader, counting bytes: after the reader returns a
    row, `position` is where the next row starts (the reader never reads ahead)."""

    __slots__ = ("fh", "position", "too_long")

    def __init__(self, fh: BinaryIO, position: int) -> None:
        self.fh, self.position, self.too_long = fh, position, False

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        raw = self.fh.readline(MAX_LINE_BYTES)
        if not raw:
            raise StopIteration
        self.position += len(raw)
        if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (more := self.fh.readline(CHECKPOINT_BYTES)) and not more.endswith(b"\n"):
                self.position += len(more)
            self.position += len(more)
            self.too_long = True
            return "\n"
        if self.position == len(raw):  # the file's first line
            raw = raw.removeprefix(b"\xef\xbb\xbf")
        return raw.decode("utf-8", "surrogateescape")


def _dialect(path: DataPath) -> type[csv.Dialect]:
    return csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel


def _header_names(raw: list[str]) -> list[str]:
    """Column names as users will type them: blank ones numbered, repeats suffixed."""
    names: list[str] = []
    for position, name in enumerate(raw, start=1):
        name = (clean_cell(name) or "").strip() or f"column_{position}"
        base, n = name, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.append(name)
    return names


def csv_header(path: DataPath) -> tuple[list[str], int]:
    """The column names and the byte offset where the first data row starts."""
    with path.open("rb") as fh:
        feed = _Feed(fh, 0)
        reader = csv.reader(feed, dialect=_dialect(path))
        try:
            raw = next(reader, None)
        except csv.Error as exc:
            raise DatasetReadError(f"{path.name}: the header row cannot be read ({exc}).") from exc
        if raw is None or not any(cell.strip() for cell in raw):
            raise DatasetReadError(
                f"{path.name} has no header row (the first row names the columns)."
            )
        return _header_names(raw), feed.position


Row = tuple[int, list[Any] | None, str | None]  # (row number for people, values, error)


def csv_rows(
    path: DataPath,
    names: Sequence[str],
    *,
    skip: int = 0,
    offset: int | None = None,
    checkpoints: list[tuple[int, int]] | None = None,
) -> Iterator[Row]:
    """The data rows from the `skip`-th on, with the values of `names`. Row numbers count
    the header as row 1, as a spreadsheet shows them. With `offset` (where row `skip`
    starts, from planning) the reader starts there; with `checkpoints`, the (row, offset)
    of a row every CHECKPOINT_BYTES is appended."""
    header, data_start = csv_header(path)
    where = [header.index(n) for n in names]  # callers checked the names
    with path.open("rb") as fh:
        start, to_skip = data_start, skip
        if offset is not None and offset >= data_start and skip > 0:
            fh.seek(offset - 1)
            if fh.read(1) == b"\n":  # a row starts there: the file has not changed under us
                start, to_skip = offset, 0
        fh.seek(start)
        feed = _Feed(fh, start)
        reader = csv.reader(feed, dialect=_dialect(path))
        index, mark = skip - to_skip, start
        width = len(header)
        while True:
            row_start = feed.position
            try:
                fields = next(reader)
                error = None
            except StopIteration:
                return
            except csv.Error as exc:
                fields, error = [], f"the row cannot be read ({exc})"
            if checkpoints is not None and row_start - mark >= CHECKPOINT_BYTES:
                checkpoints.append((index, row_start))
                mark = row_start
            if feed.too_long:
                feed.too_long, fields = False, []
                error = f"a line longer than {MAX_LINE_BYTES // 2**20} MiB"
            index += 1
            if to_skip:
                to_skip -= 1
                continue
            number = index + 1  # the header is row 1
            if error is None and len(fields) > width:
                error = f"{len(fields)} fields where the header has {width}"
            elif error is None and not fields:
                error = "empty row"
            if error is not None:
                yield number, None, error
                continue
            yield number, [fields[i] if i < len(fields) else None for i in where], None


def csv_count(path: DataPath, checkpoints: list[tuple[int, int]] | None = None) -> int:
    """The data rows, as csv_rows counts them (a row that cannot be read is one too), with
    a checkpoint every CHECKPOINT_BYTES; no values are built (planning's hot loop)."""
    _, data_start = csv_header(path)
    count, mark = 0, data_start
    with path.open("rb") as fh:
        fh.seek(data_start)
        feed = _Feed(fh, data_start)
        reader = csv.reader(feed, dialect=_dialect(path))
        while True:
            row_start = feed.position
            try:
                next(reader)
            except StopIteration:
                return count
            except csv.Error:
                pass
            if checkpoints is not None and row_start - mark >= CHECKPOINT_BYTES:
                checkpoints.append((count, row_start))
                mark = row_start
            count += 1


def csv_column(path: DataPath, name: str) -> Iterator[tuple[int, str]]:
    """(row number, value) of one column in the rows csv_rows reads, for the ID check over
    a whole table: the csv module's loop and little else (half csv_rows' cost a row)."""
    header, data_start = csv_header(path)
    at, width = header.index(name), len(header)
    with path.open("rb") as fh:
        fh.seek(data_start)
        reader = csv.reader(_Feed(fh, data_start), dialect=_dialect(path))
        number = 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error:
                row = []
            number += 1
            if at < len(row) <= width:
                yield number, row[at]


def csv_offsets(
    path: DataPath, checkpoints: Sequence[tuple[int, int]], rows: list[int]
) -> list[int]:
    """Byte offsets where the given 0-based data rows start: each is read forward from the
    nearest checkpoint (at most about 1 MiB of rows)."""
    from bisect import bisect_right

    marks = [row for row, _ in checkpoints]
    header, data_start = csv_header(path)
    offsets = []
    with path.open("rb") as fh:
        for row in rows:
            at = bisect_right(marks, row) - 1
            mark, start = checkpoints[at] if at >= 0 else (0, data_start)
            fh.seek(start)
            feed = _Feed(fh, start)
            reader = csv.reader(feed, dialect=_dialect(path))
            for _ in range(row - mark):
                try:
                    next(reader)
                except StopIteration:
                    break
                except csv.Error:
                    continue
            offsets.append(feed.position)
    return offsets


# --- any table ---------------------------------------------------------------------------


def object_values(obj: Any, names: Sequence[str]) -> list[Any]:
    return [obj.get(n) for n in names] if isinstance(obj, dict) else [None for _ in names]


def input_value(value: Any, column: str) -> tuple[str | None, str | None]:
    """The input column's value as a text, or why it is not one."""
    if value is None:
        return None, f"no value in column '{column}'"
    if not isinstance(value, str):
        return None, f"column '{column}' holds {type(value).__name__}, not text"
    if not value.isascii():  # a CSV cell keeps undecodable bytes as lone surrogates
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return None, "not valid UTF-8 text"
    return check_text(value)
