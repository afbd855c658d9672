"""The registry of ML Apps, and the per-process cache of loaded models.

Adding an ML App: write one runner module whose MLAppPlugin subclass is its PLUGIN
(worker.runners.plugin holds the contract), add it to PLUGINS below, and run
`manage.py catalog_sync` (`make run` does). `manage.py check` fails while a plugin has no
MLApp row or a row no plugin.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from worker.runners import (
    ModelLoadError,
    ModelRef,
    Runner,
    asr,
    classification,
    embeddings,
    memory,
    ner,
    sentiment,
    textgen,
)
from worker.runners.plugin import MLAppPlugin

# The catalog lists the ML Apps in this order.
PLUGINS: tuple[MLAppPlugin, ...] = (
    asr.PLUGIN,
    classification.PLUGIN,
    ner.PLUGIN,
    sentiment.PLUGIN,
    textgen.PLUGIN,
    embeddings.PLUGIN,
)
ML_APPS: dict[str, MLAppPlugin] = {plugin.key: plugin for plugin in PLUGINS}

log = logging.getLogger(__name__)

_CACHE_SIZE = 2
_cache: OrderedDict[tuple[Any, ...], Runner] = OrderedDict()
_lock = threading.Lock()


def plugin_for(app_key: str) -> MLAppPlugin:
    try:
        return ML_APPS[app_key]
    except KeyError as exc:
        raise ModelLoadError(f"No runner for the ML App '{app_key}'.") from exc


def _named_keywords(func: Callable[..., Any], context: dict[str, Any]) -> dict[str, Any]:
    """The items of `context` that `func` names as parameters (`**kwargs` takes none)."""
    params = inspect.signature(func).parameters
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {k: v for k, v in context.items() if k in params and params[k].kind in named}


def get_runner(app_key: str, model: ModelRef, settings: dict[str, Any], **extra: Any) -> Runner:
    """Load once per worker process; consecutive jobs with the same model reuse it."""
    plugin = plugin_for(app_key)
    memory.allocator_for(plugin.large_tensors(model))
    extra = _named_keywords(plugin.load, extra)
    key = (
        app_key,
        model,
        tuple((name, str(settings.get(name))) for name in plugin.load_settings),
        tuple(sorted((k, str(v)) for k, v in extra.items())),
    )
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    runner = plugin.load(model, settings, **extra)
    with _lock:
        _cache[key] = runner
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return runner


def runner_summary(app_key: str, settings: dict[str, Any], **context: Any) -> dict[str, Any]:
    """The ML App's additions to summary.json; never fails the job it describes."""
    plugin = plugin_for(app_key)
    try:
        context = _named_keywords(plugin.summary_extra, context)
        return dict(plugin.summary_extra(settings, **context))
    except Exception:
        log.exception("summary_extra of %s failed", app_key)
        return {}


def cache_info() -> int:
    return len(_cache)
