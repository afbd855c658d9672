"""Check a model folder before it is accepted, and record what it holds.

A model is one of: a Hugging Face checkpoint (config.json + *.safetensors) whose
architecture suits the ML App, a spaCy pipeline (meta.json + config.cfg, with an `ner`
component for NER), or a CTranslate2 Whisper model (model.bin + config.json + a
vocabulary). Which kinds an ML App runs, and which architectures, its plugin says
(MLAppPlugin.model_sources, hf_architectures). Pickle-based weights (*.bin from PyTorch,
*.pt, *.pth, *.ckpt, *.pkl) are refused: loading them can run arbitrary code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# Shared with the runners, which check a model folder again when they load it: the
# catalog accepts exactly the folders they will load.
from worker.runners.files import is_pickled, sha256_file, single_top_folder
from worker.runners.plugin import MLAppPlugin
from worker.runners.registry import ML_APPS

SOURCE_NAMES = {
    "huggingface": "a Hugging Face checkpoint",
    "spacy": "a spaCy pipeline",
    "ctranslate2": "a CTranslate2 Whisper model",
}


class CheckpointError(ValueError):
    """The folder is refused; the message gives the reason."""


@dataclass(frozen=True)
class CheckpointInfo:
    source_type: str  # huggingface | spacy | ctranslate2
    size_bytes: int
    sha256: dict[str, str]  # relative path -> hex digest
    detail: str  # e.g. the architecture or pipeline, for the model page


def _files(folder: Path) -> list[Path]:
    files = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink():
            raise CheckpointError(f"Refused: '{path.relative_to(folder)}' is a symbolic link.")
        if path.is_file():
            files.append(path)
    return files


def checkpoint_inspect(folder: Path, ml_app_key: str) -> CheckpointInfo:
    if not folder.is_dir():
        raise CheckpointError("The model must be a folder (or an archive of one).")
    root = single_top_folder(folder)
    files = _files(root)
    if not files:
        raise CheckpointError("The folder is empty.")
    pickles = [p.relative_to(root).as_posix() for p in files if is_pickled(p)]
    if pickles:
        raise CheckpointError(
            f"Refused: pickled weights ({', '.join(pickles[:3])}) can run code when loaded. "
            "Save the checkpoint with safetensors (save_pretrained(safe_serialization=True))."
        )
    names = {p.relative_to(root).as_posix() for p in files}
    plugin = ML_APPS[ml_app_key]
    if "meta.json" in names and "config.cfg" in names:
        source_type = "spacy"
        _check_source(plugin, source_type)
        detail = _check_spacy(root)
    elif (
        "model.bin" in names
        and "config.json" in names
        and ("vocabulary.json" in names or "vocabulary.txt" in names or "tokenizer.json" in names)
    ):
        source_type, detail = "ctranslate2", "CTranslate2 Whisper"
        _check_source(plugin, source_type)
    elif "config.json" in names:
        source_type = "huggingface"
        _check_source(plugin, source_type)
        detail = _check_hf(root, names, plugin)
    else:
        raise CheckpointError(
            "Not a recognised model folder: expected a Hugging Face checkpoint (config.json "
            "and *.safetensors), a spaCy pipeline (meta.json and config.cfg) or a CTranslate2 "
            "Whisper model (model.bin, config.json and a vocabulary)."
        )
    return CheckpointInfo(
        source_type=source_type,
        size_bytes=sum(p.stat().st_size for p in files),
        sha256={p.relative_to(folder).as_posix(): sha256_file(p) for p in files},
        detail=detail,
    )


def _check_source(plugin: MLAppPlugin, source_type: str) -> None:
    if source_type not in plugin.model_sources:
        takes = " or ".join(SOURCE_NAMES[s] for s in sorted(plugin.model_sources))
        raise CheckpointError(
            f"{SOURCE_NAMES[source_type][0].upper()}{SOURCE_NAMES[source_type][1:]} cannot "
            f"run {plugin.name}"
            + (f"; upload {takes}." if takes else "; it runs its built-in models only.")
        )


def _check_hf(root: Path, names: set[str], plugin: MLAppPlugin) -> str:
    try:
        config = json.loads((root / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"config.json is not valid JSON ({exc}).") from exc
    if not isinstance(config, dict):
        raise CheckpointError("config.json is not a JSON object.")
    if not any(n.endswith(".safetensors") for n in names):
        raise CheckpointError("No *.safetensors weights in the folder.")
    architectures = config.get("architectures") or []
    wanted = plugin.hf_architectures
    if not any(str(a).endswith(wanted) for a in architectures):
        shown = ", ".join(architectures) or "none given"
        raise CheckpointError(
            f"The architecture ({shown}) does not suit this ML App: it needs a *{wanted[0]} model."
        )
    if not ({"tokenizer.json", "vocab.txt", "tokenizer_config.json"} & names):
        raise CheckpointError("No tokenizer files (tokenizer.json or vocab.txt) in the folder.")
    return ", ".join(architectures)


def _check_spacy(root: Path) -> str:
    try:
        meta = json.loads((root / "meta.json").read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"meta.json is not valid JSON ({exc}).") from exc
    pipeline = meta.get("pipeline") or []
    if "ner" not in pipeline:
        raise CheckpointError("The spaCy pipeline has no 'ner' component.")
    return f"spaCy {meta.get('lang', '?')}_{meta.get('name', '?')} {meta.get('version', '')}"
