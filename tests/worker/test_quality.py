"""The quality measures the tests and the model cards share (worker.quality)."""

from __future__ import annotations

import pytest

from worker import quality


def test_spans_from_word_entries_and_exact_span_scores():
    text = "Tim Cook met Angela Merkel in New York"
    entries = [
        {"begin_offset": 0, "end_offset": 3, "entity": "B-PER"},
        {"begin_offset": 4, "end_offset": 8, "entity": "I-PER"},
        {"begin_offset": 13, "end_offset": 19, "entity": "B-PER"},  # Angela alone
        {"begin_offset": 20, "end_offset": 26, "entity": "B-PER"},  # Merkel starts anew
        {"begin_offset": 30, "end_offset": 33, "entity": "B-LOC"},
        {"begin_offset": 34, "end_offset": 38, "entity": "I-ORG"},  # another type: a new span
    ]
    found = quality.predicted_spans(text, entries)
    assert found == {(0, 8, "PER"), (13, 19, "PER"), (20, 26, "PER"), (30, 33, "LOC"),
                     (34, 38, "ORG")}  # fmt: skip
    gold = quality.gold_spans(
        text, [("Tim Cook", "PER"), ("Angela Merkel", "PER"), ("New York", "LOC")]
    )
    score = quality.span_score([(found, gold)])
    assert (score.true_positives, score.predicted, score.gold) == (1, 5, 3)
    assert score.f1 == pytest.approx(2 * (1 / 5) * (1 / 3) / (1 / 5 + 1 / 3))
    assert quality.span_score([]).f1 == 0.0


def test_word_error_rate_ignores_case_punctuation_and_digits():
    assert (
        quality.word_error_rate("Ship it on Tuesday, 2 days!", "ship it on tuesday two days") == 0
    )
    assert quality.word_error_rate("ship it tuesday", "ship it on tuesday") == 0.25
    assert quality.word_error_rate("a b c d e", "a b") == 1.5
    assert quality.word_error_rate("", "") == 0.0


def test_accuracy_needs_one_prediction_per_label():
    assert quality.accuracy(["a", "b", "b"], ["a", "b", "a"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="one prediction per gold label"):
        quality.accuracy(["a"], ["a", "b"])
