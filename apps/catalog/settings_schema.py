"""Inference-settings schemas: one list of field specs per ML App.

The wizard's settings pane, the API validation and the worker all read the same schema,
so a limit is enforced in one place (`settings_validate`).
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

from apps.core.storage import MAX_PATH_LENGTH, PATH_TOO_LONG
from apps.core.text import shown
from worker.runners.generation import parse_stop

FieldSpec = dict[str, Any]

_THRESHOLD_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


def _as_int(spec: FieldSpec, raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValidationError("Enter a whole number.")
    try:
        value = int(str(raw).strip()) if not isinstance(raw, int) else raw
    except ValueError as exc:
        raise ValidationError("Enter a whole number.") from exc
    _check_range(spec, value)
    return value


def _as_float(spec: FieldSpec, raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValidationError("Enter a number.")
    try:
        value = float(str(raw).strip())
    except ValueError as exc:
        raise ValidationError("Enter a number.") from exc
    if value != value or value in (float("inf"), float("-inf")):
        raise ValidationError("Enter a finite number.")
    _check_range(spec, value)
    return value


def _check_range(spec: FieldSpec, value: float) -> None:
    if "min" in spec and value < spec["min"]:
        raise ValidationError(f"Must be at least {spec['min']}.")
    if "max" in spec and value > spec["max"]:
        raise ValidationError(f"Must be at most {spec['max']}.")


def _as_choice(spec: FieldSpec, raw: Any) -> str:
    value = str(raw).strip()
    allowed = [str(c[0]) for c in spec["choices"]]
    if value not in allowed:
        raise ValidationError(f"Choose one of: {', '.join(allowed)}.")
    return value


def _as_text(spec: FieldSpec, raw: Any) -> str:
    if not isinstance(raw, str):  # str() would turn a list or a dict into "['a']"
        raise ValidationError("Enter text.")
    value = raw.strip()
    if spec.get("dataset_file"):  # a path inside the dataset: the dataset path's rules
        if len(value) > MAX_PATH_LENGTH:
            raise ValidationError(PATH_TOO_LONG)
    elif len(value) > (limit := spec.get("max_length", 500)):
        raise ValidationError(f"At most {limit:,} characters.")
    if "\x00" in value:
        raise ValidationError("May not contain a NUL byte.")
    return value


def _as_threshold(spec: FieldSpec, raw: Any) -> str:
    """Empty (never fail for sample errors), a count ("10") or a fraction ("5%", "0.05")."""
    value = str(raw).strip()
    if not value:
        return ""
    match = _THRESHOLD_RE.match(value)
    if not match:
        raise ValidationError("Leave empty, or give a count such as 10 or a share such as 5%.")
    number, percent = float(match.group(1)), match.group(2)
    if percent and number > 100:
        raise ValidationError("A percentage is at most 100%.")
    if not percent and "." in match.group(1) and number > 1:
        raise ValidationError("A fraction is between 0 and 1; a count is a whole number.")
    return value.replace(" ", "")


def _as_auto_int(spec: FieldSpec, raw: Any) -> str | int:
    value = str(raw).strip().lower()
    if value in ("", "auto"):
        return "auto"
    return _as_int(spec, value)


def _as_stop(spec: FieldSpec, raw: Any) -> list[str]:
    """Stop sequences: a list of strings (API), or the form's `a|b` text."""
    if not isinstance(raw, str | list):
        raise ValidationError("Give a list of texts, or texts separated by |.")
    try:
        return list(parse_stop(raw))
    except (ValueError, TypeError) as exc:  # a malformed JSON list is a ValueError
        raise ValidationError(f"Stop sequences: {exc}.") from exc


def _as_columns(spec: FieldSpec, raw: Any) -> list[str]:
    """Column names: a list (API), or the form's comma-separated text."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValidationError("Give a list of column names, or names separated by commas.")
    names = [item.strip() for item in items if item.strip()]
    if len(names) > 100:
        raise ValidationError("At most 100 columns.")
    if any(len(name) > 200 or "\x00" in name for name in names):
        raise ValidationError("A column name is at most 200 characters, without NUL bytes.")
    return list(dict.fromkeys(names))


_PARSERS = {
    "int": _as_int,
    "float": _as_float,
    "choice": _as_choice,
    "text": _as_text,
    "threshold": _as_threshold,
    "auto_int": _as_auto_int,
    "stop": _as_stop,
    "columns": _as_columns,
}


def settings_validate(schema: list[FieldSpec], data: dict[str, Any] | None) -> dict[str, Any]:
    """Return the full, typed settings; raise ValidationError keyed by field name.

    Missing keys take their defaults; unknown keys are refused so a typo is not ignored.
    """
    data = dict(data or {})
    errors: dict[str, list[str]] = {}
    known = {spec["name"] for spec in schema}
    for key in sorted(set(data) - known):
        errors[key] = [
            f"Unknown setting '{shown(key)}'. Known settings: {', '.join(sorted(known))}."
        ]
    cleaned: dict[str, Any] = {}
    for spec in schema:
        name = spec["name"]
        raw = data.get(name)
        if raw is None or (isinstance(raw, str) and not raw.strip() and spec["type"] != "text"):
            cleaned[name] = spec["default"]
            continue
        try:
            cleaned[name] = _PARSERS[spec["type"]](spec, raw)
        except ValidationError as exc:
            errors[name] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    return cleaned


def threshold_exceeded(threshold: str, *, failed: int, processed: int) -> bool:
    """Whether sample failures pass the job's error_threshold setting."""
    if not threshold:
        return False
    match = _THRESHOLD_RE.match(threshold)
    if not match:
        return False
    number, percent = float(match.group(1)), match.group(2)
    if percent:
        return processed > 0 and failed / processed * 100 > number
    if "." in match.group(1):
        return processed > 0 and failed / processed > number
    return failed > number
