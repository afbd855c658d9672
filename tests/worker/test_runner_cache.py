"""The per-process runner cache the engine relies on: a worker loads a model once and
consecutive jobs reuse it."""

from __future__ import annotations

import pytest

from worker.runners import ModelRef, registry
from worker.runners.registry import get_runner

VADER = ModelRef(name="vader-sentiment", source_type="builtin", location="vader")
APP = "sentiment-analysis"


@pytest.fixture(autouse=True)
def empty_cache():
    registry._cache.clear()
    yield
    registry._cache.clear()


def test_same_model_is_loaded_once_across_jobs(tmp_path):
    first = get_runner(APP, VADER, {"batch_size": 32}, output_dir=tmp_path / "job1")
    # Another job: other per-batch settings, another results folder, same model.
    again = get_runner(APP, VADER, {"batch_size": 8}, output_dir=tmp_path / "job2")

    assert again is first
    assert registry.cache_info() == 1
    assert [label for label, _ in first.predict(["A great result."])] == ["positive"]


def test_cache_keeps_the_most_recently_used_models():
    copies = [
        ModelRef(name=f"vader-{i}", source_type="builtin", location="vader") for i in range(3)
    ]
    a = get_runner(APP, copies[0], {})
    b = get_runner(APP, copies[1], {})
    assert get_runner(APP, copies[0], {}) is a  # a is now the most recent
    get_runner(APP, copies[2], {})  # evicts b, the least recently used

    assert registry.cache_info() == 2
    assert get_runner(APP, copies[0], {}) is a
    assert get_runner(APP, copies[1], {}) is not b


def test_settings_that_change_the_model_get_their_own_runner():
    cpu = get_runner(APP, VADER, {"device": "cpu"})
    assert get_runner(APP, VADER, {"device": "cuda"}) is not cpu


def test_the_allocator_follows_the_model_of_each_shard(tmp_path):
    # A fresh process: spaCy keeps the settled thresholds (a 1 MiB mmap threshold slows
    # it), MiniLM gets the torch ones (its padded batches fragment the heap otherwise),
    # and a spaCy job after it, in the same process, gets the settled ones back, even
    # though MiniLM stays loaded in the cache.
    import subprocess
    import sys
    from pathlib import Path

    (tmp_path / "labels.txt").write_text("a\nb\n")
    script = f"""
from pathlib import Path
from worker.runners import ModelRef, memory
from worker.runners.registry import get_runner
spacy = ModelRef("s", "builtin", "spacy-en-core-web-sm")
minilm = ModelRef("m", "builtin", "minilm-zero-shot")
get_runner("named-entity-recognition", spacy, {{}})
print(memory._torch)
get_runner("document-classification", minilm, {{}}, dataset_dir=Path({str(tmp_path)!r}))
print(memory._torch)
get_runner("named-entity-recognition", spacy, {{}})
print(memory._torch)
get_runner("document-classification", minilm, {{}}, dataset_dir=Path({str(tmp_path)!r}))
print(memory._torch)
"""
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True", "False", "True"]
