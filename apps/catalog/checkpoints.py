"""Check a model folder before it is accepted, and record what it holds.

A model is one of: a Hugging Face checkpoint (config.json + *.safetensors) whose
architecture suits the ML App, a spaCy pipeline (meta.json + config.cfg, with an `ner`
component for NER), or a CTranslate2 Whisper model (model.bin + config.json + a
vocabulary). Pickle-based weights (*.bin from PyTorch, *.pt, *.pth, *.ckpt, *.pkl) are
refused: loading them can run arbitrary code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

# Shared with the runners, which check a model folder again when they load it: the
# catalog accepts exactly the folders they will load.
from worker.runners.files import is_pickled, sha256_file, single_top_folder

# What a Hugging Face architecture name must end with to run under each ML App.
HF_ARCHITECTURES = {
    "document-classification": ("ForSequenceClassification",),
    "sentiment-analysis": ("ForSequenceClassification",),
    "named-entity-recognition": ("ForTokenClassification",),
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
    if "meta.json" in names and "config.cfg" in names:
        source_type, detail = "spacy", _check_spacy(root, ml_app_key)
    elif (
        "model.bin" in names
        and "config.json" in names
        and ("vocabulary.json" in names or "vocabulary.txt" in names or "tokenizer.json" in names)
    ):
        source_type, detail = "ctranslate2", _check_ctranslate2(ml_app_key)
    elif "config.json" in names:
        source_type, detail = "huggingface", _check_hf(root, names, ml_app_key)
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


def _check_hf(root: Path, names: set[str], ml_app_key: str) -> str:
    try:
        config = json.loads((root / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"config.json is not valid JSON ({exc}).") from exc
    if not any(n.endswith(".safetensors") for n in names):
        raise CheckpointError("No *.safetensors weights in the folder.")
    if ml_app_key not in HF_ARCHITECTURES:
        raise CheckpointError(
            "A Hugging Face checkpoint cannot run speech recognition here; use a CTranslate2 "
            "Whisper model."
        )
    architectures = config.get("architectures") or []
    wanted = HF_ARCHITECTURES[ml_app_key]
    if not any(str(a).endswith(wanted) for a in architectures):
        shown = ", ".join(architectures) or "none given"
        raise CheckpointError(
            f"The architecture ({shown}) does not suit this ML App: it needs a *{wanted[0]} model."
        )
    if not ({"tokenizer.json", "vocab.txt", "tokenizer_config.json"} & names):
        raise CheckpointError("No tokenizer files (tokenizer.json or vocab.txt) in the folder.")
    return ", ".join(architectures)


def _check_spacy(root: Path, ml_app_key: str) -> str:
    try:
        meta = json.loads((root / "meta.json").read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"meta.json is not valid JSON ({exc}).") from exc
    if ml_app_key != "named-entity-recognition":
        raise CheckpointError("A spaCy pipeline can only run named entity recognition.")
    pipeline = meta.get("pipeline") or []
    if "ner" not in pipeline:
        raise CheckpointError("The spaCy pipeline has no 'ner' component.")
    return f"spaCy {meta.get('lang', '?')}_{meta.get('name', '?')} {meta.get('version', '')}"


def _check_ctranslate2(ml_app_key: str) -> str:
    if ml_app_key != "speech-recognition":
        raise CheckpointError("A CTranslate2 Whisper model can only run speech recognition.")
    return "CTranslate2 Whisper"
