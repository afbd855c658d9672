"""Named entity recognition: spaCy en_core_web_sm and Hugging Face checkpoints, real worker."""

from __future__ import annotations

import json

import pytest

from tests.runners.conftest import (
    checkpoint_word_labels,
    quit_on_look,
    user_dataset,
    user_model,
)
from tests.runners.ner_cases import CASES, REFERENCE_LINE, REFERENCE_TEXT
from worker.runners.headlines import headline_case, is_all_caps
from worker.runners.ner import bio_tags

CONLL_TAGS = {f"{p}-{t}" for p in "BI" for t in ("PER", "LOC", "ORG", "MISC")}


def check_line(line: str) -> dict:
    obj = json.loads(line)
    assert list(obj) == ["entities", "text"]
    for entity in obj["entities"]:
        assert list(entity) == ["begin_offset", "end_offset", "entity", "word"]
        assert obj["text"][entity["begin_offset"] : entity["end_offset"]] == entity["word"]
    return obj


@pytest.mark.worker
def test_reference_example_and_conll_sentences(run_job, owner):
    texts = [REFERENCE_TEXT] + [text for text, _ in CASES] + ["", "caf\xe9"]
    body = "\n".join(texts[:-2]).encode() + b"\n\n" + b"caf\xe9\n"  # empty, then Latin-1
    dataset = user_dataset(owner, "named-entity-recognition", {"news.txt": body}, "news")
    finished = run_job("named-entity-recognition", "spacy-en-core-web-sm", dataset, "news.txt")
    assert finished.job.status == "COMPLETED", finished.job.error_message
    assert finished.results.name == "predictions.txt"
    lines = finished.lines()
    assert lines[0] == REFERENCE_LINE  # exactly the reference document's example
    expected_total = found = predicted_total = right = 0
    for line, (text, expected) in zip(lines[1:], CASES, strict=True):
        obj = check_line(line)
        assert obj["text"] == text
        got = [(e["word"], e["entity"]) for e in obj["entities"]]
        assert {tag for _, tag in got} <= CONLL_TAGS
        expected_total += len(expected)
        predicted_total += len(got)
        found += sum(pair in got for pair in expected)
        right += sum(pair in expected for pair in got)
    recall, precision = found / expected_total, right / predicted_total
    print(
        f"spaCy sm on {len(CASES)} CoNLL-style sentences: recall {recall:.3f}, "
        f"precision {precision:.3f}"
    )
    assert recall >= 0.9 and precision >= 0.9
    assert [(e["index"], e["reason"]) for e in finished.errors()] == [
        (len(CASES) + 1, "empty text"),
        (len(CASES) + 2, "not valid UTF-8 text"),
    ]
    assert finished.summary()["counts"]["failed"] == 2


@pytest.mark.worker
def test_platform_dataset_and_the_models_own_labels(run_job):
    finished = run_job(
        "named-entity-recognition", "spacy-en-core-web-sm", "news_ner", label_scheme="model"
    )
    assert finished.job.status == "COMPLETED", finished.job.error_message
    objs = [check_line(line) for line in finished.lines()]
    assert len(objs) == 20
    tags = {e["entity"] for obj in objs for e in obj["entities"]}
    assert {"B-GPE", "B-PERSON", "I-PERSON", "B-ORG"} <= tags  # OntoNotes, not CoNLL


@pytest.mark.worker
def test_hugging_face_token_classifier_gives_word_entities(run_job, owner, checkpoints):
    model = user_model(owner, "named-entity-recognition", checkpoints["ner"], "ner-bert")
    text = "John Smith said Google shares rose in New York."
    dataset = user_dataset(owner, "named-entity-recognition", {"t.txt": text.encode()}, "one")
    finished = run_job("named-entity-recognition", model, dataset, "t.txt")
    assert finished.job.status == "COMPLETED", finished.job.error_message
    (line,) = finished.lines()
    obj = check_line(line)
    assert obj["text"] == text
    # Random weights: which words are tagged is arbitrary, but each is a whole word, and
    # they are exactly the words the checkpoint itself tags (run directly), so this
    # checkpoint and not spaCy produced them.
    words = set(text.replace(".", " .").split())
    for entity in obj["entities"]:
        assert entity["word"] in words and entity["entity"] in CONLL_TAGS
    expected = checkpoint_word_labels(checkpoints["ner"], text)
    assert expected, "the random checkpoint tags nothing: pick another sentence"
    assert [(e["word"], e["entity"].split("-")[1]) for e in obj["entities"]] == [
        (word, label.split("-")[-1]) for word, label in expected
    ]


def test_all_caps_detection_and_recasing_keep_offsets():
    assert is_all_caps(REFERENCE_TEXT) and is_all_caps("BRUSSELS 1996-08-22")
    assert not is_all_caps("NASA launched a satellite.") and not is_all_caps("1996")
    recased = headline_case(REFERENCE_TEXT)
    assert recased == "Soccer - Japan get Lucky Win, China in Surprise Defeat."
    assert len(recased) == len(REFERENCE_TEXT)


def test_bio_tags_repair_and_conll_mapping():
    text = "Ann Lee met Bob in Paris"
    words = [
        (0, 3, "I-PERSON"),
        (4, 7, "I-PERSON"),
        (8, 11, "O"),
        (12, 15, "PER"),
        (16, 18, "O"),
        (19, 24, "GPE"),
    ]
    assert bio_tags(text, words, "conll") == [
        (0, 3, "B-PER"),
        (4, 7, "I-PER"),
        (12, 15, "B-PER"),
        (19, 24, "B-LOC"),
    ]
    assert bio_tags(text, [(19, 24, "B-GPE"), (0, 3, "B-DATE")], "model") == [
        (19, 24, "B-GPE"),
        (0, 3, "B-DATE"),
    ]
    assert bio_tags(text, [(0, 3, "B-DATE")], "conll") == []


def test_spacy_looks_for_a_quit_between_its_minibatches():
    from worker.runners import ModelRef, Stopped
    from worker.runners.ner import PLUGIN, SPACY_BATCH

    runner = PLUGIN.load(ModelRef("spacy", "builtin", "spacy-en-core-web-sm"), {})
    texts = [f"Angela Merkel met {i} bankers in Paris on Monday." for i in range(3 * SPACY_BATCH)]
    quit_on_second_look, _ = quit_on_look(2)

    with pytest.raises(Stopped) as stopped:
        runner.predict(texts, should_stop=quit_on_second_look)
    # The texts of the first two minibatches were done and are handed back in order.
    done = stopped.value.done
    assert len(done) == 2 * SPACY_BATCH
    assert done[5]["text"] == texts[5]
    assert done[5] == runner.predict([texts[5]])[0]
    assert [e["word"] for e in done[5]["entities"]][:2] == ["Angela", "Merkel"]


def test_only_models_with_long_steps_get_a_heartbeat_thread():
    from types import SimpleNamespace

    from worker.progress import wants_heartbeat_thread as _wants_heartbeat_thread

    def job(app: str, source_type: str, source: str) -> SimpleNamespace:
        model = SimpleNamespace(name="m", source_type=source_type, source=source)
        return SimpleNamespace(ml_app=SimpleNamespace(key=app), model=model, model_name="m")

    # VADER and spaCy write their heartbeat between batches and from should_stop.
    assert not _wants_heartbeat_thread(job("sentiment-analysis", "builtin", "builtin:vader"))
    ner = "named-entity-recognition"
    assert not _wants_heartbeat_thread(job(ner, "builtin", "builtin:spacy-en-core-web-sm"))
    assert not _wants_heartbeat_thread(job(ner, "spacy", "models/1/pipeline"))
    # A transformer or Whisper can spend long in one call.
    assert _wants_heartbeat_thread(job(ner, "huggingface", "models/2/checkpoint"))
    assert _wants_heartbeat_thread(job("speech-recognition", "builtin", "builtin:whisper-tiny.en"))
    assert _wants_heartbeat_thread(job("document-classification", "builtin", "builtin:minilm"))
