"""Sentiment analysis: VADER accuracy and Hugging Face checkpoints, by the real worker."""

from __future__ import annotations

import re

import pytest

from tests.runners.conftest import (
    checkpoint_polarity,
    finance_sentences,
    user_dataset,
    user_model,
)
from worker.runners import ModelLoadError
from worker.runners.sentiment import polarity_of

POSITIVE = [
    "The team delivered an excellent product and customers love it.",
    "Profits rose sharply and the outlook is bright.",
    "I really enjoyed the concert, the band was fantastic.",
    "The new manager is friendly, helpful and very competent.",
    "Sales beat expectations for the third quarter in a row.",
    "What a wonderful day at the beach with my family.",
    "The hotel staff were kind and the room was spotless.",
    "Our investment paid off handsomely this year.",
    "The update made the app faster and easier to use.",
    "She was thrilled to win the award.",
    "The recovery was strong and unemployment fell to a record low.",
    "This is the best pizza I have had in years.",
    "The reviews praised the film as a brilliant success.",
    "Shareholders welcomed the generous dividend increase.",
    "The support agent solved my problem quickly, great service.",
    "The garden looks beautiful in the spring sunshine.",
    "The merger created a stronger and more profitable company.",
    "Thanks for the lovely gift, I am very happy with it.",
    "The startup won praise for its innovative and reliable design.",
    "Exports grew and the economy is doing well.",
]
NEGATIVE = [
    "The product broke after two days and support ignored my complaints.",
    "Profits collapsed and the company warned of more losses.",
    "The concert was boring and the sound was terrible.",
    "The manager was rude and unhelpful.",
    "Sales fell short of expectations and shares plunged.",
    "What an awful day, everything went wrong.",
    "The hotel room was dirty and the staff were unfriendly.",
    "Investors lost money after the fraud scandal.",
    "The update made the app slow and full of bugs.",
    "She was devastated by the bad news.",
    "The recession deepened and unemployment rose sharply.",
    "This is the worst meal I have ever eaten.",
    "Critics called the film a dull and painful failure.",
    "Shareholders were angry about the dividend cut.",
    "The delivery was late and the package was damaged.",
    "The flood destroyed homes and killed dozens of people.",
    "The failed merger left the company weak and in debt.",
    "I hate waiting in this horrible queue.",
    "The airline lost my luggage and refused to help.",
    "Exports dropped and the economy is in trouble.",
]


@pytest.mark.worker
def test_vader_is_accurate_on_labelled_sentences(run_job, owner):
    sentences = [s for pair in zip(POSITIVE, NEGATIVE, strict=True) for s in pair]
    gold = ["positive", "negative"] * len(POSITIVE)
    dataset = user_dataset(
        owner, "sentiment-analysis", {"reviews.txt": "\n".join(sentences).encode()}, "reviews"
    )
    finished = run_job("sentiment-analysis", "vader-sentiment", dataset, "reviews.txt")
    assert finished.job.status == "COMPLETED", finished.job.error_message
    assert finished.results.name == "test_results_reviews.txt"
    lines = finished.lines()
    assert len(lines) == len(sentences) == 40
    labels = []
    for i, line in enumerate(lines):
        assert re.fullmatch(rf"{i}\t(negative|positive)", line), line
        labels.append(line.split("\t")[1])
    accuracy = sum(a == b for a, b in zip(labels, gold, strict=True)) / len(gold)
    print(f"VADER accuracy on {len(gold)} sentences: {accuracy:.3f}")
    assert accuracy >= 0.9


@pytest.mark.worker
def test_hugging_face_sentiment_checkpoint_runs(run_job, owner, checkpoints):
    model = user_model(owner, "sentiment-analysis", checkpoints["sentiment"], "sentiment-bert")
    finished = run_job("sentiment-analysis", model, "finance_sentiment", batch_size=8)
    assert finished.job.status == "COMPLETED", finished.job.error_message
    lines = finished.lines()
    assert len(lines) == 40
    for i, line in enumerate(lines):
        assert re.fullmatch(rf"{i}\t(negative|positive)", line), line
    # The checkpoint's own answers, not a built-in model's.
    texts = finance_sentences()
    assert [line.split("\t")[1] for line in lines] == checkpoint_polarity(
        checkpoints["sentiment"], texts
    )


@pytest.mark.worker
def test_checkpoint_without_polarity_classes_is_refused(run_job, owner, checkpoints):
    model = user_model(owner, "sentiment-analysis", checkpoints["emotions"], "emotions-bert")
    finished = run_job("sentiment-analysis", model, "finance_sentiment")
    assert finished.job.status == "FAILED"
    assert "joy, anger, fear" in finished.job.error_message


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["NEGATIVE", "POSITIVE"], (0, 1)),
        (["positive", "negative"], (1, 0)),
        (["negative", "neutral", "positive"], (0, 2)),
        (["LABEL_0", "LABEL_1"], (0, 1)),
    ],
)
def test_polarity_classes_are_found_by_name(labels, expected):
    assert polarity_of(labels) == expected


def test_unnamed_three_class_checkpoint_is_ambiguous():
    with pytest.raises(ModelLoadError, match="negative"):
        polarity_of(["LABEL_0", "LABEL_1", "LABEL_2"])
