"""Fixtures for the ML App tests: data and checkpoints made in the test session.

Speech comes from espeak-ng (tests/runners/speech_cases.py: voices, known scripts,
pauses), Hugging Face checkpoints are tiny random-weight BERTs built with transformers and
saved with safetensors (nothing is downloaded). Jobs run through the real service and worker.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.db import transaction

from apps.catalog.models import Dataset, MLApp, MLModel, Visibility
from apps.core.storage import storage_root
from apps.jobs.models import Job
from apps.jobs.services import job_create
from tests.conftest import wait_for_job
from tests.factories import make_project
from tests.runners import speech_cases
from tests.runners.speech_cases import (
    LEAD_IN_S,
    PAUSE_S,
    SAMPLE_RATE,
    SPEAKER_CASES,
    Conversation,
    Turn,
    converse,
)

__all__ = ["SAMPLE_RATE", "Conversation", "Turn", "espeak"]

# (espeak-ng voice, what it says); the voices alternate, with pauses between turns. The
# model cards measure Whisper's WER on the same script (apps.catalog.model_cards).
_SCRIPT = Path(__file__).resolve().parent.parent / "data/speech_conversation.json"
CONVERSATION = [(v, t) for v, t in json.loads(_SCRIPT.read_text(encoding="utf-8"))["turns"]]

NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]


def espeak(voice: str, text: str) -> np.ndarray:
    """16 kHz mono speech, trimmed of espeak's leading and trailing silence."""
    try:
        return speech_cases.espeak(voice, text)
    except speech_cases.EspeakMissing as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def conversation() -> Conversation:
    return converse(CONVERSATION, lead_in=LEAD_IN_S, pause=PAUSE_S)


@pytest.fixture(scope="session")
def speaker_conversations() -> dict[str, Conversation]:
    """The speaker-count conversations (speech_cases.SPEAKER_CASES), made once a session."""
    espeak("en-gb", "check")  # a missing espeak-ng fails with its reason
    return {name: converse(lines) for name, lines in SPEAKER_CASES.items()}


# --- Hugging Face checkpoints ---------------------------------------------------------

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["the", "a", "of", "to", "and", "in", "on", "for", "is", "was", "said", "market"]
WORDS += ["shares", "rose", "fell", "good", "bad", "great", "terrible", "company", "profit"]
WORDS += ["loss", "john", "smith", "london", "paris", "new", "york", "google", "bank"]
LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOCAB = SPECIAL_TOKENS + WORDS + list(".,'-0123456789" + LETTERS) + [f"##{c}" for c in LETTERS]


def tiny_tokenizer() -> Any:
    """A word-piece tokenizer over VOCAB, for the tiny checkpoints built in the session."""
    import transformers

    # transformers 5 ignores `vocab_file` (every word became [UNK]): give the vocabulary.
    tokenizer = transformers.BertTokenizer(vocab={word: i for i, word in enumerate(VOCAB)})
    assert tokenizer.tokenize("john smith") == ["john", "smith"]
    return tokenizer


def _tiny_bert(folder: Path, labels: list[str], head: str, *, safetensors: bool = True) -> Path:
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tokenizer = tiny_tokenizer()
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=128,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(0)
    model = getattr(transformers, head)(config)
    tokenizer.save_pretrained(folder)
    if safetensors:
        model.save_pretrained(folder)
    else:  # what an old checkpoint looks like: config.json and a pickled state dict
        config.architectures = [head]
        config.save_pretrained(folder)
        torch.save(model.state_dict(), folder / "pytorch_model.bin")
    return folder


def checkpoint_probabilities(checkpoint: Path, texts: list[str]) -> list[list[float]]:
    """The class probabilities a sequence-classification checkpoint gives each text, one
    at a time with transformers: the reference a job's results must equal to prove that
    this checkpoint, and not a built-in model, produced them."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        checkpoint, use_safetensors=True
    ).eval()
    with torch.no_grad():
        return [
            torch.softmax(model(**tokenizer(text, return_tensors="pt")).logits[0], -1).tolist()
            for text in texts
        ]


def checkpoint_polarity(checkpoint: Path, texts: list[str]) -> list[str]:
    """negative/positive for each text, as the checkpoint itself says (see above)."""
    config = json.loads((checkpoint / "config.json").read_text())
    labels = [config["id2label"][str(i)].lower() for i in range(len(config["id2label"]))]
    negative, positive = labels.index("negative"), labels.index("positive")
    return [
        "positive" if row[positive] >= row[negative] else "negative"
        for row in checkpoint_probabilities(checkpoint, texts)
    ]


def checkpoint_word_labels(checkpoint: Path, text: str) -> list[tuple[str, str]]:
    """(word, label) for every word the token-classification checkpoint does not tag O,
    each word labelled by its first sub-token, run directly with transformers."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(checkpoint)
    model = transformers.AutoModelForTokenClassification.from_pretrained(
        checkpoint, use_safetensors=True
    ).eval()
    encoded = tokenizer(text, return_tensors="pt", return_offsets_mapping=True)
    offsets = encoded.pop("offset_mapping")[0].tolist()
    with torch.no_grad():
        best = model(**encoded).logits[0].argmax(-1).tolist()
    spans: dict[int, list[int]] = {}
    for position, word in enumerate(encoded.word_ids()):
        if word is None:
            continue
        begin, end = offsets[position]
        if word not in spans:
            spans[word] = [begin, end, best[position]]
        spans[word][1] = end
    return [
        (text[begin:end], model.config.id2label[label])
        for begin, end, label in spans.values()
        if model.config.id2label[label] != "O"
    ]


def finance_sentences() -> list[str]:
    """The platform dataset `finance_sentiment`'s test.txt, one sample a line."""
    dataset = Dataset.objects.get(name="finance_sentiment")
    return (storage_root() / dataset.folder / "test.txt").read_text().splitlines()


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("checkpoints")
    seq = "BertForSequenceClassification"
    return {
        "sentiment": _tiny_bert(root / "sentiment", ["negative", "positive"], seq),
        "topics": _tiny_bert(root / "topics", ["sports", "cooking", "travel"], seq),
        "emotions": _tiny_bert(root / "emotions", ["joy", "anger", "fear"], seq),
        "ner": _tiny_bert(root / "ner", NER_LABELS, "BertForTokenClassification"),
        "pickled": _tiny_bert(root / "pickled", ["negative", "positive"], seq, safetensors=False),
    }


# --- catalog rows and jobs ------------------------------------------------------------


def user_dataset(owner: Any, app_key: str, files: dict[str, bytes], name: str) -> Dataset:
    """A private dataset of `owner` holding `files` under the storage root."""
    dataset = Dataset.objects.create(
        name=name,
        owner=owner,
        organization=owner.membership.organization,
        visibility=Visibility.PRIVATE,
        folder="",
    )
    dataset.folder = f"datasets/{dataset.pk}"
    dataset.save(update_fields=["folder"])
    dataset.ml_apps.add(MLApp.objects.get(key=app_key))
    root = storage_root() / dataset.folder
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return dataset


def user_model(owner: Any, app_key: str, checkpoint: Path, name: str) -> MLModel:
    """A private Hugging Face model of `owner`, copied under the storage root."""
    model = MLModel.objects.create(
        name=name,
        owner=owner,
        organization=owner.membership.organization,
        visibility=Visibility.PRIVATE,
        ml_app=MLApp.objects.get(key=app_key),
        source_type="huggingface",
        source="",
    )
    model.source = f"models/{model.pk}"
    model.save(update_fields=["source"])
    shutil.copytree(checkpoint, storage_root() / model.source)
    return model


@dataclass
class Finished:
    job: Job
    folder: Path

    @property
    def results(self) -> Path:
        return self.folder / self.job.results_filename

    def lines(self) -> list[str]:
        return self.results.read_text(encoding="utf-8").splitlines()

    def errors(self) -> list[dict[str, Any]]:
        text = (self.folder / "errors.jsonl").read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]

    def summary(self) -> dict[str, Any]:
        return json.loads((self.folder / "summary.json").read_text(encoding="utf-8"))


class JobRunner:
    """Runs one job through the real service and worker and waits for its end."""

    def __init__(self, owner: Any) -> None:
        self.owner = owner
        self.project = make_project(owner, name="ML Apps")
        self.count = 0

    def __call__(
        self,
        app_key: str,
        model: MLModel | str,
        dataset: Dataset | str,
        path: str = "",
        timeout: float = 240,
        before_commit: Callable[[], Any] | None = None,
        **settings: Any,
    ) -> Finished:
        """`before_commit` runs after the job is created and checked, before it is queued
        (queueing happens on commit): the way to change the data under a job."""
        self.count += 1
        if isinstance(model, str):
            model = MLModel.objects.get(name=model, visibility=Visibility.PLATFORM)
        if isinstance(dataset, str):
            dataset = Dataset.objects.get(name=dataset, visibility=Visibility.PLATFORM)
        with transaction.atomic():
            job = job_create(
                user=self.owner,
                project=self.project,
                name=f"{app_key}-{self.count}",
                ml_app=MLApp.objects.get(key=app_key),
                model=model,
                dataset=dataset,
                dataset_path=path,
                settings=settings,
            )
            if before_commit is not None:
                before_commit()
        job = wait_for_job(job.pk, timeout=timeout)
        return Finished(job, storage_root() / job.results_dir)


@pytest.fixture
def run_job(live_worker: Any, owner: Any) -> JobRunner:
    return JobRunner(owner)


def quit_on_look(n: int) -> tuple[Callable[[], bool], list[int]]:
    """A should_stop that says "quit" from its n-th call on, and the list of its calls."""
    looks: list[int] = []

    def should_stop() -> bool:
        looks.append(1)
        return len(looks) >= n

    return should_stop, looks
