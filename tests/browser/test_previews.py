"""Each ML App's results preview in the job window, from results files written as its
runner writes them (job rows with no task behind them), with a screenshot of each."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from apps.core.storage import storage_root
from tests.browser.conftest import shot
from tests.factories import job_row, make_project

pytestmark = pytest.mark.browser


def _finished(owner, project, app_key, name, results_filename, lines, **fields):
    job = job_row(
        owner,
        project,
        app_key=app_key,
        name=name,
        total_samples=len(lines),
        done_samples=len(lines),
        dataset_name="prompts",
        results_filename=results_filename,
        **fields,
    )
    folder = storage_root() / job.results_dir
    folder.mkdir(parents=True)
    (folder / results_filename).write_text("".join(line + "\n" for line in lines))
    return job


def _entity(begin: int, entity: str, word: str) -> dict[str, object]:
    return {"begin_offset": begin, "end_offset": begin + len(word), "entity": entity, "word": word}


def test_classification_ner_and_speech_previews_in_the_job_window(
    catalog, logged_in_page, live_server, owner
):
    """The preview follows each ML App's results format (files written as the runners do)."""
    project = make_project(owner, "Formats")
    classes = ["cs.CL", "cs.CV", "q-bio.GN", "astro-ph.GA"]
    lines = []
    for i in range(6):
        probs = [0.05] * 4
        probs[i % 4] = 0.85
        lines.append(f"{i}\t{probs}\t{classes[i % 4]}")
    classification = _finished(
        owner, project, "document-classification", "classification", "test_results_arxiv.txt", lines
    )
    page = logged_in_page
    page.goto(f"{live_server.url}/jobs/{classification.pk}/")
    table = page.get_by_test_id("preview-table")
    expect(table.locator("thead")).to_contain_text("Confidence")
    expect(table.locator("tbody tr").first).to_contain_text(re.compile(r"0\s*cs\.CL\s*0\.85"))
    expect(page.get_by_test_id("preview-count")).to_have_text(
        "All 6 rows of test_results_arxiv.txt."
    )
    chart = page.get_by_test_id("preview-chart")
    expect(chart).to_contain_text("Label distribution (6 rows)")
    expect(chart.get_by_test_id("chart-bar")).to_have_count(4)
    shot(page, "job-window-classification-preview")

    ner = _finished(
        owner,
        project,
        "named-entity-recognition",
        "ner",
        "predictions.txt",
        [
            json.dumps({"entities": entities, "text": text})
            for text, entities in (
                (
                    "SOCCER - JAPAN GET LUCKY WIN, CHINA IN SURPRISE DEFEAT.",
                    [_entity(9, "B-LOC", "JAPAN"), _entity(30, "B-LOC", "CHINA")],
                ),
                (
                    "Nadim Ladki wrote for Reuters today.",
                    [
                        _entity(0, "B-PER", "Nadim"),
                        _entity(6, "I-PER", "Ladki"),
                        _entity(22, "B-ORG", "Reuters"),
                    ],
                ),
            )
        ],
    )
    page.goto(f"{live_server.url}/jobs/{ner.pk}/")
    table = page.get_by_test_id("preview-table")
    expect(table.locator("mark.ent-loc")).to_have_count(2)
    expect(table.locator("mark.ent-loc").first).to_contain_text("JAPAN")
    chart = page.get_by_test_id("preview-chart")
    expect(chart).to_contain_text("Entities by type")
    expect(chart.locator("[data-label=LOC]")).to_contain_text("2")
    expect(table.locator("mark.ent-per")).to_have_text("Nadim LadkiPER")  # one name, one mark
    shot(page, "job-window-ner-preview")

    speech = _finished(
        owner,
        project,
        "speech-recognition",
        "speech",
        "predictions.csv",
        [
            "input_file,segment_file,speaker,start,duration,transcript,annotated_transcript",
            "a.wav,segments/a_0000.wav,SPEAKER_00,0.00,4.50,hello everyone,Hello everyone.",
            "a.wav,segments/a_0001.wav,SPEAKER_01,4.50,12.25,thanks for joining,"
            "Thanks for joining.",
            "a.wav,segments/a_0002.wav,SPEAKER_00,16.75,3.00,lets start,Let's start.",
            "a.wav,segments/a_0003.wav,SPEAKER_01,19.75,2.10,sure,Sure.",
            "a.wav,segments/a_0004.wav,SPEAKER_00,21.85,1.50,great,Great.",
        ],
    )
    page.goto(f"{live_server.url}/jobs/{speech.pk}/")
    table = page.get_by_test_id("preview-table")
    expect(table.locator("tbody tr")).to_have_count(5)
    expect(table.locator("tbody tr").nth(1)).to_contain_text(
        re.compile(r"SPEAKER_01\s*0:04.5\s*12.2 s\s*Thanks for joining.")
    )
    expect(page.get_by_test_id("preview-count")).to_have_text("All 5 rows of predictions.csv.")
    chart = page.get_by_test_id("preview-chart")
    expect(chart.locator("figcaption")).to_have_text("Talk time per speaker (5 rows)")
    expect(chart.locator("[data-label=SPEAKER_01]")).to_contain_text("14s")
    shot(page, "job-window-speech-preview")


def test_generation_and_embeddings_previews_in_the_job_window(
    catalog, logged_in_page, live_server, owner
):
    project = make_project(owner, "Generated")
    answers = [
        ("Name a prime number.", "Seven is a prime number.", "stop", 6, 6),
        ("Write a haiku about rain.", "Soft rain on the roof, grey", "length", 7, 8),
        ("What is 2 + 2?", "4", "stop", 8, 1),
    ]
    generation = _finished(
        owner,
        project,
        "text-generation",
        "generation",
        "predictions.jsonl",
        model_name="qwen2.5-coder-1.5b-instruct",
        lines=[
            json.dumps(
                {
                    "index": i,
                    "text": text,
                    "generation": answer,
                    "finish_reason": ending,
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                }
            )
            for i, (text, answer, ending, prompt, completion) in enumerate(answers)
        ],
    )
    page = logged_in_page
    page.goto(f"{live_server.url}/jobs/{generation.pk}/")
    table = page.get_by_test_id("preview-table")
    expect(table.locator("thead")).to_contain_text("Generation")
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr").nth(1)).to_contain_text(
        re.compile(r"1\s*Write a haiku about rain\.\s*Soft rain on the roof, grey\s*7 → 8")
    )
    chart = page.get_by_test_id("preview-chart")
    expect(chart).to_contain_text("How the answers ended")
    expect(chart.locator("[data-label=stop]")).to_contain_text("2")
    expect(chart.locator("[data-label=length]")).to_contain_text("1")
    shot(page, "job-window-generation-preview")

    vectors = [[0.6, 0.8, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]]
    embeddings = _finished(
        owner,
        project,
        "text-embeddings",
        "embeddings",
        "embeddings.jsonl",
        model_name="all-minilm-l6-v2",
        lines=[json.dumps({"index": i, "embedding": v}) for i, v in enumerate(vectors)],
    )
    page.goto(f"{live_server.url}/jobs/{embeddings.pk}/")
    table = page.get_by_test_id("preview-table")
    expect(table.locator("thead")).to_contain_text("First values")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(page.get_by_test_id("preview-count")).to_have_text("All 2 rows of embeddings.jsonl.")
    expect(table.locator("tbody tr").first).to_contain_text(
        re.compile(r"0\s*5\s*1\.000\s*0\.6000, 0\.8000, 0\.0000, 0\.0000, …")
    )
    shot(page, "job-window-embeddings-preview")
