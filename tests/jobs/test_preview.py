"""The results preview counts what it shows: results rows, never a header or broken lines."""

from __future__ import annotations

import json
import re

import pytest

from apps.catalog.models import MLApp
from apps.core.storage import storage_root
from apps.jobs.models import Job
from apps.jobs.preview import results_preview
from tests.factories import make_project

SPEECH_HEADER = "input_file,segment_file,speaker,start,duration,transcript,annotated_transcript"


@pytest.fixture
def project(owner, catalog):
    return make_project(owner, "Previews")


def _finished(owner, project, app_key: str, filename: str, text: str) -> Job:
    job = Job.objects.create(
        project=project,
        owner=owner,
        name=app_key,
        status="COMPLETED",
        ml_app=MLApp.objects.get(key=app_key),
        model_name="m",
        dataset_name="d",
        results_filename=filename,
    )
    folder = storage_root() / job.results_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(text)
    return job


def _text(page: str, tag: str) -> str:
    """The words inside the first <tag> of the page, markup left out."""
    match = re.search(rf"<{tag}[^>]*>(.*?)</{tag}>", page, re.S)
    assert match, f"no <{tag}> in the preview"
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


def test_speech_chart_counts_segments_not_the_csv_header(owner_client, owner, project):
    segments = [
        f"a.wav,segments/a.wav_{i:04d}.wav,SPEAKER_0{i % 2},{i * 3}.00,2.50,hi {i},Hi {i}."
        for i in range(5)
    ]
    job = _finished(
        owner,
        project,
        "speech-recognition",
        "predictions.csv",
        "\n".join([SPEECH_HEADER, *segments]) + "\n",
    )
    preview = results_preview(job)
    assert len(preview.rows) == 5 and preview.chart_rows == 5
    page = owner_client.get(f"/jobs/{job.pk}/preview/", headers={"HX-Request": "true"})
    html = page.content.decode()
    assert _text(html, "figcaption") == "Talk time per speaker (5 rows)"
    assert "All 5 rows of predictions.csv" in _text(html, "p")


def test_label_chart_leaves_out_blank_lines(owner, project):
    job = _finished(
        owner,
        project,
        "sentiment-analysis",
        "test_results_d.txt",
        "0\tpositive\n\n1\tnegative\n2\tpositive\n",
    )
    preview = results_preview(job)
    assert preview.chart_rows == 3 == sum(b.value for b in preview.bars)
    assert not preview.chart_truncated


def test_ner_chart_counts_only_readable_records(owner, project):
    good = {"entities": [{"begin_offset": 0, "end_offset": 4, "entity": "B-PER"}], "text": "John"}
    job = _finished(
        owner,
        project,
        "named-entity-recognition",
        "predictions.txt",
        json.dumps(good) + "\nnot json\n" + json.dumps({"entities": [], "text": "nothing"}) + "\n",
    )
    preview = results_preview(job)
    assert preview.chart_rows == 2
    assert [row[0] for row in preview.rows] == [0, 2]  # the line numbers of the file


def test_one_row_is_singular(owner_client, owner, project):
    job = _finished(
        owner,
        project,
        "speech-recognition",
        "predictions.csv",
        f"{SPEECH_HEADER}\na.wav,segments/a_0.wav,SPEAKER_00,0.00,1.00,hi,Hi.\n",
    )
    html = owner_client.get(f"/jobs/{job.pk}/preview/", headers={"HX-Request": "true"})
    text = html.content.decode()
    assert _text(text, "p") == "The only row of predictions.csv."
    assert _text(text, "figcaption") == "Talk time per speaker (1 row)"


def test_a_long_file_shows_its_first_rows_and_counts_them_all(owner_client, owner, project):
    lines = "".join(f"{i}\t{'positive' if i % 3 else 'negative'}\n" for i in range(45))
    job = _finished(owner, project, "sentiment-analysis", "test_results_d.txt", lines)
    html = owner_client.get(f"/jobs/{job.pk}/preview/", headers={"HX-Request": "true"})
    text = html.content.decode()
    assert _text(text, "p") == "The first 20 rows of test_results_d.txt."
    assert _text(text, "figcaption") == "Label distribution (45 rows)"
