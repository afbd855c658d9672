"""The inner batching of transformer runners: texts of similar length together.

A padded batch costs what its longest text costs, so the engine's batch is run in smaller
steps of similar lengths, shortest first. A step of a transformer over long documents can
take a second, so a quit is looked at between steps (worker.runners: `should_stop`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from worker.runners import memory, stop_check

T = TypeVar("T")


def predict_by_length(
    texts: Sequence[str],
    *,
    batch_size: int,
    should_stop: Callable[[], bool] | None,
    predict_batch: Callable[[list[str]], Sequence[T]],
    torch_tensors: bool = False,
) -> list[T]:
    """`predict_batch` over steps of at most `batch_size` texts of similar length; one
    result per text, in the order of `texts`. Raises Stopped between steps after a quit.

    With `torch_tensors`, the allocator is set for each step's longest text
    (memory.allocator_for_text): steps of short texts stay on the heap."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: dict[int, T] = {}
    for start in range(0, len(order), batch_size):
        if start:  # the engine looked just before it called predict
            stop_check(should_stop)
        step = order[start : start + batch_size]
        if torch_tensors:
            memory.allocator_for_text(len(texts[step[-1]]))
        out.update(zip(step, predict_batch([texts[i] for i in step]), strict=True))
    return [out[i] for i in range(len(texts))]
