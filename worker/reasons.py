"""A library's exception in words a user can read.

Libraries word their exceptions for programmers: an OSError is `[Errno 13] Permission
denied: '/srv/...'`, FFmpeg's errors carry a negative errno, spaCy prefixes a code
(`[E050] Can't find model ...`), and some span many lines of advice. A job window, an
errors.jsonl line or an API answer gets one clause instead: the library's own words, with
no errno number, class name, error code or trailing full stop, on one line and not too long
(the caller adds the sentence around it). Django-free: runners and readers use it.
"""

from __future__ import annotations

import re

# Leading "[Errno 2]", "[E053]" and a bare "Error:" say nothing to a user.
_CODES = re.compile(r"^(?:\s*(?:\[(?:Errno\s*-?\d+|[A-Z]\d{2,4})\]|error\b:?)\s*)+", re.I)
_LIMIT = 300


def library_reason(exc: BaseException, *, default: str) -> str:
    """What `exc` says, as a clause: an OSError (or FFmpeg error) by its strerror alone, so
    neither the errno number nor the worker's path shows; anything else by its first line.
    `default` is said when the exception says nothing usable."""
    strerror = getattr(exc, "strerror", None)
    if isinstance(strerror, str) and strerror.strip():
        text = strerror
    else:
        lines = str(exc).strip().splitlines()
        text = _CODES.sub("", lines[0]) if lines else ""
    text = " ".join(text.split()).rstrip(".:;, ")
    if not text:
        return default
    if len(text) > 1 and not text[1].isupper():  # keep "ONNX", lower "Permission denied"
        text = text[0].lower() + text[1:]
    return text if len(text) <= _LIMIT else text[: _LIMIT - 1] + "…"
