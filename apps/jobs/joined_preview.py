"""The first rows of a job's joined results file, for the job window (any of its formats,
read from the start only)."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from apps.core.storage import UnsafePathError, storage_path
from apps.jobs.models import Job
from worker.joined import joined_name

ROWS = 10
CELL_CHARS = 80


@dataclass(frozen=True)
class JoinedPreview:
    name: str
    columns: list[str]
    rows: list[list[str]]


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else "" if value is None else json.dumps(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def _records(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        batch = next(pq.ParquetFile(path).iter_batches(batch_size=ROWS), None)
        return batch.to_pylist() if batch is not None else []
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        if path.suffix == ".csv":
            return list(islice(csv.DictReader(fh), ROWS))
        return [json.loads(line) for line in islice(fh, ROWS)]


def joined_preview(job: Job) -> JoinedPreview | None:
    name = joined_name(job.settings)
    if not name or not job.is_terminal:
        return None
    try:
        path = storage_path(f"{job.results_dir}/{name}")
        records = _records(path) if path.is_file() else None
    except (UnsafePathError, OSError, ValueError):
        return None
    if not records:
        return None
    columns = list(records[0])
    return JoinedPreview(name, columns, [[_cell(r.get(c)) for c in columns] for r in records])
