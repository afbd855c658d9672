"""Model cards of the platform models, measured rather than typed (`manage.py model_cards`).

A card says what the model is, its licence, its speed on this machine (samples a second
through the same runner the worker uses, one process, load excluded) and its quality on the
labelled sets the project ships for its tests (tests/data): accuracy for sentiment and
document classification, exact-span F1 for NER, word error rate for speech. Text
generation and embeddings have no labelled set: their cards say so.

The repository ships the cards measured on the development machine
(apps/catalog/model_cards.json, written by `model_cards --write`); `catalog_sync` puts them
on the rows, and running `manage.py model_cards` on a server replaces them with figures
measured there.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from apps.catalog.models import MLModel, SourceType, Visibility
from worker import quality, synth
from worker.runners import ModelRef, SampleFailure
from worker.runners.registry import get_runner, plugin_for

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests/data"
ARXIV = Path(__file__).resolve().parent / "platform_datasets/arxiv"
SHIPPED = Path(__file__).resolve().parent / "model_cards.json"
SPEED_SECONDS = 2.0  # fast models repeat their inputs for about this long
SOURCE_HERE = "measured on this server"
SOURCE_SHIPPED = "measured on the development machine"


@dataclass(frozen=True)
class LabelledSet:
    """Inputs, their gold answers and how a model's results are scored."""

    metric: str  # "accuracy", "span F1", "WER"
    name: str  # what the set is, for the card
    inputs: Callable[[Path], tuple[list[str], list[Any]]]  # (workdir) -> payloads, gold
    score: Callable[[list[Any], list[Any]], float]
    dataset_dir: Path | None = None


def _tsv(path: Path) -> tuple[list[str], list[Any]]:
    rows = [
        line.split("\t", 1)
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    return [text for _, text in rows], [label for label, _ in rows]


def _sentiment(_: Path) -> tuple[list[str], list[Any]]:
    return _tsv(DATA / "sentiment_labelled.tsv")


def _sentiment_heldout(_: Path) -> tuple[list[str], list[Any]]:
    return _tsv(DATA / "sentiment_heldout.tsv")


def _ner(_: Path) -> tuple[list[str], list[Any]]:
    rows = [json.loads(line) for line in (DATA / "ner_labelled.jsonl").read_text().splitlines()]
    return [row["text"] for row in rows], [row["entities"] for row in rows]


def _ner_f1(results: list[Any], gold: list[Any]) -> float:
    pairs = [
        (quality.predicted_spans(r["text"], r["entities"]), quality.gold_spans(r["text"], g))
        for r, g in zip(results, gold, strict=True)
    ]
    return quality.span_score(pairs).f1


def _arxiv(_: Path) -> tuple[list[str], list[Any]]:
    texts = (ARXIV / "test.txt").read_text(encoding="utf-8").splitlines()
    return texts, (DATA / "arxiv_gold.txt").read_text(encoding="utf-8").split()


def _speech(workdir: Path) -> tuple[list[str], list[Any]]:
    import soundfile  # the speech stack: only when a speech model is measured

    script = json.loads((DATA / "speech_conversation.json").read_text(encoding="utf-8"))
    talk = synth.converse([(voice, text) for voice, text in script["turns"]])
    path = workdir / "conversation.wav"
    soundfile.write(path, talk.audio, synth.SAMPLE_RATE)
    return [str(path)], [talk.text]


def _wer(results: list[Any], gold: list[Any]) -> float:
    words = [" ".join(s["transcript"] for s in r["segments"]) for r in results]
    return sum(quality.word_error_rate(h, g) for h, g in zip(words, gold, strict=True)) / len(gold)


LABELLED: dict[str, LabelledSet] = {
    "sentiment-analysis": LabelledSet(
        "accuracy",
        "tests/data/sentiment_labelled.tsv: 48 finance and 48 review sentences",
        _sentiment,
        lambda results, gold: quality.accuracy([r[0] for r in results], gold),
    ),
    "named-entity-recognition": LabelledSet(
        "span F1",
        "tests/data/ner_labelled.jsonl: 30 sentences and 15 Title-Case headlines",
        _ner,
        _ner_f1,
    ),
    "document-classification": LabelledSet(
        "accuracy",
        "the arxiv platform dataset: 40 abstracts over 4 classes",
        _arxiv,
        lambda results, gold: quality.accuracy([r["label"] for r in results], gold),
        dataset_dir=ARXIV,
    ),
    "speech-recognition": LabelledSet(
        "WER",
        "tests/data/speech_conversation.json read by two espeak-ng voices",
        _speech,
        _wer,
    ),
}


# Sets never used to write or tune a model's rules, scored as well (the card's
# `quality_also`): vader-finance's rules were checked on the sentiment set above.
HELD_OUT: dict[str, LabelledSet] = {
    "sentiment-analysis": LabelledSet(
        "accuracy",
        "tests/data/sentiment_heldout.tsv: 32 finance and 32 review sentences, held out",
        _sentiment_heldout,
        LABELLED["sentiment-analysis"].score,
    ),
}


class CardError(Exception):
    """Why a model's card could not be measured, in one sentence."""


def measure(model: MLModel, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """The card of one platform model, measured now on this machine."""
    plugin = plugin_for(model.ml_app.key)
    builtin = next((m for m in plugin.builtin_models if f"builtin:{m.key}" == model.source), None)
    if builtin is None:
        raise CardError(f"{model.source} is no built-in model of {plugin.name} any more.")
    card: dict[str, Any] = {
        "what": builtin.description,
        "licence": builtin.licence,
        "measured": date.today().isoformat(),
        "machine": f"{platform.machine()}, {_cores()} CPU cores, one worker process",
        "source": SOURCE_HERE,
        "here": True,
    }
    labelled = LABELLED.get(plugin.key)
    if labelled is None:
        card["quality"] = None
        card["quality_note"] = "No labelled set: the results are free text or vectors."
    settings = {spec["name"]: spec.get("default") for spec in plugin.settings_schema}
    ref = ModelRef(name=model.name, source_type=SourceType.BUILTIN, location=builtin.key)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        try:
            if labelled is not None:
                payloads, gold = labelled.inputs(workdir)
            else:
                payloads, gold = _unlabelled_inputs(plugin.input_kind), []
        except FileNotFoundError as exc:
            raise CardError(
                f"The labelled set {exc.filename} is missing: model_cards reads the "
                "repository's tests/data folder."
            ) from exc
        log(f"{model.name}: loading")
        dataset_dir = labelled.dataset_dir if labelled is not None else None
        runner = get_runner(plugin.key, ref, settings, dataset_dir=dataset_dir, output_dir=workdir)
        runner.predict(payloads[:1])  # warm-up: lazy initialisation stays out of the speed
        log(f"{model.name}: predicting {len(payloads)} samples")
        started, results = time.perf_counter(), runner.predict(payloads)
        done, elapsed = len(payloads), time.perf_counter() - started
        while elapsed < SPEED_SECONDS and done < 100_000:
            runner.predict(payloads)
            done, elapsed = done + len(payloads), time.perf_counter() - started
        held_out = HELD_OUT.get(plugin.key)
        if held_out is not None:
            texts, held_gold = held_out.inputs(workdir)
            card["quality_also"] = [_quality(held_out, runner.predict(texts), held_gold, model)]
    rate = done / elapsed
    card["speed"] = {
        "samples_per_second": round(rate, 2) if rate < 10 else round(rate),
        "unit": "files" if plugin.input_kind == "audio" else "texts",
        "samples": done,
    }
    if labelled is not None:
        card["quality"] = _quality(labelled, results, gold, model)
    return card


def _quality(labelled: LabelledSet, results: list[Any], gold: list[Any], model: MLModel) -> Any:
    failures = [r for r in results if isinstance(r, SampleFailure)]
    if failures:
        raise CardError(f"{model.name} failed on a labelled sample: {failures[0].reason}")
    return {
        "metric": labelled.metric,
        "value": round(labelled.score(results, gold), 3),
        "set": labelled.name,
        "samples": len(gold),
    }


def _unlabelled_inputs(kind: str) -> list[str]:
    texts, _ = _sentiment(DATA)
    # Requests as the readers make them of plain lines; a few, the LLM writes slowly.
    return [json.dumps({"text": t}) for t in texts[:8]] if kind == "request" else texts


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def platform_models(names: list[str] | None = None) -> list[MLModel]:
    qs = MLModel.objects.filter(visibility=Visibility.PLATFORM, source_type=SourceType.BUILTIN)
    models = list(qs.select_related("ml_app").order_by("ml_app__position", "name"))
    if names:
        unknown = set(names) - {m.name for m in models}
        if unknown:
            raise ValueError(f"No platform model named {', '.join(sorted(unknown))}.")
        models = [m for m in models if m.name in names]
    return models


def cards_save(cards: dict[str, dict[str, Any]]) -> None:
    for name, card in cards.items():
        MLModel.objects.filter(visibility=Visibility.PLATFORM, name=name).update(card=card)


def shipped_cards() -> dict[str, dict[str, Any]]:
    if not SHIPPED.is_file():
        return {}
    cards: dict[str, dict[str, Any]] = json.loads(SHIPPED.read_text(encoding="utf-8"))
    return {name: {**card, "source": SOURCE_SHIPPED, "here": False} for name, card in cards.items()}
