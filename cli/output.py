"""What the CLI prints: tables, records, JSON, and progress on stderr."""

from __future__ import annotations

import json
import re
import sys
import time
import unicodedata
from collections.abc import Collection, Sequence
from typing import Any

MAX_CELL = 40  # a table cell longer than this is cut with "…" (--json prints everything)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?$")


# Format characters (bidi overrides and isolates, zero-width ones) and line or paragraph
# separators: a terminal shows none of them, yet they reorder or hide what follows, so a
# name from the server could make a line read as something it is not.
_INVISIBLE = {"Cf", "Zl", "Zp"}


def one_line(text: str, limit: int = 300) -> str:
    """`text` as one line of printable characters, cut at `limit`: controls become spaces
    (no terminal escapes), and invisible characters are shown as escapes (\\u202e)."""
    text = _CONTROL.sub(" ", text)
    if not text.isascii():  # ASCII has none of them: most text skips the loop
        text = "".join(_escaped(c) if unicodedata.category(c) in _INVISIBLE else c for c in text)
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _escaped(char: str) -> str:
    code = ord(char)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def print_line(text: str) -> None:
    """A sentence that holds text from the server (a name, a message), made safe to show."""
    print(one_line(text, 10_000))


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        print("(none)")
        return
    cells = [[one_line(_cell(row.get(col)), MAX_CELL) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    print("  ".join(col.upper().ljust(w) for col, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def print_record(data: dict[str, Any], fields: Sequence[str], exact: Collection[str] = ()) -> None:
    """One field a line. The numbers of `exact` fields print in full: they are what a
    person chose (a temperature of 1.15), where the others are measured figures."""
    width = max(len(f) for f in fields)
    for field in fields:
        cell = _cell(data.get(field), exact=field in exact)
        print(f"{field.ljust(width)}  {one_line(cell, 10_000)}")


def _cell(value: Any, *, exact: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return repr(value) if exact else number(value)
    if isinstance(value, list):
        return ",".join(_cell(v, exact=exact) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v, exact=exact)}" for k, v in value.items())
    if isinstance(value, str):
        stamp = _TIMESTAMP.match(value)
        if stamp:  # an API timestamp, to the second
            zone = stamp[3] or ""
            zone = " UTC" if zone in ("Z", "+00:00") else f" {zone}" if zone else ""
            return f"{stamp[1]} {stamp[2]}{zone}"
    return str(value)


def number(value: float) -> str:
    """A float rounded for reading: 1234.5678 → 1,235, 12.345 → 12.3, 0.01234 → 0.012."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.1f}"
    return f"{value:.2g}"


def duration(seconds: float) -> str:
    """45s, 3m 20s, 2h 05m."""
    seconds = max(int(round(seconds)), 0)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


class ProgressBar:
    """Progress on stderr: on a terminal a bar redrawn in place; without one (a CI log,
    `nohup`, a pipe) a plain line every `every` seconds, so logs show that work goes on.

    `at_once`: print the first plain line at once (a job being followed) instead of after
    `every` seconds (a download, which is often over before that).
    """

    def __init__(
        self, label: str, enabled: bool = True, *, every: float = 5.0, at_once: bool = False
    ) -> None:
        self.label = one_line(label)
        self.enabled = enabled
        self.live = sys.stderr.isatty()
        self.every = every
        self._next = time.monotonic() + (0 if at_once else every)
        self._drawn = ""  # the live line on screen
        self._printed = ""  # the last plain line printed
        self._latest = ""  # the last plain line asked for

    def update(self, done: float, total: float | None, suffix: str = "") -> None:
        if not self.enabled:
            return
        share = min(max(done / total, 0.0), 1.0) if total else None
        suffix = one_line(suffix)  # it may hold the server's words (a status)
        if self.live:
            if share is not None:
                bar = "#" * int(share * 30)
                line = f"\r{self.label} [{bar:<30}] {share * 100:5.1f}% {suffix}"
            else:
                line = f"\r{self.label} {suffix}"
            if line != self._drawn:
                _write(line.ljust(len(self._drawn)))
                self._drawn = line
            return
        percent = f"{share * 100:.1f}% " if share is not None else ""
        self._latest = f"{self.label}: {percent}{suffix}".rstrip()
        now = time.monotonic()
        # Unchanged text is printed again too: a job sitting QUEUED must still show in a
        # CI log that the CLI is alive and following it.
        if now >= self._next:
            self._print_plain()
            self._next = now + self.every

    def _print_plain(self) -> None:
        _write(self._latest + "\n")
        self._printed = self._latest

    def close(self) -> None:
        """End the line on a terminal; in a log, print the final state if it was followed."""
        if not self.enabled:
            return
        if self.live and self._drawn:
            _write("\n")
        elif not self.live and self._printed and self._latest != self._printed:
            self._print_plain()


def _write(text: str) -> None:
    sys.stderr.write(text)
    sys.stderr.flush()
