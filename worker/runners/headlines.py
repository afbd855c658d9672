"""Headlines for the spaCy models: all-caps and Title-Case text re-cased so that only
likely names keep their capitals (worker.runners.ner's docstring says why and how).

Every function keeps the text's length: offsets found in a copy are offsets in the original.
"""

from __future__ import annotations

import re
from typing import Any

# Types trusted from a re-cased headline (see the module docstring).
RECASED_TYPES = {"PERSON", "PER", "GPE", "LOC", "ORG", "NORP"}
TITLE_TYPES = RECASED_TYPES | {"EVENT", "FAC"}
# Parts of speech (lower-cased reading) that lose their capital in a truecased headline.
COMMON_POS = {"VERB", "AUX", "ADP", "SCONJ", "CCONJ", "PART", "ADV", "DET", "PRON", "NUM"}
TITLE_MIN_WORDS = 3
ALL_CAPS_SHARE = 0.9
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
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


def truecased(text: str, as_written: Any, lowered: Any) -> str:
    """The headline with capitals kept only on likely names (see the module docstring);
    `as_written` and `lowered` are the tagged docs of `text` and `text.lower()`."""
    written_pos = {token.idx: token.pos_ for token in as_written}
    chars = list(text)
    for token in lowered:
        keep = token.pos_ == "PROPN" or (
            written_pos.get(token.idx) == "PROPN" and token.pos_ not in COMMON_POS | {"NOUN", "ADJ"}
        )
        if not keep:
            chars[token.idx : token.idx + len(token.text)] = token.text
    return "".join(chars)


def headline_parts(text: str) -> list[tuple[int, int]]:
    """Spans of the parts between dashes ("SOCCER - JAPAN GET LUCKY WIN")."""
    spans, start = [], 0
    for dash in _DASH.finditer(text):
        spans.append((start, dash.start()))
        start = dash.end()
    spans.append((start, len(text)))
    return [(b, e) for b, e in spans if text[b:e].strip()]
