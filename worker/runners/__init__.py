"""Runner registry and the per-process model cache.

The contract (one module per ML App, importable without Django):

    load(model: ModelRef, settings: dict) -> Runner   # heavy: done once per process
    Runner.predict(payloads: list[str]) -> list[object | SampleFailure]
    format_result(sample: Sample, result: object) -> str   # lines of the results file
    HEADER: str                                            # written once at the top

`predict` returns one JSON-safe result per payload, or a SampleFailure for a payload the
model could not handle; an exception from `predict` makes the engine retry the batch one
sample at a time, so a single bad sample never costs its neighbours.
"""

from __future__ import annotations

import importlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol


@dataclass(frozen=True)
class ModelRef:
    name: str
    source_type: str  # builtin | huggingface | spacy | ctranslate2
    location: str  # builtin key, or the absolute folder of the checkpoint


@dataclass(frozen=True)
class SampleFailure:
    reason: str


class ModelLoadError(Exception):
    """The model cannot be loaded; the message is shown to the user as is."""


class Runner(Protocol):
    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]: ...


RUNNER_MODULES = {
    "sentiment-analysis": "worker.runners.sentiment",
}
# Settings that change what `load` builds; other settings are per batch and share a model.
_LOAD_SETTINGS = ("device", "compute_type", "labels_file", "max_seq_length", "label_scheme")
_CACHE_SIZE = 2
_cache: OrderedDict[tuple[Any, ...], Runner] = OrderedDict()
_lock = threading.Lock()


def runner_module(app_key: str) -> ModuleType:
    try:
        return importlib.import_module(RUNNER_MODULES[app_key])
    except KeyError as exc:
        raise ModelLoadError(f"No runner for the ML App '{app_key}'.") from exc


def get_runner(app_key: str, model: ModelRef, settings: dict[str, Any], **extra: Any) -> Runner:
    """Load once per worker process; consecutive jobs with the same model reuse it."""
    key = (
        app_key,
        model,
        tuple((name, str(settings.get(name))) for name in _LOAD_SETTINGS),
        tuple(sorted((k, str(v)) for k, v in extra.items())),
    )
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    runner = runner_module(app_key).load(model, settings, **extra)
    with _lock:
        _cache[key] = runner
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return runner


def cache_info() -> int:
    return len(_cache)
