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

import csv
import json
import os
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from itertools import islice
from pathlib import Path
from typing import BinaryIO

TEXT_LINE_EXTS = {".txt", ".text"}
CSV_EXTS = {".csv", ".tsv"}
JSONL_EXTS = {".jsonl", ".ndjson"}
AUDIO_EXTS = {".wav", ".flac", ".mp3", ".ogg", ".m4a"}
TEXT_FIELDS = ("text", "sentence", "document", "content", "abstract")
REQUEST_FIELDS = ("messages", "prompt", "input")  # a JSONL request (ML Apps that read them)
SKIPPED_NAMES = {"labels.txt", "labels.tsv", "dataset.json", "readme.md", "README.md"}
MAX_TEXT_CHARS = 1_000_000
# A UTF-8 character is at most 4 bytes: a longer line cannot be a valid sample, so it is
# never read whole (memory stays flat even on a multi-gigabyte line).
MAX_SAMPLE_BYTES = 4 * MAX_TEXT_CHARS + 2
_CHUNK = 1 << 20

csv.field_size_limit(16 * 1024 * 1024)


class DatasetReadError(Exception):
    """The dataset path as a whole cannot be read; the message names the path."""


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~0.5 us a sample
class Sample:
    index: int
    source: str  # file the sample came from, relative to the dataset path's root
    location: str  # where in the input, for people: "reviews.csv row 7"
    payload: str | None  # the text, or the absolute audio file path
    error: str | None = None  # why the sample cannot be used (no location in it)


@dataclass(frozen=True)
class DatasetInfo:
    count: int
    data_format: str
    # One text-lines or JSONL file only: (line, byte offset where it starts) at the end of
    # each 1 MiB chunk the count read, so a shard's first line is found without the file
    # being read again (line_offsets).
    checkpoints: tuple[tuple[int, int], ...] | None = None


def _kind_of(path: Path, *, in_folder: bool) -> str | None:
    ext = path.suffix.lower()
    if ext in TEXT_LINE_EXTS:
        return "document" if in_folder else "lines"
    if ext in CSV_EXTS:
        return "csv"
    if ext in JSONL_EXTS:
        return "jsonl"
    if ext in AUDIO_EXTS:
        return "audio"
    return None


def _folder_files(folder: Path) -> list[Path]:
    files: list[Path] = []
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


def _units(path: Path) -> list[tuple[Path, str]]:
    if not path.exists():
        raise DatasetReadError(f"The dataset path {path} does not exist.")
    if path.is_dir():
        units = [(p, _kind_of(p, in_folder=True) or "") for p in _folder_files(path)]
        if not units:
            raise DatasetReadError(
                f"The folder {path} holds no readable files (.txt, .csv, .jsonl or audio)."
            )
        return units
    kind = _kind_of(path, in_folder=False)
    if kind is None:
        raise DatasetReadError(
            f"{path.name}: unsupported file type '{path.suffix or 'none'}' "
            "(use .txt, .csv, .tsv, .jsonl or an audio file)."
        )
    return [(path, kind)]


def _count_lines(path: Path, marks: list[tuple[int, int]] | None = None) -> int:
    """Lines of a file at memory speed; with `marks`, also note where a line starts in
    each chunk (the one after the chunk's last newline): one rfind a chunk, no decoding."""
    count, last, position = 0, b"\n", 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            found = chunk.count(b"\n")
            if found and marks is not None:
                marks.append((count + found, position + chunk.rfind(b"\n") + 1))
            count += found
            position += len(chunk)
            last = chunk[-1:]
    return count + (0 if last == b"\n" else 1)


def _count_unit(path: Path, kind: str) -> int:
    if kind in ("document", "audio"):
        return 1
    if kind == "csv":
        return max(_count_csv_rows(path), 0)
    return _count_lines(path)


def _count_csv_rows(path: Path) -> int:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.reader(fh, dialect=_dialect(path))
        try:
            return sum(1 for _ in reader) - 1
        except csv.Error as exc:
            raise DatasetReadError(
                f"{path.name} is not a readable CSV file (row {reader.line_num}: {exc})."
            ) from exc


def count_samples(path: Path) -> DatasetInfo:
    """How many samples `path` holds; for one text-lines or JSONL file, also where its
    lines start (checkpoints), so planning counts and indexes in one pass."""
    units = _units(path)
    kinds = sorted({kind for _, kind in units})
    if len(units) == 1 and units[0][1] in ("lines", "jsonl"):
        marks = [(0, 0)]
        count = _count_lines(units[0][0], marks)
        return DatasetInfo(count=count, data_format=kinds[0], checkpoints=tuple(marks))
    return DatasetInfo(
        count=sum(_count_unit(p, k) for p, k in units),
        data_format="+".join(kinds),
    )


def _decode(raw: bytes, *, first: bool = False) -> tuple[str | None, str | None]:
    if len(raw) > MAX_SAMPLE_BYTES:
        return None, f"text longer than {MAX_TEXT_CHARS:,} characters"
    try:
        text = raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError:
        return None, "not valid UTF-8 text"
    text = text.rstrip("\r\n")
    if "\x00" in text:
        return None, "contains NUL bytes (binary data, not text)"
    if not text.strip():
        return None, "empty text"
    if len(text) > MAX_TEXT_CHARS:
        return None, f"text longer than {MAX_TEXT_CHARS:,} characters"
    return text, None


def _dialect(path: Path) -> type[csv.Dialect]:
    return csv.excel_tab if path.suffix.lower() == ".tsv" else csv.excel


def _text_field(keys: list[str]) -> str | None:
    lowered = {k.lower(): k for k in keys if isinstance(k, str)}
    for name in TEXT_FIELDS:
        if name in lowered:
            return lowered[name]
    return None


Payload = tuple[str | None, str | None, str]  # (payload, error, location)


def _skip_lines(fh: BinaryIO, count: int) -> None:
    """Move past `count` lines without decoding them: later shards of a big file start fast.

    Counting newlines in 1 MiB chunks runs at memory speed; iterating and decoding every
    skipped line made the last shard of a million-line file cost as much as the whole job.
    """
    position = fh.tell()
    while count > 0:
        chunk = fh.read(_CHUNK)
        if not chunk:
            return
        found = chunk.count(b"\n")
        if found < count:
            count -= found
            position += len(chunk)
            continue
        rest = chunk.split(b"\n", count)[-1]  # what follows the count-th newline
        fh.seek(position + len(chunk) - len(rest))
        return


def _drain_line(fh: BinaryIO, raw: bytes) -> None:
    """After a line cut short at MAX_SAMPLE_BYTES, move past the rest of it in chunks."""
    if raw.endswith(b"\n"):
        return
    while (more := fh.readline(_CHUNK)) and not more.endswith(b"\n"):
        pass


def _document_payload(path: Path) -> tuple[str | None, str | None]:
    if path.stat().st_size > MAX_SAMPLE_BYTES:
        return None, f"text longer than {MAX_TEXT_CHARS:,} characters"
    return _decode(path.read_bytes(), first=True)


def line_offsets(path: Path, info: DatasetInfo, lines: list[int]) -> list[int] | None:
    """Byte offsets where the given 0-based lines start, from count_samples' checkpoints:
    each is at most one chunk (1 MiB) past its nearest checkpoint, so finding every shard's
    start reads a few MiB, not the file again. None where `info` has no checkpoints (a
    folder, a CSV file)."""
    if not info.checkpoints:
        return None
    marks = [line for line, _ in info.checkpoints]
    offsets = []
    with path.open("rb") as fh:
        for line in lines:
            mark, start = info.checkpoints[bisect_right(marks, line) - 1]
            fh.seek(start)
            _skip_lines(fh, line - mark)
            offsets.append(fh.tell())
    return offsets


def _seek_line(fh: BinaryIO, skip: int, offset: int | None) -> None:
    """Go to line `skip`: straight to `offset` when it is known and plausible."""
    if offset is not None and offset > 0:
        fh.seek(offset - 1)
        if fh.read(1) == b"\n":  # a line starts there: the file has not changed under us
            return
        fh.seek(0)
    elif offset == 0 and skip == 0:
        return
    _skip_lines(fh, skip)


def _line_samples(
    path: Path,
    kind: str,
    rel: str,
    skip: int,
    wanted: int | None,
    base: int,
    offset: int | None = None,
    requests: bool = False,
) -> Iterator[Sample]:
    """Samples of a text-lines or JSONL file: the hot path of most jobs, kept flat."""
    from_json = _json_request if requests else _json_text
    with path.open("rb") as fh:
        _seek_line(fh, skip, offset)
        # readline with a limit: a multi-gigabyte line is never held in memory whole.
        lines = iter(partial(fh.readline, MAX_SAMPLE_BYTES + 1), b"")
        number, index = skip, base + skip
        for raw in lines if wanted is None else islice(lines, wanted):
            number += 1
            if len(raw) > MAX_SAMPLE_BYTES:
                _drain_line(fh, raw)
            text, error = _decode(raw, first=number == 1)
            if kind == "jsonl" and error is None:
                text, error = from_json(text or "")
            yield Sample(index, rel, f"{rel} line {number}", text, error)
            index += 1


def _unit_payloads(path: Path, kind: str, rel: str, skip: int = 0) -> Iterator[Payload]:
    """(payload, error, location) for each sample of a one-sample file or a CSV file."""
    if kind in ("audio", "document"):
        if skip == 0:
            yield (str(path), None, rel) if kind == "audio" else (*_document_payload(path), rel)
    elif kind == "csv":
        yield from _csv_payloads(path, rel, skip)


def _json_request(line: str) -> tuple[str | None, str | None]:
    """A JSONL line for an ML App that reads requests: the whole object, so that a chat
    (`messages`), a raw `prompt`, an `input` and any per-request settings reach the model."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None, "not valid JSON"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    if any(key in obj for key in REQUEST_FIELDS):
        return line, None
    key = _text_field(list(obj))
    if key is None or not isinstance(obj.get(key), str):
        fields = ", ".join((*REQUEST_FIELDS, *TEXT_FIELDS))
        return None, f"no prompt or text field ({fields})"
    return json.dumps({**obj, "text": obj[key]}), None


def _as_requests(samples: Iterator[Sample]) -> Iterator[Sample]:
    """Plain texts (lines, documents, CSV rows) as requests: `{"text": ...}`."""
    for sample in samples:
        if sample.payload is not None:
            sample.payload = json.dumps({"text": sample.payload})
        yield sample


def _json_text(line: str) -> tuple[str | None, str | None]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None, "not valid JSON"
    key = _text_field(list(obj)) if isinstance(obj, dict) else None
    if key is None or not isinstance(obj.get(key), str):
        return None, f"no text field ({', '.join(TEXT_FIELDS)})"
    return _decode(obj[key].encode("utf-8", "surrogatepass"))


def _csv_payloads(path: Path, rel: str, skip: int) -> Iterator[Payload]:
    # surrogateescape keeps undecodable bytes apart, so one bad row is reported on its own.
    with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as fh:
        reader = csv.reader(fh, dialect=_dialect(path))
        try:
            header = next(reader, None)
            if header is None:
                return
            key = _text_field(header)
            column = header.index(key) if key else 0
            for _ in islice(reader, skip):
                pass
            for number, row in enumerate(reader, start=skip + 2):
                where = f"{rel} row {number}"
                if column >= len(row):
                    yield None, f"no value in column {header[column]!r}", where
                    continue
                try:
                    raw = row[column].encode("utf-8")
                except UnicodeEncodeError:
                    yield None, "not valid UTF-8 text", where
                    continue
                yield (*_decode(raw), where)
        except csv.Error as exc:
            raise DatasetReadError(
                f"{rel} is not a readable CSV file (row {reader.line_num}: {exc})."
            ) from exc


def _misfit(kind: str, input_kind: str | None) -> str | None:
    """Why a unit cannot feed an ML App reading `input_kind` (audio, or text: "text" and
    "request"), or None.

    An audio sample's payload is its file path, so without this a text model would score
    the server's path, and a line of text given to a speech model would be opened as a path
    (any file the worker can read, outside the dataset too).
    """
    if input_kind in ("text", "request") and kind == "audio":
        return "an audio file, but this ML App reads text"
    if input_kind == "audio" and kind != "audio":
        return "not an audio file (this ML App reads audio files)"
    return None


def _refused(samples: Iterator[Sample], reason: str) -> Iterator[Sample]:
    for sample in samples:
        if sample.error is None:
            sample.payload, sample.error = None, reason
        yield sample


def iter_samples(
    path: Path,
    start: int = 0,
    end: int | None = None,
    *,
    start_offset: int | None = None,
    input_kind: str | None = None,
) -> Iterator[Sample]:
    """Samples with global indexes in [start, end), in a stable order.

    `start_offset` is the byte offset of sample `start` from line_offsets(), if known.
    With `input_kind`, samples of files of the other kind are errors (see _misfit).
    """
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
        rel = unit_path.relative_to(base).as_posix()
        skip = max(start - offset, 0)
        wanted = None if end is None else max(end - offset - skip, 0)
        samples: Iterator[Sample]
        requests = input_kind == "request"
        if kind in ("lines", "jsonl"):
            hint = start_offset if len(units) == 1 else None
            samples = _line_samples(unit_path, kind, rel, skip, wanted, offset, hint, requests)
            if requests and kind == "lines":
                samples = _as_requests(samples)
        else:
            samples = (
                Sample(offset + local, rel, location, payload, error)
                for local, (payload, error, location) in enumerate(
                    islice(_unit_payloads(unit_path, kind, rel, skip), wanted), start=skip
                )
            )
            if requests:
                samples = _as_requests(samples)
        misfit = _misfit(kind, input_kind)
        yield from _refused(samples, misfit) if misfit else samples
        offset += size if size is not None else 0
