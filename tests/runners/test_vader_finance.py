"""vader-finance: accuracy on the labelled sets, the same scores as VADER's own code where
its speed-ups apply, the lexicon read without importing finvader, and a job by the worker."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from tests.runners.conftest import user_dataset
from worker.runners import ModelLoadError, weights
from worker.runners import vader_finance as vf

DATA = Path(__file__).resolve().parent.parent / "data"
LABELLED = DATA / "sentiment_labelled.tsv"  # the tests' set: finance news, then reviews
HELDOUT = DATA / "sentiment_heldout.tsv"  # written before the rules, never tuned on


def labelled(path: Path) -> list[tuple[str, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            label, text = line.split("\t", 1)
            rows.append((label, text))
    return rows


def accuracy(analyzer: SentimentIntensityAnalyzer, rows: list[tuple[str, str]]) -> float:
    def label(text: str) -> str:
        return "positive" if analyzer.polarity_scores(text)["compound"] >= 0 else "negative"

    return sum(label(text) == gold for gold, text in rows) / len(rows)


@pytest.fixture(scope="module")
def finance() -> vf.FinanceAnalyzer:
    return vf.analyzer()


def test_the_labelled_sets_are_balanced_and_large_enough():
    rows = labelled(LABELLED)
    assert len(rows) >= 80
    assert sum(gold == "positive" for gold, _ in rows) == len(rows) // 2
    assert sum(any(w in text.lower().split() for w in ("not", "no")) for _, text in rows) >= 5
    assert sum(any(c.isdigit() for c in text) for _, text in rows) >= 20


def test_vader_finance_beats_vader_on_both_sets(finance):
    plain = SentimentIntensityAnalyzer()
    tests_set, plain_tests = (
        accuracy(finance, labelled(LABELLED)),
        accuracy(plain, labelled(LABELLED)),
    )
    heldout, plain_heldout = (
        accuracy(finance, labelled(HELDOUT)),
        accuracy(plain, labelled(HELDOUT)),
    )
    print(f"vader-finance {tests_set:.3f} / {heldout:.3f}")
    print(f"VADER {plain_tests:.3f} / {plain_heldout:.3f}")
    assert tests_set >= 0.90
    assert tests_set >= plain_tests + 0.10
    assert heldout >= plain_heldout + 0.10


@pytest.mark.parametrize(
    ("text", "gold"),
    [
        ("The company warned that profits will fall sharply next year.", "negative"),
        ("Layoffs hit thousands of workers as the factory closes.", "negative"),
        ("Unemployment fell to 3.5%.", "positive"),
        ("Unemployment rose to 7%.", "negative"),
        ("Losses narrowed in the second half.", "positive"),
        ("Losses widened in the second half.", "negative"),
        ("The company did not cut jobs.", "positive"),
        ("Costs were cut by a fifth.", "positive"),
    ],
)
def test_the_direction_of_change_decides(finance, text, gold):
    compound = finance.polarity_scores(text)["compound"]
    assert ("positive" if compound >= 0 else "negative") == gold, compound


def test_the_speed_ups_score_exactly_as_vader_does(finance):
    """The ASCII fast path and the negation check give VADER's own numbers."""
    texts = [text for path in (LABELLED, HELDOUT) for _, text in labelled(path)]
    texts += ["  Kind of GREAT!!! ", "not so bad?", "never so good", "without doubt the best :("]
    texts += ["I don't like it, but the price is right 😀"]
    for text in texts + [t.upper() for t in texts]:
        assert finance.polarity_scores(text) == SentimentIntensityAnalyzer.polarity_scores(
            finance, text
        ), text
    words = "never so this without doubt not isn't good bad very the cannot Never NOT So"
    words = words.split()
    rng = random.Random(7)
    for _ in range(5000):
        row = [rng.choice(words) for _ in range(5)]
        i, start = rng.randrange(1, 5), rng.randrange(3)
        if i > start:
            expected = SentimentIntensityAnalyzer._negation_check(1.0, row, start, i)
            assert vf.negation_check(1.0, row, start, i) == expected, (row, start, i)


def test_the_lexicon_is_read_without_importing_finvader():
    """`import finvader` downloads NLTK data: the lexicon's file is parsed, never run."""
    code = (
        "import sys; from worker.runners import vader_finance as vf; "
        "terms = vf.sentibignomics(); "
        "assert 'finvader' not in sys.modules and 'nltk' not in sys.modules; "
        "print(len(terms), terms['layoff'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == ["7295", "-0.8"]


def test_a_changed_lexicon_file_is_refused(tmp_path, monkeypatch):
    changed = tmp_path / "SentiBignomics.py"
    changed.write_text("senti_bignomics['layoff'] = 1.0\n")

    class Dist:
        version = vf.FINVADER.version

        @staticmethod
        def locate_file(_: str) -> Path:
            return changed

    monkeypatch.setattr(weights.metadata, "distribution", lambda _: Dist)
    monkeypatch.setattr(weights.metadata, "version", lambda _: Dist.version)
    with pytest.raises(ModelLoadError, match="do not match the pinned sha256"):
        vf.sentibignomics()
    assert vf.read_lexicon(changed) == {"layoff": 1.0}


@pytest.mark.worker
def test_vader_finance_job_on_the_labelled_set(run_job, owner):
    rows = labelled(LABELLED)
    dataset = user_dataset(
        owner,
        "sentiment-analysis",
        {"news.txt": "\n".join(text for _, text in rows).encode()},
        "labelled news",
    )
    finished = run_job("sentiment-analysis", "vader-finance", dataset, "news.txt")
    assert finished.job.status == "COMPLETED", finished.job.error_message
    labels = [line.split("\t")[1] for line in finished.lines()]
    assert len(labels) == len(rows)
    right = sum(label == gold for label, (gold, _) in zip(labels, rows, strict=True))
    assert right / len(rows) >= 0.90


@pytest.mark.worker
def test_the_finance_demo_reads_bad_news_as_negative(run_job):
    demo = Path(__file__).resolve().parents[2] / "apps/catalog/platform_datasets/finance_sentiment"
    texts = (demo / "test.txt").read_text(encoding="utf-8").splitlines()
    finished = run_job("sentiment-analysis", "vader-finance", "finance_sentiment")
    assert finished.job.status == "COMPLETED", finished.job.error_message
    labels = dict(line.split("\t") for line in finished.lines())
    for bad_news in (
        "The company warned that profits will fall sharply next year.",
        "Layoffs hit thousands of workers as the factory closes.",
    ):
        assert labels[str(texts.index(bad_news))] == "negative", bad_news
