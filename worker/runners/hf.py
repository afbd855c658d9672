"""User Hugging Face checkpoints: load safely, run sequence and token classification.

A checkpoint is a folder with config.json, *.safetensors weights and tokenizer files.
Pickled weights (pytorch_model.bin, *.pt, ...) are refused before transformers sees the
folder, and loading never runs code from the folder (no trust_remote_code) nor touches
the network (local files only; worker.runners sets HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.reasons import library_reason
from worker.runners import ModelLoadError
from worker.runners.batching import predict_by_length
from worker.runners.files import pickled_files, single_top_folder

MAX_LENGTH_DEFAULT = 512


def checkpoint_folder(location: str) -> Path:
    """The folder holding config.json (an archive may wrap it in one top folder)."""
    folder = Path(location)
    if not folder.is_dir():
        raise ModelLoadError(f"The model folder {folder} does not exist.")
    root = single_top_folder(folder)
    if not (root / "config.json").is_file():
        raise ModelLoadError(f"The model folder {folder} has no config.json.")
    return root


def refuse_pickles(folder: Path) -> None:
    """The catalog's rule again (worker.runners.files), for a folder changed since it was
    added: transformers is never shown a folder that holds a pickle."""
    pickled = pickled_files(folder)
    if pickled:
        raise ModelLoadError(
            f"The checkpoint holds pickled weights ({', '.join(pickled[:3])}), which can "
            "run code when loaded; BatchStudio loads safetensors only. Re-save it with "
            "save_pretrained(..., safe_serialization=True)."
        )
    if not any(p.name.endswith(".safetensors") for p in folder.iterdir() if p.is_file()):
        raise ModelLoadError("The checkpoint has no *.safetensors weights.")


def torch_device(name: str) -> str:
    import torch

    if name == "cuda":
        if not torch.cuda.is_available():
            raise ModelLoadError(
                "The job asks for the CUDA device, but this worker has no usable GPU; "
                "choose the CPU device or run a GPU worker."
            )
        return "cuda"
    return "cpu"


def read_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        why = library_reason(exc, default="it is not valid JSON")
        raise ModelLoadError(f"The checkpoint's config.json cannot be read: {why}.") from exc
    if not isinstance(config, dict):
        raise ModelLoadError("The checkpoint's config.json is not a JSON object.")
    return config


def config_labels(config: dict[str, Any]) -> list[str]:
    """Class names in class-index order, from config.json's id2label."""
    raw = config.get("id2label") or {}
    try:
        pairs = sorted((int(k), str(v)) for k, v in raw.items())
    except (AttributeError, ValueError) as exc:
        raise ModelLoadError("The checkpoint's id2label is not a map of class indexes.") from exc
    if not pairs or [i for i, _ in pairs] != list(range(len(pairs))):
        raise ModelLoadError("The checkpoint's config.json names no classes (id2label).")
    return [label for _, label in pairs]


def quiet() -> None:
    """No progress bars in worker logs (one per weight file loaded otherwise)."""
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def _load(folder: Path, auto_class: str, device: str) -> tuple[Any, Any]:
    import transformers

    quiet()
    refuse_pickles(folder)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            folder, local_files_only=True, trust_remote_code=False
        )
        model = getattr(transformers, auto_class).from_pretrained(
            folder, local_files_only=True, use_safetensors=True, trust_remote_code=False
        )
    except (OSError, ValueError, KeyError) as exc:
        why = library_reason(exc, default="its files do not match its config.json")
        raise ModelLoadError(f"The checkpoint cannot be loaded: {why}.") from exc
    model.to(device)
    model.eval()
    return tokenizer, model


@dataclass
class SequenceClassifier:
    """Class probabilities for each text, in the checkpoint's class-index order."""

    tokenizer: Any
    model: Any
    labels: list[str]
    device: str
    max_length: int
    batch_size: int = 32

    def probabilities(
        self, texts: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[list[float]]:
        import torch

        def predict_batch(batch: list[str]) -> list[list[float]]:
            encoded = self.tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                logits = self.model(**encoded).logits.float()
            rows: list[list[float]] = torch.softmax(logits, dim=-1).cpu().tolist()
            return rows

        return predict_by_length(
            texts,
            batch_size=self.batch_size,
            should_stop=should_stop,
            predict_batch=predict_batch,
            torch_tensors=True,
        )


def sequence_classifier(location: str, *, device: str, max_length: int) -> SequenceClassifier:
    folder = checkpoint_folder(location)
    labels = config_labels(read_config(folder))
    torch_dev = torch_device(device)
    tokenizer, model = _load(folder, "AutoModelForSequenceClassification", torch_dev)
    limit = min(max_length, _model_max_length(tokenizer, model))
    return SequenceClassifier(tokenizer, model, labels, torch_dev, limit)


def _model_max_length(tokenizer: Any, model: Any) -> int:
    limits = [
        getattr(model.config, "max_position_embeddings", None),
        getattr(tokenizer, "model_max_length", None),
    ]
    usable = [int(v) for v in limits if isinstance(v, int) and 0 < v < 1_000_000]
    return min(usable) if usable else MAX_LENGTH_DEFAULT


@dataclass(frozen=True)
class WordTag:
    begin: int
    end: int
    label: str  # the checkpoint's own label of the word's first sub-token


@dataclass
class TokenClassifier:
    """One label per word (the label of its first sub-token), with character offsets."""

    tokenizer: Any
    model: Any
    labels: list[str]
    device: str
    max_length: int
    batch_size: int = 16

    def word_tags(
        self, texts: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[list[WordTag]]:
        import torch

        def predict_batch(batch: list[str]) -> list[list[WordTag]]:
            encoded = self.tokenizer(
                batch,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_offsets_mapping=True,
                return_tensors="pt",
            )
            offsets = encoded.pop("offset_mapping").tolist()
            word_ids = [encoded.word_ids(b) for b in range(len(batch))]
            with torch.inference_mode():
                logits = self.model(**encoded.to(self.device)).logits
            predicted = logits.argmax(dim=-1).cpu().tolist()
            return [
                _words(word_ids[b], offsets[b], predicted[b], self.labels)
                for b in range(len(batch))
            ]

        return predict_by_length(
            texts,
            batch_size=self.batch_size,
            should_stop=should_stop,
            predict_batch=predict_batch,
            torch_tensors=True,
        )


def _words(
    word_ids: list[int | None], offsets: list[list[int]], predicted: list[int], labels: list[str]
) -> list[WordTag]:
    words: dict[int, list[int]] = {}  # word id -> [begin, end, label id of first piece]
    for position, word in enumerate(word_ids):
        if word is None:
            continue
        begin, end = offsets[position]
        if word not in words:
            words[word] = [begin, end, predicted[position]]
        else:
            words[word][1] = max(words[word][1], end)
    return [
        WordTag(begin, end, labels[label])
        for begin, end, label in (words[w] for w in sorted(words))
        if end > begin
    ]


def token_classifier(location: str, *, device: str) -> TokenClassifier:
    folder = checkpoint_folder(location)
    labels = config_labels(read_config(folder))
    torch_dev = torch_device(device)
    tokenizer, model = _load(folder, "AutoModelForTokenClassification", torch_dev)
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(
            "The checkpoint's tokenizer has no fast (Rust) version, which NER needs for "
            "character offsets; include tokenizer.json in the folder."
        )
    return TokenClassifier(tokenizer, model, labels, torch_dev, _model_max_length(tokenizer, model))
