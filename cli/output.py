from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    if not rows:
        print("(none)")
        return
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) for i, col in enumerate(columns)]
    print("  ".join(col.upper().ljust(w) for col, w in zip(columns, widths, strict=True)))
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


def print_record(data: dict[str, Any], fields: Sequence[str]) -> None:
    width = max(len(f) for f in fields)
    for field in fields:
        print(f"{field.ljust(width)}  {_cell(data.get(field))}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


class ProgressBar:
    """A one-line bar on stderr (only on a terminal or when forced)."""

    def __init__(self, label: str, enabled: bool | None = None) -> None:
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = ""

    def update(self, done: float, total: float | None, suffix: str = "") -> None:
        if not self.enabled:
            return
        if total:
            share = min(done / total, 1.0)
            bar = "#" * int(share * 30)
            line = f"\r{self.label} [{bar:<30}] {share * 100:5.1f}% {suffix}"
        else:
            line = f"\r{self.label} {done:,.0f} {suffix}"
        if line != self._last:
            sys.stderr.write(line.ljust(len(self._last)))
            sys.stderr.flush()
            self._last = line

    def close(self) -> None:
        if self.enabled and self._last:
            sys.stderr.write("\n")
