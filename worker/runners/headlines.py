"""Headlines for the spaCy models: all-caps text re-cased to headline case, Title-Case text
lower-cased (worker.runners.ner's docstring says why and how).

Every function keeps the text's length: offsets found in a copy are offsets in the original.
"""

from __future__ import annotations

import re

# Types trusted from a re-cased headline (see the module docstring).
RECASED_TYPES = {"PERSON", "PER", "GPE", "LOC", "ORG", "NORP"}
TITLE_TYPES = RECASED_TYPES | {"EVENT", "FAC"}
TITLE_MIN_WORDS = 3
ALL_CAPS_SHARE = 0.9
# A word, with its apostrophe ("Trump's", "Trump’s": news copy uses the curly one).
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)?")
_DASH = re.compile(r"\s+-+\s+")


def is_all_caps(text: str) -> bool:
    cased = [c for c in text if c.isupper() or c.islower()]
    return len(cased) >= 4 and sum(c.isupper() for c in cased) >= ALL_CAPS_SHARE * len(cased)


def headline_case(text: str) -> str:
    """Same-length copy with stop words lower-case and other words capitalised."""
    from spacy.lang.en.stop_words import STOP_WORDS

    def recase(match: re.Match[str]) -> str:
        word = match.group(0)
        new = word.lower() if word.lower() in STOP_WORDS else word.capitalize()
        return new if len(new) == len(word) else word

    return _WORD.sub(recase, text)


def is_title_case(text: str) -> bool:
    """Every word but the stop words capitalised, at least three of them, not all caps."""
    from spacy.lang.en.stop_words import STOP_WORDS

    words = [w for w in _WORD.findall(text) if w.lower() not in STOP_WORDS]
    return (
        len(words) >= TITLE_MIN_WORDS
        and all(w[0].isupper() for w in words)
        and not is_all_caps(text)
    )


def lowered(text: str) -> str:
    """`text.lower()` of the same length: a letter whose lower case is longer ("İ") stays,
    so offsets found in the copy hold in the text."""
    return "".join(low if len(low := c.lower()) == 1 else c for c in text)


def headline_parts(text: str) -> list[tuple[int, int]]:
    """Spans of the parts between dashes ("SOCCER - JAPAN GET LUCKY WIN")."""
    spans, start = [], 0
    for dash in _DASH.finditer(text):
        spans.append((start, dash.start()))
        start = dash.end()
    spans.append((start, len(text)))
    return [(b, e) for b, e in spans if text[b:e].strip()]
