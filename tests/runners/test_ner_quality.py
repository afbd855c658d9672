"""NER quality on tests/data/ner_labelled.jsonl (written for the tests: 30 sentences and 15
Title-Case headlines): exact-span F1 of the built-in spaCy models, in process and by the
worker, and what the Title-Case care adds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.runners.conftest import user_dataset
from worker.quality import gold_spans, predicted_spans, span_score
from worker.runners import ner
from worker.runners.headlines import is_title_case, lowered
from worker.runners.ner import SpacyRunner, _builtin_spacy_folder, _spacy_pipeline

LABELLED = Path(__file__).resolve().parent.parent / "data/ner_labelled.jsonl"
ROWS = [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
HEADLINES = [row for row in ROWS if row.get("headline")]
MODELS = ("spacy-en-core-web-sm", "spacy-en-core-web-md")


def f1(rows: list[dict[str, Any]], results: list[dict[str, Any]]) -> float:
    pairs = [
        (predicted_spans(row["text"], out["entities"]), gold_spans(row["text"], row["entities"]))
        for row, out in zip(rows, results, strict=True)
    ]
    return span_score(pairs).f1


@pytest.fixture(scope="module")
def runners() -> dict[str, SpacyRunner]:
    return {
        key: SpacyRunner(_spacy_pipeline(_builtin_spacy_folder(key)), "conll") for key in MODELS
    }


def test_the_labelled_set_has_sentences_and_headlines():
    assert len(ROWS) >= 40 and len(HEADLINES) >= 10
    assert all(is_title_case(row["text"]) for row in HEADLINES)
    assert not any(is_title_case(row["text"]) for row in ROWS if not row.get("headline"))


def test_md_is_accurate_and_better_than_sm_on_headlines(runners):
    scores = {}
    for key, runner in runners.items():
        everything = f1(ROWS, runner.predict([row["text"] for row in ROWS]))
        headlines = f1(HEADLINES, runner.predict([row["text"] for row in HEADLINES]))
        scores[key] = (everything, headlines)
        print(f"{key}: span F1 {everything:.3f}, headlines {headlines:.3f}")
    assert scores["spacy-en-core-web-md"][0] >= 0.80
    assert scores["spacy-en-core-web-md"][1] > scores["spacy-en-core-web-sm"][1]


@pytest.mark.parametrize("key", MODELS)
def test_title_case_care_helps_each_model_on_headlines(runners, key, monkeypatch):
    texts = [row["text"] for row in HEADLINES]
    with_care = f1(HEADLINES, runners[key].predict(texts))
    monkeypatch.setattr(ner, "is_title_case", lambda _: False)  # the headline as written
    without = f1(HEADLINES, runners[key].predict(texts))
    print(f"{key}: headlines {without:.3f} as written, {with_care:.3f} lower-cased")
    assert with_care >= without + 0.05


def test_title_case_detection_and_lowering_keep_offsets():
    assert is_title_case("Federal Reserve Holds Rates Steady Despite Inflation Worries")
    assert is_title_case("Storm Batters Coastal Towns In Portugal And Spain")
    assert is_title_case("Trump\u2019s Tariffs Hit Apple Shares")  # a curly apostrophe
    assert not is_title_case("Angela Merkel met Emmanuel Macron in Berlin on Tuesday.")
    assert not is_title_case("SOCCER - JAPAN GET LUCKY WIN")  # the all-caps path
    assert not is_title_case("Big News")  # too short to tell
    for text in ("İstanbul Mayor Wins Big Election Victory", "Straße Über Alles Again"):
        copy = lowered(text)
        assert len(copy) == len(text) and copy.endswith(text[-5:].lower())


def test_a_headline_with_a_long_lower_case_letter_keeps_its_offsets(runners):
    text = "İstanbul Mayor Wins Big Election Victory"
    (result,) = runners["spacy-en-core-web-md"].predict([text])
    for entity in result["entities"]:
        assert text[entity["begin_offset"] : entity["end_offset"]] == entity["word"]


def test_a_headline_entity_keeps_the_original_words(runners):
    text = "Apple Shares Jump As Tim Cook Announces Record Sales"
    (result,) = runners["spacy-en-core-web-md"].predict([text])
    assert result["text"] == text
    for entity in result["entities"]:
        assert text[entity["begin_offset"] : entity["end_offset"]] == entity["word"]
    assert {"word": "Cook", "entity": "I-PER"}.items() <= result["entities"][-1].items()


@pytest.mark.worker
def test_md_job_equals_the_model_in_process(run_job, owner, runners):
    texts = [row["text"] for row in ROWS]
    dataset = user_dataset(
        owner,
        "named-entity-recognition",
        {"headlines.txt": "\n".join(texts).encode()},
        "labelled ner",
    )
    finished = run_job("named-entity-recognition", "spacy-en-core-web-md", dataset, "headlines.txt")
    assert finished.job.status == "COMPLETED", finished.job.error_message
    results = [json.loads(line) for line in finished.lines()]
    assert results == runners["spacy-en-core-web-md"].predict(texts)
    assert f1(ROWS, results) >= 0.80
