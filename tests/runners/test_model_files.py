"""The catalog and the runners read a model folder with the same rules (worker.runners.files):
a folder the catalog accepts is one the runner loads, and a pickle refused at upload is
refused at load too."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from apps.catalog.checkpoints import CheckpointError, checkpoint_inspect
from worker.runners import ModelLoadError, hf
from worker.runners.files import pickled_files, sha256_file, single_top_folder


def _hf_folder(folder: Path, extra: str) -> Path:
    """A Hugging Face checkpoint's file names (the contents are never loaded) plus `extra`."""
    files = {
        "config.json": json.dumps({"architectures": ["BertForSequenceClassification"]}),
        "model.safetensors": "weights",
        "vocab.txt": "[PAD]\n",
        extra: "extra",
    }
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def _catalog_refuses_pickles(folder: Path) -> bool:
    try:
        checkpoint_inspect(folder, "sentiment-analysis")
    except CheckpointError as exc:
        return "pickled weights" in str(exc)
    return False


def _runner_refuses_pickles(folder: Path) -> bool:
    try:
        hf.refuse_pickles(hf.checkpoint_folder(str(folder)))
    except ModelLoadError as exc:
        return "pickled weights" in str(exc)
    return False


@pytest.mark.parametrize(
    ("extra", "pickled"),
    [
        ("pytorch_model.bin", True),
        ("training_args.bin", True),
        ("weights.PT", True),
        ("model.pth", True),
        ("last.ckpt", True),
        ("vectorizer.pkl", True),
        ("state.pickle", True),
        ("pipeline.joblib", True),
        ("embeddings.npy", True),
        ("arrays.npz", True),
        ("checkpoint-500/pytorch_model.bin", True),  # in a subfolder: refused all the same
        ("README.md", False),
        ("tokenizer.json", False),
        ("extra.safetensors", False),
    ],
)
def test_the_catalog_and_the_runner_refuse_the_same_pickles(tmp_path: Path, extra, pickled):
    folder = _hf_folder(tmp_path / "upload" / "my-model", extra)  # wrapped in one folder
    assert _catalog_refuses_pickles(tmp_path / "upload") is pickled
    assert _runner_refuses_pickles(tmp_path / "upload") is pickled
    assert pickled_files(folder) == ([extra] if pickled else [])


def test_ctranslate2_weights_are_not_taken_for_a_pickle(tmp_path: Path):
    # CTranslate2's model.bin is its own flat format; refusing it would refuse every Whisper.
    for name in ("model.bin", "config.json", "vocabulary.txt"):
        (tmp_path / name).write_text("x")
    assert pickled_files(tmp_path) == []
    assert checkpoint_inspect(tmp_path, "speech-recognition").source_type == "ctranslate2"


def test_an_archive_of_one_folder_means_that_folder(tmp_path: Path):
    (tmp_path / "one" / "my-model").mkdir(parents=True)
    (tmp_path / "one" / ".DS_Store").write_text("")  # hidden entries do not count
    assert single_top_folder(tmp_path / "one") == tmp_path / "one" / "my-model"

    (tmp_path / "two" / "my-model").mkdir(parents=True)
    (tmp_path / "two" / "README.md").write_text("")
    assert single_top_folder(tmp_path / "two") == tmp_path / "two"

    (tmp_path / "file").mkdir()
    (tmp_path / "file" / "config.json").write_text("{}")
    assert single_top_folder(tmp_path / "file") == tmp_path / "file"


def test_a_link_to_a_folder_is_never_followed(tmp_path: Path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "inner").symlink_to(tmp_path / "elsewhere")
    assert single_top_folder(tmp_path / "model") == tmp_path / "model"


def test_sha256_of_a_file_larger_than_one_read(tmp_path: Path):
    data = bytes(range(256)) * 5000  # 1.2 MiB: two reads of 1 MiB
    (tmp_path / "weights").write_bytes(data)
    assert sha256_file(tmp_path / "weights") == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("architecture", "app", "refusal"),
    [
        ("LlamaForCausalLM", "text-generation", None),
        ("Qwen2ForCausalLM", "text-generation", None),
        ("BertForSequenceClassification", "text-generation", "needs a *ForCausalLM model"),
        ("LlamaForCausalLM", "sentiment-analysis", "needs a *ForSequenceClassification"),
        ("BertModel", "text-embeddings", "cannot run Text Embeddings"),
    ],
)
def test_each_ml_app_takes_the_checkpoints_its_plugin_names(tmp_path, architecture, app, refusal):
    for name, text in {
        "config.json": json.dumps({"architectures": [architecture]}),
        "model.safetensors": "weights",
        "tokenizer.json": "{}",
    }.items():
        (tmp_path / name).write_text(text)
    if refusal is None:
        info = checkpoint_inspect(tmp_path, app)
        assert (info.source_type, info.detail) == ("huggingface", architecture)
    else:
        with pytest.raises(CheckpointError, match=re.escape(refusal)):
            checkpoint_inspect(tmp_path, app)


def test_a_spacy_pipeline_is_refused_by_an_app_that_runs_none(tmp_path):
    (tmp_path / "meta.json").write_text('{"pipeline": ["ner"]}')
    (tmp_path / "config.cfg").write_text("[nlp]")
    with pytest.raises(CheckpointError, match="A spaCy pipeline cannot run Sentiment Analysis"):
        checkpoint_inspect(tmp_path, "sentiment-analysis")
