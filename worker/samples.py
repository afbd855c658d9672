"""What a dataset reader yields: one Sample per input unit, and the checks every text gets.

Shared by worker.readers (files and folders) and worker.tables (rows of named columns);
pure Python, no Django.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

TEXT_FIELDS = ("text", "sentence", "document", "content", "abstract")
MAX_TEXT_CHARS = 1_000_000
# A UTF-8 character is at most 4 bytes: a longer line cannot be a valid sample, so it is
# never read whole (memory stays flat even on a multi-gigabyte line).
MAX_SAMPLE_BYTES = 4 * MAX_TEXT_CHARS + 2


class DatasetReadError(Exception):
    """The dataset path as a whole cannot be read; the message names the path."""


@dataclass(slots=True)  # not frozen: a frozen __init__ costs ~0.5 us a sample
class Sample:
    index: int
    source: str  # file the sample came from, relative to the dataset path's root
    location: str  # where in the input, for people: "reviews.csv row 7"
    payload: str | None  # the text, or the absolute audio file path
    error: str | None = None  # why the sample cannot be used (no location in it)
    # A table row's ID and carried columns (worker.tables), written beside its prediction
    # in the joined results; None for other inputs.
    record: dict[str, Any] | None = None
    # A table row's own values of settings (MLAppPlugin.row_settings), by setting name;
    # only the non-empty cells, None when there are none.
    settings: dict[str, Any] | None = None


def decode_text(raw: bytes, *, first: bool = False) -> tuple[str | None, str | None]:
    """(text, None) or (None, why it is not a usable text)."""
    if len(raw) > MAX_SAMPLE_BYTES:
        return None, f"text longer than {MAX_TEXT_CHARS:,} characters"
    try:
        text = raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError:
        return None, "not valid UTF-8 text"
    return check_text(text.rstrip("\r\n"))


def check_text(text: str) -> tuple[str | None, str | None]:
    if "\x00" in text:
        return None, "contains NUL bytes (binary data, not text)"
    if not text.strip():
        return None, "empty text"
    if len(text) > MAX_TEXT_CHARS:
        return None, f"text longer than {MAX_TEXT_CHARS:,} characters"
    return text, None


def text_field(keys: list[str]) -> str | None:
    """The column or field that holds the text by the usual names, or None."""
    lowered = {k.lower(): k for k in keys if isinstance(k, str)}
    for name in TEXT_FIELDS:
        if name in lowered:
            return lowered[name]
    return None


# --- JSON lines -------------------------------------------------------------------------

REQUEST_FIELDS = ("messages", "prompt", "input")  # a JSONL request (ML Apps that read them)


def json_request(line: str) -> tuple[str | None, str | None]:
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
    key = text_field(list(obj))
    if key is None or not isinstance(obj.get(key), str):
        fields = ", ".join((*REQUEST_FIELDS, *TEXT_FIELDS))
        return None, f"no prompt or text field ({fields})"
    return json.dumps({**obj, "text": obj[key]}), None


def as_requests(samples: Iterator[Sample]) -> Iterator[Sample]:
    """Plain texts (lines, documents, CSV rows) as requests: `{"text": ...}`."""
    for sample in samples:
        if sample.payload is not None:
            sample.payload = json.dumps({"text": sample.payload})
        yield sample


def json_text(line: str) -> tuple[str | None, str | None]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None, "not valid JSON"
    key = text_field(list(obj)) if isinstance(obj, dict) else None
    if key is None or not isinstance(obj.get(key), str):
        return None, f"no text field ({', '.join(TEXT_FIELDS)})"
    return decode_text(obj[key].encode("utf-8", "surrogatepass"))
