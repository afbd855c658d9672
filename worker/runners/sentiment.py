"""Sentiment analysis: `test_results_<dataset>.txt`, TSV, no header, `index<TAB>label`.

Models: vader-finance (built in, the default: VADER with a financial lexicon and the
direction of change, worker.runners.vader_finance), plain VADER, the built-in LLM, or a
Hugging Face sequence-classification checkpoint whose
classes (config.json id2label) say which is negative and which is positive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from worker.readers import Sample
from worker.runners import ModelLoadError, ModelRef, hf
from worker.runners.plugin import DEVICE_SETTING, BuiltinModel, MLAppPlugin

LABELS = ("negative", "positive")


VADER_MODELS = ("vader", "vader-finance")


class VaderRunner:
    def __init__(self, finance: bool = False) -> None:
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError as exc:  # pragma: no cover - the package is a dependency
            raise ModelLoadError("The vaderSentiment package is not installed.") from exc
        if finance:
            from worker.runners.vader_finance import analyzer

            self._analyzer = analyzer()
        else:
            self._analyzer = SentimentIntensityAnalyzer()

    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]:
        score = self._analyzer.polarity_scores
        # VADER's convention: compound >= 0 is not negative; the format has two labels.
        # The score (compound, -1 to 1) goes to the joined results only.
        results = []
        for text in payloads:
            compound = score(text)["compound"]
            results.append((LABELS[compound >= 0], compound))
        return results


def _labelled(negative: float, positive: float) -> tuple[str, float]:
    """(label, the probability of that label) from a model's two class probabilities."""
    if positive >= negative:
        return LABELS[1], round(float(positive), 6)
    return LABELS[0], round(float(negative), 6)


def polarity_of(labels: Sequence[str]) -> tuple[int, int]:
    """Indexes of the negative and the positive class among a checkpoint's classes.

    Names containing "neg"/"pos" win (NEGATIVE, Positive, LABEL_NEG...); a two-class
    checkpoint with generic names (LABEL_0, LABEL_1) follows the usual order 0 = negative.
    Other classes (neutral) are ignored: the results format has two labels.
    """
    lowered = [label.lower() for label in labels]
    negative = [i for i, name in enumerate(lowered) if "neg" in name]
    positive = [i for i, name in enumerate(lowered) if "pos" in name]
    if len(negative) == 1 and len(positive) == 1:
        return negative[0], positive[0]
    if len(labels) == 2 and not negative and not positive:
        return 0, 1
    raise ModelLoadError(
        f"The checkpoint's classes ({', '.join(labels)}) do not say which is negative and "
        "which is positive; name them in config.json id2label (e.g. negative, positive)."
    )


class HFSentimentRunner:
    def __init__(self, model: ModelRef, settings: dict[str, Any]) -> None:
        self._classifier = hf.sequence_classifier(
            model.location,
            device=str(settings.get("device") or "cpu"),
            max_length=hf.MAX_LENGTH_DEFAULT,
        )
        self._negative, self._positive = polarity_of(self._classifier.labels)

    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]:
        rows = self._classifier.probabilities(payloads, should_stop)
        return [_labelled(row[self._negative], row[self._positive]) for row in rows]


class LLMSentimentRunner:
    def __init__(self, settings: dict[str, Any]) -> None:
        from worker.runners.llm_labels import LLMLabeler, sentiment_prompt

        self._labeler = LLMLabeler(LABELS, sentiment_prompt, str(settings.get("device") or "cpu"))

    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]:
        rows = self._labeler.probabilities(payloads, should_stop)
        return [_labelled(row[0], row[1]) for row in rows]


class SentimentAnalysis(MLAppPlugin):
    key = "sentiment-analysis"
    name = "Sentiment Analysis"
    description = "Label each text negative or positive."
    input_kind = "text"
    preview = "labels"
    results_filename = "test_results_{dataset}.txt"
    results_format = "TSV, no header: 0-based index, negative|positive"
    model_sources = frozenset({"huggingface"})
    hf_architectures = ("ForSequenceClassification",)
    builtin_models = (
        BuiltinModel(
            key="vader-finance",
            name="vader-finance",
            description="VADER with the SentiBigNomics financial lexicon (finvader 1.0.4) and "
            'the direction of change ("unemployment fell" is good news); compound >= 0 '
            "is positive. As fast as VADER, clearly better on finance news.",
            licence="MIT (vaderSentiment 3.3.2); "
            "the SentiBigNomics lexicon: Apache-2.0, as the finvader 1.0.4 wheel declares",
        ),
        BuiltinModel(
            key="vader",
            name="vader-sentiment",
            description="VADER lexicon and rules (vaderSentiment 3.3.2), general purpose; "
            "compound >= 0 is positive.",
            licence="MIT (vaderSentiment 3.3.2)",
        ),
        BuiltinModel(
            key="qwen2.5-coder-1.5b-instruct",
            name="qwen2.5-coder-1.5b-sentiment",
            description="Qwen2.5-Coder-1.5B-Instruct on CTranslate2, asked whether each text "
            "is positive or negative; the likelier label by the model's own scores. Reads "
            "negation and context; about a thousand times slower than VADER.",
            licence="Apache-2.0 upstream (Qwen2.5-Coder-1.5B-Instruct); "
            "the re-uploaded weight parts declare none",
        ),
    )
    default_model = "vader-finance"
    extra_settings = (DEVICE_SETTING,)
    # VADER: ~10,000 sentences/s on one core.
    min_shard_samples = 5000

    def large_tensors(self, model: ModelRef) -> bool:
        """Hugging Face checkpoints are torch models (worker.runners.memory.allocator_for)."""
        return model.source_type == "huggingface"

    def heartbeat_thread(self, model: ModelRef) -> bool:
        """VADER needs no heartbeat thread: a batch takes milliseconds."""
        return not (model.source_type == "builtin" and model.location in VADER_MODELS)

    def shard_floor(self, model: ModelRef) -> int:
        """The LLM labels about two sentences a second: small shards spread a job."""
        if model.source_type == "builtin" and model.location not in VADER_MODELS:
            return 8
        return 5000

    def load(
        self, model: ModelRef, settings: dict[str, Any], **_: Any
    ) -> VaderRunner | HFSentimentRunner | LLMSentimentRunner:
        if model.source_type == "builtin" and model.location in VADER_MODELS:
            return VaderRunner(finance=model.location == "vader-finance")
        if model.source_type == "builtin" and model.location == "qwen2.5-coder-1.5b-instruct":
            return LLMSentimentRunner(settings)
        if model.source_type == "huggingface":
            return HFSentimentRunner(model, settings)
        raise ModelLoadError(
            f"The model '{model.name}' ({model.source_type}) cannot run sentiment analysis; "
            "use VADER or a Hugging Face sequence-classification checkpoint."
        )

    joined_columns = (("label", "string"), ("score", "float"))

    def format_result(self, sample: Sample, result: Any) -> str:
        return f"{sample.index}\t{result[0]}\n"

    def joined_fields(self, sample: Sample, result: Any) -> list[dict[str, Any]]:
        """The label and its score: VADER's compound (-1 to 1), else the probability."""
        return [{"label": result[0], "score": result[1]}]

    def summary_extra(self, settings: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {"labels": list(LABELS)}


PLUGIN = SentimentAnalysis()
