"""Sentiment analysis: `test_results_<dataset>.txt`, TSV, no header, `index<TAB>label`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from worker.readers import Sample
from worker.runners import ModelLoadError, ModelRef

HEADER = ""
LABELS = ("negative", "positive")


class VaderRunner:
    def __init__(self) -> None:
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError as exc:  # pragma: no cover - the package is a dependency
            raise ModelLoadError("The vaderSentiment package is not installed.") from exc
        self._analyzer = SentimentIntensityAnalyzer()

    def predict(
        self, payloads: Sequence[str], should_stop: Callable[[], bool] | None = None
    ) -> list[Any]:
        score = self._analyzer.polarity_scores
        # VADER's convention: compound >= 0 is not negative; the format has two labels.
        return [LABELS[score(text)["compound"] >= 0] for text in payloads]


def load(model: ModelRef, settings: dict[str, Any], **_: Any) -> VaderRunner:
    if model.source_type == "builtin" and model.location == "vader":
        return VaderRunner()
    raise ModelLoadError(
        f"The model '{model.name}' ({model.source_type}) cannot run sentiment analysis yet."
    )


def format_result(sample: Sample, result: Any) -> str:
    return f"{sample.index}\t{result}\n"
