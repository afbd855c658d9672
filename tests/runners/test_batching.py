"""The transformer runners' inner batching: similar lengths together, results in the
payloads' order, and a quit taken between steps."""

from __future__ import annotations

import pytest

from worker.runners import Stopped
from worker.runners.batching import predict_by_length

TEXTS = ["ccc", "a", "eeeee", "bb", "dddd"]


def test_steps_hold_similar_lengths_and_results_keep_the_payloads_order():
    steps: list[list[str]] = []

    def predict_batch(batch: list[str]) -> list[int]:
        steps.append(batch)
        return [len(text) for text in batch]

    results = predict_by_length(TEXTS, batch_size=2, should_stop=None, predict_batch=predict_batch)
    assert steps == [["a", "bb"], ["ccc", "dddd"], ["eeeee"]]
    assert results == [3, 1, 5, 2, 4]


def test_a_quit_is_taken_between_steps_never_before_the_first():
    steps: list[list[str]] = []
    asked: list[int] = []

    def should_stop() -> bool:
        asked.append(len(steps))
        return len(steps) == 2

    def predict_batch(batch: list[str]) -> list[str]:
        steps.append(batch)
        return batch

    with pytest.raises(Stopped):
        predict_by_length(TEXTS, batch_size=2, should_stop=should_stop, predict_batch=predict_batch)
    assert asked == [1, 2]  # after the first step and the second, where it stopped
    assert len(steps) == 2


def test_no_texts_make_no_steps():
    def predict_batch(batch: list[str]) -> list[str]:
        raise AssertionError("no step for no texts")

    assert predict_by_length([], batch_size=8, should_stop=None, predict_batch=predict_batch) == []
