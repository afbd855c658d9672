"""A look at a job's results without downloading them: the first rows and one chart.

One reader per results format (see the README's "Results files"); each streams the file
once, keeps the first rows for the table and counts what the chart shows, up to
`CHART_LIMIT` rows, so memory stays flat whatever the file size.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

from apps.catalog.locations import dataset_file
from apps.core.storage import UnsafePathError, storage_path
from apps.jobs.models import Job, JobStatus
from worker.runners.registry import ML_APPS

PREVIEW_ROWS = 20
CHART_LIMIT = 500_000
MAX_BARS = 12
TEXT_CHARS = 300
KNOWN_ENTITY_TYPES = {"per", "loc", "org", "misc"}


@dataclass
class Bar:
    label: str
    value: float
    display: str
    width: float = 0.0  # percent of the longest bar
    share: float = 0.0  # percent of the total


@dataclass
class ResultsPreview:
    kind: str  # labels | ner | speech | raw | none
    message: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    chart_title: str = ""
    bars: list[Bar] = field(default_factory=list)
    chart_rows: int = 0  # results rows the chart counts (no header, blank or broken lines)
    label_column: int = -1  # the table column shown as a label pill (none: -1)
    chart_truncated: bool = False  # the chart stopped reading at CHART_LIMIT lines
    whole: bool = False  # a preview with no chart: the table holds every results row


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        for line in fh:
            yield line.rstrip("\r\n")


def _bars(counts: Mapping[str, float], fmt: Any = lambda v: f"{int(v):,}") -> list[Bar]:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(items) > MAX_BARS:
        rest = sum(v for _, v in items[MAX_BARS - 1 :])
        items = [*items[: MAX_BARS - 1], ("other", rest)]
    total = sum(v for _, v in items) or 1
    top = max((v for _, v in items), default=0) or 1
    return [
        Bar(
            label=k,
            value=v,
            display=fmt(v),
            width=round(100 * v / top, 1),
            share=round(100 * v / total, 1),
        )
        for k, v in items
    ]


def _input_texts(job: Job, indexes: Iterable[int]) -> dict[int, str]:
    """The input text of the previewed samples, when the dataset is still there."""
    wanted = {i for i in indexes if 0 <= i < 10_000}
    if not wanted or job.dataset is None or job.ml_app.input_kind != "text":
        return {}
    from worker.readers import DatasetReadError, iter_samples

    try:
        path = dataset_file(job.dataset, job.dataset_path)
        samples = iter_samples(path, 0, max(wanted) + 1)
        return {s.index: (s.payload or "")[:TEXT_CHARS] for s in samples if s.index in wanted}
    except (UnsafePathError, DatasetReadError, OSError, ValueError):
        return {}


def _labels(job: Job, path: Path) -> ResultsPreview:
    """Sentiment and document classification: index, [probabilities,] label."""
    rows: list[list[str]] = []
    counts: Counter[str] = Counter()
    read = 0
    with_probs = False
    for line in islice(_lines(path), CHART_LIMIT):
        read += 1
        parts = line.split("\t")
        if not line.strip():
            continue
        label = parts[-1].strip()
        counts[label] += 1
        if len(rows) < PREVIEW_ROWS:
            confidence = ""
            if len(parts) >= 3:
                with_probs = True
                try:
                    confidence = f"{max(float(p) for p in json.loads(parts[1])):.2f}"
                except (ValueError, TypeError):
                    confidence = ""
            rows.append([parts[0], label, confidence])
    texts = _input_texts(job, (int(r[0]) for r in rows if r[0].isdigit()))
    table = [
        [
            r[0],
            texts.get(int(r[0]), "") if r[0].isdigit() else "",
            r[1],
            *([r[2]] if with_probs else []),
        ]
        for r in rows
    ]
    return ResultsPreview(
        kind="labels",
        columns=["Index", "Input text", "Label", *(["Confidence"] if with_probs else [])],
        rows=table,
        label_column=2,
        chart_title="Label distribution",
        bars=_bars(counts),
        chart_rows=counts.total(),
        chart_truncated=read >= CHART_LIMIT,
    )


def _entity_type(label: str) -> str:
    return label.split("-", 1)[1] if label[:2] in ("B-", "I-") else label


def highlight_entities(text: str, entities: list[dict[str, Any]]) -> SafeString:
    """The text with each entity in a <mark>; B-/I- pieces of one name become one mark."""
    spans: list[list[Any]] = []
    for ent in sorted(entities, key=lambda e: int(e.get("begin_offset", 0))):
        try:
            begin, end = int(ent["begin_offset"]), int(ent["end_offset"])
        except (KeyError, TypeError, ValueError):
            continue
        label = str(ent.get("entity", ""))
        kind = _entity_type(label)
        if not 0 <= begin < end <= len(text) or (spans and begin < spans[-1][1]):
            continue
        if (
            spans
            and label.startswith("I-")
            and spans[-1][2] == kind
            and not text[spans[-1][1] : begin].strip()
        ):
            spans[-1][1] = end
            continue
        spans.append([begin, end, kind])
    out: list[str] = []
    position = 0
    for begin, end, kind in spans:
        css = kind.lower() if kind.lower() in KNOWN_ENTITY_TYPES else "other"
        out.append(str(escape(text[position:begin])))
        out.append(
            str(
                format_html(
                    '<mark class="ent ent-{}">{}<span class="ent-label">{}</span></mark>',
                    css,
                    text[begin:end],
                    kind,
                )
            )
        )
        position = end
    out.append(str(escape(text[position:])))
    return mark_safe("".join(out))  # noqa: S308 - every piece above is escaped


def _ner(job: Job, path: Path) -> ResultsPreview:
    rows: list[list[Any]] = []
    counts: Counter[str] = Counter()
    read = counted = 0
    for read, line in enumerate(islice(_lines(path), CHART_LIMIT), start=1):
        try:
            record = json.loads(line)
            entities = list(record.get("entities") or [])
            text = str(record.get("text", ""))
        except (ValueError, AttributeError, TypeError):
            continue
        counted += 1
        for ent in entities:
            label = str(ent.get("entity", "")) if isinstance(ent, dict) else ""
            if label and not label.startswith("I-"):
                counts[_entity_type(label)] += 1
        if len(rows) < PREVIEW_ROWS:
            clean = [e for e in entities if isinstance(e, dict)]
            named = sum(1 for e in clean if not str(e.get("entity", "")).startswith("I-"))
            rows.append([read - 1, highlight_entities(text[:2000], clean), named])
    return ResultsPreview(
        kind="ner",
        columns=["Index", "Text with entities", "Entities"],
        rows=rows,
        chart_title="Entities by type",
        bars=_bars(counts),
        chart_rows=counted,
        chart_truncated=read >= CHART_LIMIT,
    )


def _seconds(value: float) -> str:
    minutes, seconds = divmod(value, 60)
    return f"{int(minutes)}:{seconds:04.1f}"


def _talk_time(value: float) -> str:
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def _speech(job: Job, path: Path) -> ResultsPreview:
    """predictions.csv: input, segment, speaker, start, duration, raw, annotated."""
    rows: list[list[str]] = []
    talk: dict[str, float] = {}
    read = counted = 0
    with path.open(encoding="utf-8", errors="replace", newline="") as fh:
        for record in islice(csv.reader(fh), CHART_LIMIT):
            read += 1
            if len(record) < 7:
                continue
            try:
                start, duration = float(record[3]), float(record[4])
            except ValueError:
                continue  # the header row
            counted += 1
            talk[record[2]] = talk.get(record[2], 0.0) + duration
            if len(rows) < PREVIEW_ROWS:
                rows.append(
                    [
                        Path(record[0]).name,
                        record[2],
                        _seconds(start),
                        f"{duration:.1f} s",
                        (record[6] or record[5])[:TEXT_CHARS],
                    ]
                )
    return ResultsPreview(
        kind="speech",
        columns=["File", "Speaker", "Start", "Duration", "Transcript"],
        rows=rows,
        chart_title="Talk time per speaker",
        bars=_bars(talk, fmt=_talk_time),
        chart_rows=counted,
        chart_truncated=read >= CHART_LIMIT,
    )


def _generation(job: Job, path: Path) -> ResultsPreview:
    """Text generation (predictions.jsonl): prompt and answer; the chart counts how the
    answers ended (`length`: cut at max_new_tokens)."""
    rows: list[list[Any]] = []
    endings: Counter[str] = Counter()
    read = 0
    for line in islice(_lines(path), CHART_LIMIT):
        read += 1
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        endings[str(obj.get("finish_reason", "?"))] += 1
        if len(rows) < PREVIEW_ROWS:
            rows.append(
                [
                    obj.get("index", ""),
                    str(obj.get("text", ""))[:TEXT_CHARS],
                    str(obj.get("generation", ""))[:TEXT_CHARS],
                    f"{obj.get('prompt_tokens', '')} → {obj.get('completion_tokens', '')}",
                ]
            )
    return ResultsPreview(
        kind="labels",
        columns=["Index", "Prompt", "Generation", "Tokens"],
        rows=rows,
        chart_title="How the answers ended",
        bars=_bars(endings),
        chart_rows=endings.total(),
        chart_truncated=read >= CHART_LIMIT,
    )


def _embeddings(job: Job, path: Path) -> ResultsPreview:
    """Text embeddings: each vector's length and first values (a .npy matrix: its shape)."""
    if path.suffix == ".npy":
        import numpy as np

        matrix = np.load(path, mmap_mode="r")
        rows = [
            [i, f"{float(np.linalg.norm(matrix[i])):.3f}", _first_values(matrix[i])]
            for i in range(min(PREVIEW_ROWS, matrix.shape[0]))
        ]
        return ResultsPreview(
            kind="raw",
            whole=matrix.shape[0] <= PREVIEW_ROWS,
            message=f"A {matrix.shape[0]:,} × {matrix.shape[1]} float32 matrix; the sample "
            "index of each row is in embeddings_index.txt.",
            columns=["Row", "Length", "First values"],
            rows=rows,
        )
    rows = []
    lines = list(islice(_lines(path), PREVIEW_ROWS + 1))  # one more: are there others?
    for line in lines[:PREVIEW_ROWS]:
        try:
            obj = json.loads(line)
            vectors = obj.get("embeddings") or [obj["embedding"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        vector = vectors[0]
        norm = sum(float(x) * float(x) for x in vector) ** 0.5
        texts = f" (+{len(vectors) - 1} more)" if len(vectors) > 1 else ""
        rows.append(
            [obj.get("index", ""), f"{len(vector)}{texts}", f"{norm:.3f}", _first_values(vector)]
        )
    return ResultsPreview(
        kind="raw",
        columns=["Index", "Dimensions", "Length", "First values"],
        rows=rows,
        whole=len(lines) <= PREVIEW_ROWS and len(rows) == len(lines),
    )


def _first_values(vector: Any) -> str:
    return ", ".join(f"{float(x):.4f}" for x in vector[:4]) + ", …"


def _raw(job: Job, path: Path) -> ResultsPreview:
    lines = list(islice(_lines(path), PREVIEW_ROWS + 1))  # one more: are there others?
    rows = [[line[:TEXT_CHARS]] for line in lines[:PREVIEW_ROWS]]
    return ResultsPreview(kind="raw", columns=["Line"], rows=rows, whole=len(lines) <= PREVIEW_ROWS)


# One reader for each of worker.runners.plugin.PREVIEWS (a test checks they agree).
READERS = {
    "labels": _labels,
    "entities": _ner,
    "speech": _speech,
    "generation": _generation,
    "embeddings": _embeddings,
    "raw": _raw,
}


def results_preview(job: Job) -> ResultsPreview:
    if job.is_active:
        return ResultsPreview(kind="none", message="The preview appears when the job ends.")
    try:
        path = storage_path(job.results_relpath)
    except UnsafePathError:
        return ResultsPreview(kind="none", message="The results path is not valid.")
    if not path.is_file():
        message = (
            "No results file: the job ended before any sample was processed."
            if job.status in (JobStatus.FAILED, JobStatus.STOPPED)
            else "The results file is not there (it may have been removed from the storage)."
        )
        return ResultsPreview(kind="none", message=message)
    plugin = ML_APPS.get(job.ml_app.key)  # `manage.py check` keeps rows and plugins in step
    reader = READERS[plugin.preview if plugin else "raw"]
    try:
        preview = reader(job, path)
    except OSError as exc:
        why = (exc.strerror or "it cannot be opened").rstrip(".")
        return ResultsPreview(
            kind="none", message=f"The results file cannot be read: {why[:1].lower()}{why[1:]}."
        )
    except csv.Error:
        return ResultsPreview(
            kind="none", message="The results file cannot be read: it is not a valid CSV file."
        )
    if not preview.rows:
        preview.message = "The results file is empty."
    return preview
