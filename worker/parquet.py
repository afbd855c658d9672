"""Parquet tables: the footer, the columns and the row groups a shard needs, nothing more
(worker.tables has the CSV/JSONL side and what every table shares)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from worker.reasons import library_reason
from worker.remote import DataPath
from worker.samples import DatasetReadError
from worker.tables import Row

PARQUET_BATCH = 4096  # rows a pyarrow batch


def _parquet(path: DataPath) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # A linked object is opened as a raw seekable file: pyarrow reads the footer and
        # the column chunks it needs, each with one ranged GET.
        return pq.ParquetFile(path if isinstance(path, Path) else path.open_raw())
    except (pa.ArrowException, OSError) as exc:
        why = library_reason(exc, default="its footer cannot be read")
        raise DatasetReadError(f"{path.name} is not a readable Parquet file: {why}.") from exc


def parquet_schema(path: DataPath) -> Any:
    """The file's pyarrow schema (its footer alone is read)."""
    return _parquet(path).schema_arrow


def parquet_columns(path: DataPath) -> list[str]:
    return list(parquet_schema(path).names)


def parquet_count(path: DataPath) -> int:
    return int(_parquet(path).metadata.num_rows)


def parquet_rows(path: DataPath, names: Sequence[str], *, skip: int = 0) -> Iterator[Row]:
    """Rows from the `skip`-th on: only the row groups from the one holding it, only the
    columns in `names` (a name may come twice: one column can be the ID and carried, or
    the speakers column and carried), a few thousand rows at a time."""
    import pyarrow as pa

    pf = _parquet(path)
    meta = pf.metadata
    first, before = 0, 0
    while first < meta.num_row_groups and before + meta.row_group(first).num_rows <= skip:
        before += meta.row_group(first).num_rows
        first += 1
    to_skip, number = skip - before, before
    read = list(dict.fromkeys(names)) or [pf.schema_arrow.names[0]]
    try:
        batches = pf.iter_batches(
            batch_size=PARQUET_BATCH, row_groups=range(first, meta.num_row_groups), columns=read
        )
        for batch in batches:
            by_name = {name: batch.column(name).to_pylist() for name in read}
            values = [by_name[name] for name in names]
            rows = batch.num_rows
            begin = min(to_skip, rows)
            to_skip -= begin
            for i in range(begin, rows):
                yield number + i + 1, [column[i] for column in values], None
            number += rows
    except (pa.ArrowException, OSError) as exc:
        why = library_reason(exc, default="its data is damaged")
        raise DatasetReadError(f"{path.name}: row {number + 1} cannot be read: {why}.") from exc
