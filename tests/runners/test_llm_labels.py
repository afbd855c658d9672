"""The built-in LLM as a sentiment and a document-classification model, by the real worker."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.runners.conftest import user_dataset

# Sentences VADER's word counting gets wrong: negation, irony, finance.
SENTENCES = [
    ("The food was not bad at all, I would happily come back.", "positive"),
    ("Profits will fall sharply next year, the company warned.", "negative"),
    ("I expected to hate it, but the film won me over.", "positive"),
    ("Layoffs hit thousands of workers as the factory closes.", "negative"),
    ("The support team fixed my problem within minutes.", "positive"),
    ("Great, another delay. Just what we needed.", "negative"),
]


@pytest.mark.worker
def test_the_llm_labels_sentiment_in_the_apps_own_format(run_job, owner):
    text = "\n".join(s for s, _ in SENTENCES)
    dataset = user_dataset(owner, "sentiment-analysis", {"tricky.txt": text.encode()}, "tricky")
    finished = run_job(
        "sentiment-analysis", "qwen2.5-coder-1.5b-sentiment", dataset, "tricky.txt", timeout=600
    )
    assert finished.job.status == "COMPLETED", finished.job.error_message
    lines = finished.lines()
    assert all(re.fullmatch(rf"{i}\t(negative|positive)", line) for i, line in enumerate(lines))
    labels = [line.split("\t")[1] for line in lines]
    right = sum(label == gold for label, (_, gold) in zip(labels, SENTENCES, strict=True))
    assert right >= 5, labels


@pytest.mark.worker
def test_the_llm_classifies_documents_with_probabilities_over_the_labels_file(run_job, owner):
    platform = Path(__file__).resolve().parents[2] / "apps/catalog/platform_datasets/arxiv"
    lines = (platform / "test.txt").read_text().splitlines()
    picked = [lines[i] for i in (0, 10, 20, 30, 1, 11)]  # ten of each class, in order
    gold = ["cs.CL", "cs.CV", "q-bio.GN", "astro-ph.GA", "cs.CL", "cs.CV"]
    files = {
        "docs.txt": "\n".join(picked).encode(),
        "labels.txt": (platform / "labels.txt").read_bytes(),
    }
    dataset = user_dataset(owner, "document-classification", files, "six-abstracts")
    finished = run_job(
        "document-classification", "qwen2.5-coder-1.5b-classifier", dataset, "docs.txt", timeout=600
    )
    assert finished.job.status == "COMPLETED", finished.job.error_message
    classes = finished.summary()["classes"]
    assert classes == ["cs.CL", "cs.CV", "q-bio.GN", "astro-ph.GA"]
    rows = [line.split("\t") for line in finished.lines()]
    assert [int(r[0]) for r in rows] == list(range(6))
    for _, probabilities, label in rows:
        values = json.loads(probabilities)
        assert len(values) == 4 and abs(sum(values) - 1) < 1e-3
        assert label == classes[values.index(max(values))]
    right = sum(r[2] == g for r, g in zip(rows, gold, strict=True))
    assert right >= 5, rows
