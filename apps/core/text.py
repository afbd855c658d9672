"""Names people type (jobs, projects, models, datasets): one line of printable text."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a name, or None. A NUL byte also cannot be stored in PostgreSQL."""
    if _CONTROL.search(name):
        return "A name may not contain control characters (NUL bytes, tabs, line breaks)."
    return None
