"""Text people type: names (jobs, projects, models, datasets, API tokens, usernames) and
how a message quotes what they typed.

A name is one line of visible text. Refused: control characters (Unicode category Cc: NUL,
tabs, line breaks), format characters (Cf: the bidi overrides U+202A–U+202E and isolates
U+2066–U+2069, zero-width characters), line and paragraph separators (Zl, Zp) and lone
surrogates (Cs, which no database can store). Bidi controls make a terminal or a page show
a name as something else (`gnp.exe` shown as `exe.png`); a NUL byte cannot be stored in
PostgreSQL.

A message that quotes user input goes through `shown`, so it never carries such
characters raw.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from django import forms
from django.core.validators import MaxLengthValidator

# Unicode categories refused in names and escaped in messages.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_SHOWN_LIMIT = 200


def _hidden(ch: str) -> bool:
    return unicodedata.category(ch) in _HIDDEN_CATEGORIES


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def shown(value: object, *, limit: int = _SHOWN_LIMIT) -> str:
    """`value` as a message may quote it: hidden characters escaped (U+202E → `\\u202e`),
    and cut to `limit` characters with an ellipsis."""
    text = str(value)
    cut = len(text) > limit
    text = "".join(_escape(ch) if _hidden(ch) else ch for ch in text[:limit])
    return text + "…" if cut else text


def storable(text: str) -> bool:
    """Whether every database can store `text`: no NUL byte (PostgreSQL refuses it) and no
    lone surrogate (which is no UTF-8 at all)."""
    return "\x00" not in text and not any("\ud800" <= ch <= "\udfff" for ch in text)


def name_problem(name: str, *, what: str = "name", max_length: int | None = None) -> str | None:
    """Why `name` cannot be used as `what`, or None. The one check for every name a user
    gives, in the forms, the services and the API alike."""
    if max_length is not None and len(name) > max_length:
        return f"The {what} is longer than {max_length:,} characters."
    hidden = next((ch for ch in name if _hidden(ch)), None)
    if hidden is not None:
        label = unicodedata.name(hidden, "") if unicodedata.category(hidden) != "Cs" else ""
        which = f"U+{ord(hidden):04X}" + (f" {label}" if label else "")
        return (
            f"The {what} may not contain control characters or invisible formatting "
            f"characters (it holds {which}), such as tabs, line breaks, NUL bytes or bidi "
            "controls."
        )
    return None


class NameField(forms.CharField):
    """A form field for a name: `name_problem`'s messages, the same as the services give."""

    def __init__(self, *, what: str = "name", max_length: int, **kwargs: Any) -> None:
        self.what = what
        super().__init__(max_length=max_length, **kwargs)
        # The length is checked in validate() with the services' sentence, not Django's.
        self.validators = [v for v in self.validators if not isinstance(v, MaxLengthValidator)]

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value and (problem := name_problem(value, what=self.what, max_length=self.max_length)):
            raise forms.ValidationError(problem, code="name")
