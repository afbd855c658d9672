"""Quality measures for labelled sets: accuracy, entity-span F1 and word error rate.

Django-free, shared by the tests and `manage.py model_cards` so the figures on a model's
card are computed the way the tests check them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Span = tuple[int, int, str]  # begin, end, entity type (PER, LOC...)


def accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float:
    if len(predicted) != len(gold) or not gold:
        raise ValueError("accuracy needs one prediction per gold label")
    return sum(p == g for p, g in zip(predicted, gold, strict=True)) / len(gold)


def gold_spans(text: str, entities: Iterable[tuple[str, str]]) -> set[Span]:
    """Spans of entity strings given in reading order ("Tim Cook", "PER")."""
    spans, start = set(), 0
    for words, kind in entities:
        begin = text.index(words, start)
        spans.add((begin, begin + len(words), kind))
        start = begin + len(words)
    return spans


def predicted_spans(text: str, entities: Iterable[dict[str, Any]]) -> set[Span]:
    """Spans from the NER results' word entries: a B- word starts one, I- words of the same
    type right after it (only spaces between) extend it."""
    spans: list[list[Any]] = []
    for entry in sorted(entities, key=lambda e: e["begin_offset"]):
        prefix, _, kind = str(entry["entity"]).partition("-")
        begin, end = int(entry["begin_offset"]), int(entry["end_offset"])
        last = spans[-1] if spans else None
        joins = (
            prefix == "I"
            and last is not None
            and last[2] == kind
            and not text[last[1] : begin].strip()
        )
        if joins and last is not None:
            last[1] = end
        else:
            spans.append([begin, end, kind])
    return {(b, e, k) for b, e, k in spans}


@dataclass(frozen=True)
class SpanScore:
    true_positives: int
    predicted: int
    gold: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def span_score(pairs: Iterable[tuple[set[Span], set[Span]]]) -> SpanScore:
    """Micro-averaged exact-span scores over (predicted, gold) pairs: a span counts only
    with the same begin, end and type."""
    tp = predicted = gold = 0
    for found, expected in pairs:
        tp += len(found & expected)
        predicted += len(found)
        gold += len(expected)
    return SpanScore(tp, predicted, gold)


_WORDS = re.compile(r"[a-z0-9']+")
# Whisper writes small numbers as digits, scripts as words: both count as the word.
NUMBERS = {"1": "one", "2": "two", "3": "three", "4": "four", "5": "five", "10": "ten"}


def words(text: str) -> list[str]:
    """The words of a transcript, lower case, punctuation dropped, small numbers spelled."""
    return [NUMBERS.get(w, w) for w in _WORDS.findall(text.lower())]


def word_error_rate(hypothesis: str, reference: str) -> float:
    """(substitutions + deletions + insertions) / reference words (see `words`)."""
    hyp, ref = words(hypothesis), words(reference)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[len(hyp)] / len(ref) if ref else float(bool(hyp))
