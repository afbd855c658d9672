"""What a dataset reader yields: one Sample per input unit, and the checks every text gets.

Shared by worker.readers (files and folders) and worker.tables (rows of named columns);
pure Python, no Django.
"""

from __future__ import annotations

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
