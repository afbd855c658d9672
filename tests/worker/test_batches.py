"""How the engine writes one batch: results in order, errors beside them, and what a quit
in the middle of a batch keeps."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any

import pytest

from worker import shards
from worker.readers import Sample
from worker.runners import SampleFailure, Stopped, stop_check

FORMAT = SimpleNamespace(
    format_result=lambda sample, result: f"{sample.index}\t{result}\n", counts_tokens=False
)


class Upper:
    """Upper-cases texts one at a time, looking for a quit before each; the job is quit
    after `stop_after` looks."""

    def __init__(self, stop_after: int | None = None, fail_on: str = "") -> None:
        self.stop_after, self.fail_on = stop_after, fail_on
        self.looks = 0

    def _quit(self) -> bool:
        self.looks += 1
        return self.stop_after is not None and self.looks > self.stop_after

    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]:
        done: list[Any] = []
        for text in payloads:
            try:
                stop_check(self._quit)
            except Stopped:
                raise Stopped(done) from None
            if text == self.fail_on:
                raise ValueError("the model broke on this text")
            done.append(text.upper())
        return done


def samples(*texts: str | None) -> list[Sample]:
    return [
        Sample(i, "in.txt", f"in.txt line {i + 1}", t, None if t else "empty text")
        for i, t in enumerate(texts)
    ]


def run(runner: Upper, batch: list[Sample]) -> tuple[bool, list[str], list[dict[str, Any]], Any]:
    out, err = io.StringIO(), io.StringIO()
    progress = SimpleNamespace(done=0, failed=0, should_stop=lambda: False)
    finished = shards._process_batch(FORMAT, runner, batch, out, err, progress)
    errors = [json.loads(line) for line in err.getvalue().splitlines()]
    return finished, out.getvalue().splitlines(), errors, progress


def test_a_whole_batch_is_written_in_order_with_bad_samples_in_errors():
    finished, lines, errors, progress = run(Upper(), samples("a", None, "b", "c"))
    assert finished
    assert lines == ["0\tA", "2\tB", "3\tC"]
    assert errors == [{"index": 1, "input": "in.txt line 2", "reason": "empty text"}]
    assert (progress.done, progress.failed) == (3, 1)


@pytest.mark.parametrize(
    ("stop_after", "kept_lines", "kept_errors"),
    [
        (0, [], []),  # quit before the first sample: nothing of the batch is written
        (1, ["0\tA"], [1]),  # the unreadable sample before the next one is reported
        (2, ["0\tA", "2\tB"], [1]),
    ],
)
def test_a_quit_mid_batch_keeps_the_finished_samples_and_drops_the_rest(
    stop_after, kept_lines, kept_errors
):
    finished, lines, errors, progress = run(Upper(stop_after), samples("a", None, "b", "c", None))
    assert not finished
    assert lines == kept_lines
    assert [e["index"] for e in errors] == kept_errors
    assert (progress.done, progress.failed) == (len(kept_lines), len(kept_errors))


def test_a_quit_while_retrying_one_at_a_time_keeps_the_retried_samples():
    # "b" breaks the batch (2 looks), so the engine retries sample by sample; the quit
    # comes after "a" and "b" (a failure) were retried.
    runner = Upper(stop_after=4, fail_on="b")
    finished, lines, errors, _ = run(runner, samples("a", "b", "c"))
    assert not finished
    assert lines == ["0\tA"]
    assert [(e["index"], e["reason"]) for e in errors] == [
        (1, "the model could not process this sample")
    ]


def test_a_failed_sample_result_is_an_error_line():
    class Picky(Upper):
        def predict(self, payloads, should_stop=None):
            return [SampleFailure("too short") if len(t) < 2 else t for t in payloads]

    _, lines, errors, _ = run(Picky(), samples("a", "bb"))
    assert lines == ["1\tbb"]
    assert errors[0]["reason"] == "too short"
