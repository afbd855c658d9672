"""Runner registry and the per-process model cache.

The contract (one module per ML App, importable without Django):

    load(model: ModelRef, settings: dict, **context) -> Runner  # heavy: once per process
    Runner.predict(payloads: list[str]) -> list[object | SampleFailure]
    format_result(sample: Sample, result: object) -> str   # lines of the results file
    HEADER: str                                            # written once at the top
    summary_extra(settings: dict, **context) -> dict       # optional, merged into summary.json

`context` is what the engine knows about the job beyond model and settings (today
`dataset_dir`, the dataset's root folder, and `output_dir`, the job's results folder; the
summary also gets `model`). A module receives only the keywords its function names, so a
runner that does not ask for the per-job `output_dir` stays cached across jobs.

`predict` returns one JSON-safe result per payload, or a SampleFailure for a payload the
model could not handle; an exception from `predict` makes the engine retry the batch one
sample at a time, so a single bad sample never costs its neighbours.

A runner whose batch can take seconds (a transformer over long documents, a long audio
file) calls `should_stop` between steps and raises `Stopped` when it says so: the job was
quit, and the user waits for that step only, not the whole batch. Calling it also keeps
the shard's heartbeat fresh.

    heartbeat_thread(model: ModelRef) -> bool  # optional; True when absent

While a shard runs, a thread keeps its heartbeat fresh, for runners with long steps that
call nothing back (a model load, one long audio file). A module whose runner answers
False for a model gets no thread: the heartbeat is then written between batches and from
`should_stop`. Once a process has had a second thread, glibc's allocator takes a lock on
every malloc for the rest of its life: spaCy NER used 9-10 % more CPU a sentence in a
process with an idle thread (bench), so VADER and spaCy run without one.

    large_tensors(model: ModelRef) -> bool  # optional; False when absent

True for torch models: get_runner then sets the allocator for them before every shard
(worker.runners.memory.allocator_for says why), and back for the next model that is not.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from worker.runners import memory


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


log = logging.getLogger(__name__)

# Models load from local folders only: never let a library reach for a model hub. Set
# before any runner imports transformers or huggingface_hub, which read it at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

RUNNER_MODULES = {
    "speech-recognition": "worker.runners.asr",
    "document-classification": "worker.runners.classification",
    "named-entity-recognition": "worker.runners.ner",
    "sentiment-analysis": "worker.runners.sentiment",
}
# Settings that change what `load` builds; other settings are per batch and share a model.
_LOAD_SETTINGS = (
    "device",
    "compute_type",
    "labels_file",
    "max_seq_length",
    "label_scheme",
    "language",
    "beam_size",
    "num_speakers",
)
_CACHE_SIZE = 2
_cache: OrderedDict[tuple[Any, ...], Runner] = OrderedDict()
_lock = threading.Lock()


def runner_module(app_key: str) -> ModuleType:
    try:
        return importlib.import_module(RUNNER_MODULES[app_key])
    except KeyError as exc:
        raise ModelLoadError(f"No runner for the ML App '{app_key}'.") from exc


def _named_keywords(func: Callable[..., Any], context: dict[str, Any]) -> dict[str, Any]:
    """The items of `context` that `func` names as parameters (`**kwargs` takes none)."""
    params = inspect.signature(func).parameters
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {k: v for k, v in context.items() if k in params and params[k].kind in named}


def get_runner(app_key: str, model: ModelRef, settings: dict[str, Any], **extra: Any) -> Runner:
    """Load once per worker process; consecutive jobs with the same model reuse it."""
    module = runner_module(app_key)
    large_tensors = getattr(module, "large_tensors", None)
    memory.allocator_for(bool(large_tensors and large_tensors(model)))
    extra = _named_keywords(module.load, extra)
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
    runner = module.load(model, settings, **extra)
    with _lock:
        _cache[key] = runner
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return runner


def runner_summary(app_key: str, settings: dict[str, Any], **context: Any) -> dict[str, Any]:
    """The ML App's additions to summary.json; never fails the job it describes."""
    func = getattr(runner_module(app_key), "summary_extra", None)
    if func is None:
        return {}
    try:
        return dict(func(settings, **_named_keywords(func, context)))
    except Exception:
        log.exception("summary_extra of %s failed", app_key)
        return {}


def cache_info() -> int:
    return len(_cache)
