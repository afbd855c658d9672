"""Dataset readers: turn a dataset path into a stable, ordered stream of samples.

Pure Python (no Django). A path is a file or a folder:
- a `.txt`/`.text` file: one sample a line (line N is sample N, blank lines included, so
  indexes in the results always match line numbers in the input);
- a `.csv`/`.tsv` file with a header: one sample a row, from the text column;
- a `.jsonl`/`.ndjson` file: one sample a line, from the text field;
- an audio file: one sample;
- a folder: its files in sorted order (sub-folders included); a `.txt` file inside a folder
  is one document, other files are read as above. Hidden files and labels files are skipped.

A sample that cannot be read carries an `error` a person understands instead of a payload,
so one bad line never stops a job.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path

from worker import lines, parquet, tables
from worker.remote import DataPath, RemotePath, relative_name
from worker.samples import (
    MAX_SAMPLE_BYTES,
    MAX_TEXT_CHARS,
    DatasetReadError,
    Sample,
    as_requests,
    decode_text,
    json_request,
    json_text,
)
from worker.table_schema import table_schema
from worker.tables import Columns

__all__ = ["MAX_TEXT_CHARS", "Columns", "DatasetInfo", "DatasetReadError", "Sample"]

TEXT_LINE_EXTS = {".txt", ".text"}
AUDIO_EXTS = {".wav", ".flac", ".mp3", ".ogg", ".m4a"}
# Whisper decodes audio from a file on this machine: a linked dataset's audio is imported.
LINKED_AUDIO = "audio in a linked S3 dataset is not read in place: import the dataset instead"
SKIPPED_NAMES = {"labels.txt", "labels.tsv", "dataset.json", "readme.md", "README.md"}


@dataclass(frozen=True)
class DatasetInfo:
    count: int
    data_format: str
    # One text-lines, JSONL or CSV file only: (line or row, byte offset where it starts)
    # about every 1 MiB, so a shard's first sample is found without the file being read
    # again (line_offsets).
    checkpoints: tuple[tuple[int, int], ...] | None = None


def _kind_of(path: DataPath, *, in_folder: bool) -> str | None:
    ext = path.suffix.lower()
    if ext in TEXT_LINE_EXTS:
        return "document" if in_folder else "lines"
    if ext in AUDIO_EXTS:
        return "audio"
    return tables.table_kind(path)


def _folder_files(folder: DataPath) -> list[DataPath]:
    if isinstance(folder, RemotePath):  # linked objects: the same rules on their keys
        return [
            path
            for path in folder.files()
            if not any(part.startswith(".") for part in path.relative_to(folder).parts)
            and path.name not in SKIPPED_NAMES
            and _kind_of(path, in_folder=True) is not None
        ]
    files: list[DataPath] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name in SKIPPED_NAMES:
                continue
            path = Path(dirpath) / name
            if path.is_symlink() or _kind_of(path, in_folder=True) is None:
                continue
            files.append(path)
    return files


def _units(path: DataPath) -> list[tuple[DataPath, str]]:
    if not path.exists():
        raise DatasetReadError(f"The dataset path {path} does not exist.")
    if path.is_dir():
        units = [(p, _kind_of(p, in_folder=True) or "") for p in _folder_files(path)]
        if not units:
            raise DatasetReadError(
                f"The folder {path} holds no readable files "
                "(.txt, .csv, .tsv, .jsonl, .parquet or audio)."
            )
        return units
    kind = _kind_of(path, in_folder=False)
    if kind is None:
        raise DatasetReadError(
            f"{path.name}: unsupported file type '{path.suffix or 'none'}' "
            "(use .txt, .csv, .tsv, .jsonl, .parquet or an audio file)."
        )
    return [(path, kind)]


def sole_file(folder: Path) -> str | None:
    """The path, relative to `folder`, of the only readable file in it, or None.

    A dataset of one file means that file: a lone headlines.txt is read one sample a line,
    as a user who uploads it expects, not as one document of a folder.
    """
    files = _folder_files(folder) if folder.is_dir() else []
    if len(files) != 1 or not isinstance(files[0], Path):
        return None
    return files[0].relative_to(folder).as_posix()


def _count_unit(path: DataPath, kind: str) -> int:
    if kind in ("document", "audio"):
        return 1
    if kind == "csv":
        return tables.csv_count(path)
    if kind == "parquet":
        return parquet.parquet_count(path)
    return lines.count_lines(path)


def count_samples(path: DataPath) -> DatasetInfo:
    """How many samples `path` holds; for one text-lines, JSONL or CSV file, also where
    its lines or rows start (checkpoints), so planning counts and indexes in one pass."""
    units = _units(path)
    kinds = sorted({kind for _, kind in units})
    if len(units) == 1 and units[0][1] in ("lines", "jsonl"):
        marks = [(0, 0)]
        count = lines.count_lines(units[0][0], marks)
        return DatasetInfo(count=count, data_format=kinds[0], checkpoints=tuple(marks))
    if len(units) == 1 and units[0][1] == "csv":
        rows: list[tuple[int, int]] = []
        count = tables.csv_count(units[0][0], rows)
        return DatasetInfo(count=count, data_format="csv", checkpoints=tuple(rows))
    return DatasetInfo(
        count=sum(_count_unit(p, k) for p, k in units),
        data_format="+".join(kinds),
    )


Payload = tuple[str | None, str | None, str]  # (payload, error, location)


def _document_payload(path: DataPath) -> tuple[str | None, str | None]:
    if path.stat().st_size > MAX_SAMPLE_BYTES:
        return None, f"text longer than {MAX_TEXT_CHARS:,} characters"
    return decode_text(path.read_bytes(), first=True)


def line_offsets(path: DataPath, info: DatasetInfo, starts: list[int]) -> list[int] | None:
    """Byte offsets where the given 0-based lines (CSV: data rows) start, from
    count_samples' checkpoints: each is at most about 1 MiB past its nearest checkpoint,
    so finding every shard's start reads a few MiB, not the file again. None where `info`
    has no checkpoints (a folder, a Parquet file, a small CSV file)."""
    if not info.checkpoints:
        return None
    if info.data_format == "csv":
        return tables.csv_offsets(path, info.checkpoints, starts)
    marks = [line for line, _ in info.checkpoints]
    offsets = []
    with path.open("rb") as fh:
        for line in starts:
            mark, start = info.checkpoints[bisect_right(marks, line) - 1]
            fh.seek(start)
            lines.skip_lines(fh, line - mark)
            offsets.append(fh.tell())
    return offsets


def _line_samples(
    path: DataPath,
    kind: str,
    rel: str,
    skip: int,
    wanted: int | None,
    base: int,
    offset: int | None = None,
    requests: bool = False,
) -> Iterator[Sample]:
    """Samples of a text-lines or JSONL file: the hot path of most jobs, kept flat."""
    from_json = json_request if requests else json_text
    with path.open("rb") as fh:
        lines.seek_line(fh, skip, offset)
        # readline with a limit: a multi-gigabyte line is never held in memory whole.
        feed = iter(partial(fh.readline, MAX_SAMPLE_BYTES + 1), b"")
        number, index = skip, base + skip
        for raw in feed if wanted is None else islice(feed, wanted):
            number += 1
            if len(raw) > MAX_SAMPLE_BYTES:
                lines.drain_line(fh, raw)
            text, error = decode_text(raw, first=number == 1)
            if kind == "jsonl" and error is None:
                text, error = from_json(text or "")
            yield Sample(index, rel, f"{rel} line {number}", text, error)
            index += 1


def _jsonl_rows(
    path: DataPath, names: list[str], skip: int, offset: int | None
) -> Iterator[tables.Row]:
    """A JSON lines file as table rows: the values of `names` in each line's object."""
    with path.open("rb") as fh:
        lines.seek_line(fh, skip, offset)
        feed = iter(partial(fh.readline, MAX_SAMPLE_BYTES + 1), b"")
        for number, raw in enumerate(feed, start=skip + 1):
            if len(raw) > MAX_SAMPLE_BYTES:
                lines.drain_line(fh, raw)
            text, error = decode_text(raw, first=number == 1)
            if error is not None:
                yield number, None, error
                continue
            try:
                obj = json.loads(text or "")
            except ValueError:
                yield number, None, "not valid JSON"
                continue
            if not isinstance(obj, dict):
                yield number, None, "not a JSON object"
                continue
            yield number, tables.object_values(obj, names), None


def _audio_in(text: str, root: DataPath) -> tuple[str | None, str | None]:
    """A table's audio path, relative to the dataset: never outside it."""
    if isinstance(root, RemotePath):
        return None, LINKED_AUDIO
    inside = root.resolve()
    candidate = (inside / text.strip()).resolve()
    if not candidate.is_relative_to(inside):
        return None, f"the audio path '{text}' leads outside the dataset"
    if candidate.suffix.lower() not in AUDIO_EXTS:
        return None, f"'{text}' is not an audio file ({', '.join(sorted(AUDIO_EXTS))})"
    if not candidate.is_file():
        return None, f"no audio file '{text}' in the dataset"
    return str(candidate), None


def _table_samples(
    path: DataPath,
    kind: str,
    rel: str,
    columns: Columns,
    *,
    skip: int,
    base: int,
    offset: int | None,
    audio_root: DataPath | None,
) -> Iterator[Sample]:
    """A table's rows as samples: the input column as the payload (an audio file's path
    when `audio_root` is given), the ID and carried columns as the sample's record, the
    row's own settings (Columns.row) as its settings."""
    column = columns.input or table_schema(path, preview=0).default_input
    kept = columns.record_names()
    per_row = [(setting, name) for _, setting, name in columns.row]
    names = [column, *kept, *(name for _, name in per_row)]
    rows: Iterator[tables.Row]
    if kind == "csv":
        rows = tables.csv_rows(path, names, skip=skip, offset=offset)
    elif kind == "parquet":
        rows = parquet.parquet_rows(path, names, skip=skip)
    else:
        rows = _jsonl_rows(path, names, skip, offset)
    word = "line" if kind == "jsonl" else "row"
    clean = tables.jsonable if kind != "csv" else tables.clean_cell
    for index, (number, values, error) in enumerate(rows, start=base + skip):
        where = f"{rel} {word} {number}"
        if values is None:
            yield Sample(index, rel, where, None, error)
            continue
        record = {
            name: clean(value) for name, value in zip(kept, values[1 : 1 + len(kept)], strict=True)
        }
        own = {
            setting: clean(value)
            for (setting, _), value in zip(per_row, values[1 + len(kept) :], strict=True)
            if value is not None and not (isinstance(value, str) and not value.strip())
        }
        payload, error = tables.input_value(values[0], column)
        source = rel
        if payload is not None and audio_root is not None:
            payload, error = _audio_in(payload, audio_root)
            if payload is not None:  # speech results name the audio file, not the table
                source = Path(payload).relative_to(Path(str(audio_root)).resolve()).as_posix()
        yield Sample(index, source, where, payload, error, record if kept else None, own or None)


def _unit_payloads(path: DataPath, kind: str, rel: str, skip: int = 0) -> Iterator[Payload]:
    """(payload, error, location) for the sample of a one-sample file."""
    if kind == "audio" and isinstance(path, RemotePath) and skip == 0:
        yield None, LINKED_AUDIO, rel
    elif kind in ("audio", "document") and skip == 0:
        yield (str(path), None, rel) if kind == "audio" else (*_document_payload(path), rel)


def _misfit(kind: str, input_kind: str | None) -> str | None:
    """Why a unit cannot feed an ML App reading `input_kind` (audio, or text: "text" and
    "request"), or None.

    An audio sample's payload is its file path, so without this a text model would score
    the server's path, and a line of text given to a speech model would be opened as a path
    (any file the worker can read, outside the dataset too).
    """
    if input_kind in ("text", "request") and kind == "audio":
        return "an audio file, but this ML App reads text"
    if input_kind == "audio" and kind in ("lines", "document"):
        return "not an audio file (this ML App reads audio files)"
    return None


def _refused(samples: Iterator[Sample], reason: str) -> Iterator[Sample]:
    for sample in samples:
        if sample.error is None:
            sample.payload, sample.error = None, reason
        yield sample


def iter_samples(
    path: DataPath,
    start: int = 0,
    end: int | None = None,
    *,
    start_offset: int | None = None,
    input_kind: str | None = None,
    columns: Columns | None = None,
    root: DataPath | None = None,
) -> Iterator[Sample]:
    """Samples with global indexes in [start, end), in a stable order.

    `start_offset` is the byte offset of sample `start` from line_offsets(), if known.
    With `input_kind`, samples of files of the other kind are errors (see _misfit).
    `columns` picks a table's input, ID and carried columns (a JSON lines file is read as
    a table when any is chosen); for audio ML Apps, a table's input column holds audio
    paths relative to `root` (the dataset's folder; the table's own folder by default).
    """
    columns = columns or Columns()
    units = _units(path)
    base = path if path.is_dir() else path.parent
    offset = 0
    for unit_path, kind in units:
        if end is not None and offset >= end:
            return
        size = _count_unit(unit_path, kind) if len(units) > 1 else None
        if size is not None and offset + size <= start:
            offset += size
            continue
        rel = relative_name(unit_path, base)
        skip = max(start - offset, 0)
        wanted = None if end is None else max(end - offset - skip, 0)
        hint = start_offset if len(units) == 1 else None
        samples: Iterator[Sample]
        requests = input_kind == "request"
        if kind in ("csv", "parquet") or (kind == "jsonl" and columns.chosen):
            audio_root = (root or base) if input_kind == "audio" else None
            samples = _table_samples(
                unit_path,
                kind,
                rel,
                columns,
                skip=skip,
                base=offset,
                offset=hint,
                audio_root=audio_root,
            )
            samples = islice(samples, wanted)
        elif kind in ("lines", "jsonl"):
            samples = _line_samples(unit_path, kind, rel, skip, wanted, offset, hint, requests)
            requests = requests and kind == "lines"
        else:
            samples = (
                Sample(offset + local, rel, location, payload, error)
                for local, (payload, error, location) in enumerate(
                    islice(_unit_payloads(unit_path, kind, rel, skip), wanted), start=skip
                )
            )
        if requests:
            samples = as_requests(samples)
        misfit = _misfit(kind, input_kind)
        yield from _refused(samples, misfit) if misfit else samples
        offset += size if size is not None else 0


def table_units(path: DataPath) -> list[tuple[DataPath, str]]:
    """The tables among `path`'s units, each with its name relative to `path`."""
    if path.is_dir():
        files = _folder_files(path)
        return [(p, relative_name(p, path)) for p in files if tables.table_kind(p)]
    return [(path, path.name)] if path.is_file() and tables.table_kind(path) else []
