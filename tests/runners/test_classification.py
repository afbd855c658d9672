"""Document classification: zero-shot MiniLM and Hugging Face checkpoints, by the real worker."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from apps.core.storage import storage_root
from tests.runners.conftest import (
    checkpoint_probabilities,
    quit_on_look,
    user_dataset,
    user_model,
)
from worker.runners import ModelLoadError
from worker.runners.classification import labels_path, labels_read

LABELS = (
    "sports\tSports: football, tennis, matches, teams, players, goals and championships\n"
    "cooking\tCooking: recipes, food, baking, kitchens, ingredients and restaurants\n"
    "finance\tFinance: money, banks, stock markets, investors, interest rates and economy\n"
    "health\tHealth and medicine: doctors, patients, hospitals, diseases and treatments\n"
)
DOCS = {
    "sports": [
        "The striker scored twice in the second half to give the home team a 3-1 victory.",
        "She won the tennis final in straight sets after saving three break points.",
        "The coach named a young goalkeeper in the squad for the world cup qualifiers.",
        "Fans celebrated in the streets after the club won its first league title in decades.",
        "The marathon runner broke the course record by almost a minute.",
        "A late penalty kick decided the derby between the two rival clubs.",
        "The basketball team traded its point guard before the playoffs.",
        "The cyclist took the yellow jersey after a brutal mountain stage.",
        "Injuries forced the captain to miss the rest of the rugby season.",
        "The Olympic swimmer set a new world record in the 200 metres freestyle.",
    ],
    "cooking": [
        "Whisk the eggs with sugar until pale, then fold in the flour gently.",
        "Roast the vegetables with olive oil, garlic and rosemary for forty minutes.",
        "This soup recipe uses lentils, carrots, cumin and a squeeze of lemon.",
        "Let the bread dough rise in a warm kitchen until it doubles in size.",
        "The chef seared the steak in a hot cast iron pan and rested it before slicing.",
        "Simmer the tomato sauce slowly and season it with basil and salt.",
        "For a crisp pie crust, keep the butter cold and do not overwork the pastry.",
        "The new restaurant serves handmade pasta and a rich mushroom risotto.",
        "Marinate the chicken overnight in yogurt and spices before grilling.",
        "Melt the chocolate over a pan of simmering water and stir in the cream.",
    ],
    "finance": [
        "The central bank raised interest rates by a quarter point to fight inflation.",
        "Stock markets fell sharply as investors worried about slowing growth.",
        "The company's quarterly earnings beat analyst expectations and its shares rose.",
        "Bond yields climbed after the government announced more borrowing.",
        "The bank reported higher profits from its lending and trading businesses.",
        "Investors moved money into gold as the dollar weakened.",
        "The pension fund cut its exposure to technology stocks.",
        "Mortgage rates reached their highest level in fifteen years.",
        "The startup raised fifty million dollars from venture capital investors.",
        "Currency traders sold the euro after weak economic data.",
    ],
    "health": [
        "Doctors recommend regular exercise to lower the risk of heart disease.",
        "The hospital opened a new ward for patients recovering from surgery.",
        "A clinical trial found the vaccine prevented most severe infections.",
        "Nurses monitored the patient's blood pressure every hour after the operation.",
        "The new drug reduced symptoms of asthma in children.",
        "Health officials warned of a rise in flu cases this winter.",
        "Physiotherapy helped her recover movement in her injured knee.",
        "The clinic offers free screening for diabetes and high cholesterol.",
        "Researchers linked poor sleep to a higher risk of depression.",
        "The surgeon removed the tumour and the patient is recovering well.",
    ],
}
CLASSES = ["sports", "cooking", "finance", "health"]
LINE = re.compile(r"(\d+)\t\[([0-9., ]+)\]\t(\S+)")


def parse(line: str) -> tuple[int, list[float], str]:
    match = LINE.fullmatch(line)
    assert match, line
    return int(match[1]), [float(p) for p in match[2].split(", ")], match[3]


@pytest.mark.worker
def test_zero_shot_is_accurate_and_bad_lines_land_in_errors(run_job, owner):
    docs = [(label, text) for label, texts in DOCS.items() for text in texts]
    # Interleave the classes, and add an empty line and one that is not UTF-8.
    docs = sorted(docs, key=lambda d: (DOCS[d[0]].index(d[1]), d[0]))
    body = "\n".join(text for _, text in docs).encode() + b"\n\n\xff\xfe broken\n"
    dataset = user_dataset(
        owner,
        "document-classification",
        {"docs.txt": body, "topics.txt": LABELS.encode()},
        "topics",
    )
    finished = run_job(
        "document-classification",
        "all-MiniLM-L6-v2-zero-shot",
        dataset,
        "docs.txt",
        labels_file="topics.txt",
    )
    assert finished.job.status == "COMPLETED", finished.job.error_message
    assert finished.results.name == "test_results_topics.txt"
    lines = finished.lines()
    assert len(lines) == len(docs) == 40
    correct = 0
    for i, line in enumerate(lines):
        index, probabilities, label = parse(line)
        assert index == i and len(probabilities) == 4
        assert abs(sum(probabilities) - 1) < 1e-3
        assert label == CLASSES[probabilities.index(max(probabilities))]
        correct += label == docs[i][0]
    print(f"zero-shot accuracy on {len(docs)} documents: {correct / len(docs):.3f}")
    assert correct / len(docs) >= 0.9
    errors = finished.errors()
    assert [(e["index"], e["reason"]) for e in errors] == [
        (40, "empty text"),
        (41, "not valid UTF-8 text"),
    ]
    summary = finished.summary()
    assert summary["classes"] == CLASSES
    assert summary["classes_from"] == "topics.txt"


@pytest.mark.worker
def test_platform_arxiv_dataset_gives_test_results_arxiv(run_job):
    finished = run_job("document-classification", "all-MiniLM-L6-v2-zero-shot", "arxiv")
    assert finished.job.status == "COMPLETED", finished.job.error_message
    assert finished.results.name == "test_results_arxiv.txt"
    classes = ["cs.CL", "cs.CV", "q-bio.GN", "astro-ph.GA"]
    assert finished.summary()["classes"] == classes
    predicted = [parse(line)[2] for line in finished.lines()]
    expected = [c for c in classes for _ in range(10)]  # the file lists ten of each, in order
    assert sum(p == e for p, e in zip(predicted, expected, strict=True)) >= 36


@pytest.mark.worker
def test_hugging_face_checkpoint_uses_its_own_classes(run_job, owner, checkpoints):
    model = user_model(owner, "document-classification", checkpoints["topics"], "topics-bert")
    dataset = user_dataset(
        owner, "document-classification", {"docs.txt": b"the market rose\ngood profit\n"}, "two"
    )
    finished = run_job("document-classification", model, dataset, "docs.txt")
    assert finished.job.status == "COMPLETED", finished.job.error_message
    lines = finished.lines()
    assert len(lines) == 2
    # The checkpoint's own probabilities (run directly), so it and not MiniLM answered.
    expected = checkpoint_probabilities(checkpoints["topics"], ["the market rose", "good profit"])
    for i, line in enumerate(lines):
        index, probabilities, label = parse(line)
        assert index == i
        assert probabilities == pytest.approx(expected[i], abs=1e-4)
        classes = ["sports", "cooking", "travel"]
        assert label == classes[max(range(3), key=lambda c: expected[i][c])]
    summary = finished.summary()
    assert summary["classes"] == ["sports", "cooking", "travel"]
    assert summary["classes_from"] == "config.json"


@pytest.mark.worker
def test_pickle_only_checkpoint_is_refused(run_job, owner, checkpoints):
    model = user_model(owner, "document-classification", checkpoints["pickled"], "old-bert")
    finished = run_job("document-classification", model, "arxiv")
    assert finished.job.status == "FAILED"
    assert "pickled weights" in finished.job.error_message
    assert "safetensors" in finished.job.error_message


@pytest.mark.worker
def test_labels_file_gone_before_the_job_runs_fails_it_with_a_fix(run_job, owner):
    # A missing labels file is refused at create (tests/security/test_paths.py); one that
    # goes after the check still ends the job with a message saying what to do.
    files = {"docs.txt": b"hello\n", "labels.txt": b"greeting\nfarewell\n"}
    dataset = user_dataset(owner, "document-classification", files, "bare")
    labels = storage_root() / dataset.folder / "labels.txt"
    finished = run_job(
        "document-classification",
        "all-MiniLM-L6-v2-zero-shot",
        dataset,
        "docs.txt",
        before_commit=labels.unlink,
    )
    assert finished.job.status == "FAILED"
    assert "no labels file 'labels.txt'" in finished.job.error_message


def test_labels_file_tab_descriptions_and_order(tmp_path: Path):
    (tmp_path / "labels.txt").write_text("# classes\nb\tthe letter b\n\na\n")
    classes = labels_read(labels_path(tmp_path, "labels.txt"), "labels.txt")
    assert [(c.label, c.description) for c in classes] == [("b", "the letter b"), ("a", "a")]


@pytest.mark.parametrize(
    "name,message",
    [
        ("../labels.txt", "must be a path inside the dataset"),
        ("/etc/passwd", "must be a path inside the dataset"),
        ("", "must be a path inside the dataset"),
        ("sub/../../x", "must be a path inside the dataset"),
        ("escape/passwd", "leads outside the dataset"),
        ("missing.txt", "The dataset has no labels file 'missing.txt'"),
    ],
)
def test_labels_file_must_stay_inside_the_dataset(tmp_path: Path, name: str, message: str):
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    (dataset / "escape").symlink_to("/etc")
    with pytest.raises(ModelLoadError, match=re.escape(message)):
        labels_path(dataset, name)


def test_labels_file_needs_two_distinct_classes(tmp_path: Path):
    (tmp_path / "one.txt").write_text("only\n")
    (tmp_path / "dup.txt").write_text("a\na\n")
    with pytest.raises(ModelLoadError, match="between 2"):
        labels_read(tmp_path / "one.txt", "one.txt")
    with pytest.raises(ModelLoadError, match="repeats a"):
        labels_read(tmp_path / "dup.txt", "dup.txt")


def test_results_line_format():
    from worker.readers import Sample
    from worker.runners.classification import PLUGIN

    line = PLUGIN.format_result(
        Sample(7, "a", "a", "x"), {"probabilities": [0.25, 0.75], "label": "b"}
    )
    assert line == "7\t[0.250000, 0.750000]\tb\n"
    assert json.loads(line.split("\t")[1]) == [0.25, 0.75]


@pytest.fixture(scope="module")
def zero_shot(tmp_path_factory):
    from worker.runners import ModelRef
    from worker.runners.classification import PLUGIN

    folder = tmp_path_factory.mktemp("labels")
    (folder / "labels.txt").write_text(LABELS)
    model = ModelRef("all-MiniLM-L6-v2-zero-shot", "builtin", "minilm-zero-shot")
    return PLUGIN.load(model, {}, dataset_dir=folder)


def test_zero_shot_batch_gives_each_document_its_own_result(zero_shot):
    # Mixed lengths: the runner encodes in length order and must hand results back in
    # the documents' order.
    docs = [d * (1 + i % 3) for i, d in enumerate(doc for group in DOCS.values() for doc in group)]
    batch = zero_shot.predict(docs)
    alone = [zero_shot.predict([doc])[0] for doc in docs[:12]]
    assert [r["label"] for r in batch[:12]] == [r["label"] for r in alone]
    for together, single in zip(batch, alone, strict=False):
        assert together["probabilities"] == pytest.approx(single["probabilities"], abs=1e-4)


def test_zero_shot_looks_for_a_quit_between_encoding_steps(zero_shot):
    from worker.runners import Stopped
    from worker.runners.classification import ENCODE_BATCH

    docs = DOCS["finance"] * 3
    quit_on_second_look, looks = quit_on_look(2)

    with pytest.raises(Stopped) as stopped:
        zero_shot.predict(docs, should_stop=quit_on_second_look)
    # Encoded in length order, so no prefix of the batch is finished: nothing is kept.
    assert stopped.value.done == []
    assert len(looks) == 2 < len(docs) // ENCODE_BATCH
