"""The runner contract's plain types: what a runner receives, returns and raises.

One module per ML App (sentiment, ner, classification, asr) defines that app's
MLAppPlugin (worker.runners.plugin: the whole contract); worker.runners.registry lists the
plugins and keeps loaded models per process. Everything under worker.runners imports no
Django, so runners are tested and benchmarked without a database.

`Runner.predict` returns one JSON-safe result per payload, or a SampleFailure for a payload
the model could not handle; an exception from `predict` makes the engine retry the batch
one sample at a time, so a single bad sample never costs its neighbours.

An ML App with per-row settings (MLAppPlugin.row_settings, e.g. speech's speakers column)
also gets `row_settings=`, one dict (or None) a payload, when a batch's table rows have any.

A runner whose batch can take seconds (a transformer over long documents, a long audio
file) calls `should_stop` between steps and raises `Stopped` when it says so: the job was
quit, and the user waits for that step only, not the whole batch. Calling it also keeps
the shard's heartbeat fresh.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ModelRef:
    name: str
    source_type: str  # builtin | huggingface | spacy | ctranslate2
    location: str  # builtin key, or the absolute folder of the checkpoint


@dataclass(frozen=True)
class SampleFailure:
    reason: str


class Stopped(Exception):
    """The job was quit while `predict` worked on a batch.

    `done` holds the results of the batch's first payloads, finished before the stop: the
    engine writes those and drops the rest, which were never predicted.
    """

    def __init__(self, done: Sequence[Any] = ()) -> None:
        super().__init__("the job was stopped")
        self.done = list(done)


def stop_check(should_stop: Callable[[], bool] | None) -> None:
    """Raise Stopped if the job was quit; runners call it between the steps of a batch."""
    if should_stop is not None and should_stop():
        raise Stopped


class ModelLoadError(Exception):
    """The model cannot be loaded; the message is shown to the user as is."""


class Runner(Protocol):
    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]: ...


# Models load from local folders only: never let a library reach for a model hub. Set
# before any runner imports transformers or huggingface_hub, which read it at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
