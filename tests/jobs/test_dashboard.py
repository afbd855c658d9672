"""Dashboard, job rows, job window, results preview, Quit and Delete on the server."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.catalog.models import Dataset, MLApp, MLModel
from apps.core.storage import storage_root
from apps.jobs import forecast
from apps.jobs.models import Job
from apps.jobs.preview import highlight_entities, results_preview
from tests.factories import make_project

HX = {"HX-Request": "true"}


def _job(owner, project, name, app_key="sentiment-analysis", status="COMPLETED", **fields):
    """A job row as the engine leaves it, without queueing anything."""
    app = MLApp.objects.get(key=app_key)
    now = timezone.now()
    defaults = {
        "total_samples": 40,
        "done_samples": 40 if status == "COMPLETED" else 10,
        "started_at": now - timedelta(minutes=3),
        "finished_at": None if status in ("QUEUED", "RUNNING", "STOPPING") else now,
        "results_filename": app.results_name_for("finance_sentiment"),
    }
    defaults.update(fields)
    return Job.objects.create(
        project=project,
        owner=owner,
        name=name,
        ml_app=app,
        model_name="vader-sentiment",
        dataset_name="finance_sentiment",
        dataset_path="test.txt",
        status=status,
        settings={"batch_size": 32},
        **defaults,
    )


def _results(job, text, name=None):
    folder = storage_root() / job.results_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / (name or job.results_filename)).write_text(text)
    return folder


@pytest.fixture
def project(owner, catalog):
    return make_project(owner, "Alpha")


# --- the dashboard ----------------------------------------------------------------------


def _dashboard_queries(client, per_page):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/dashboard/", {"per_page": per_page})
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content.decode()


def test_dashboard_issues_a_fixed_number_of_queries_whatever_the_page_size(
    owner_client, owner, project
):
    other = make_project(owner, "Beta")
    apps = list(MLApp.objects.all())
    now = timezone.now()
    Job.objects.bulk_create(
        Job(
            project=(project, other)[i % 2],
            owner=owner,
            name=f"job-{i:03d}",
            ml_app=apps[i % len(apps)],
            model_name="m",
            dataset_name="d",
            status=("RUNNING", "COMPLETED", "FAILED", "QUEUED")[i % 4],
            total_samples=100,
            done_samples=i % 100,
            started_at=now,
            results_filename="r.txt",
        )
        for i in range(150)
    )
    forecast._cache = None  # the pool's state is kept a second: read it in each request
    small, small_page = _dashboard_queries(owner_client, 10)
    forecast._cache = None
    large, large_page = _dashboard_queries(owner_client, 100)
    assert small_page.count('data-testid="job-row"') == 10
    assert large_page.count('data-testid="job-row"') == 100
    assert small == large
    # session, user, count, page of rows, projects and ML Apps of the filters; and the
    # pool the predictions read (active jobs, model speeds, running jobs, shards in flight)
    assert large <= 10, large


def test_dashboard_lists_every_job_of_the_user_with_its_columns(owner_client, owner, project):
    job = _job(owner, project, "finance run")
    page = owner_client.get("/dashboard/").content.decode()
    # The row itself, not the page: the project and ML App names are on every dashboard
    # through the filter dropdowns.
    row = re.search(rf'<tr id="job-row-{job.pk}".*?</tr>', page, re.S)
    assert row, "no row for the job"
    cells = [
        re.sub(r"<[^>]+>|\s+", " ", cell).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)
    ]
    assert cells[:5] == [
        "finance run",
        "Alpha",
        "Sentiment Analysis",
        "vader-sentiment",
        "finance_sentiment",
    ], cells
    assert "Completed" in cells[5]
    assert "40 done / 40" in cells[7]
    assert cells[8] == "3m 00s"
    assert f'href="/jobs/{job.pk}/"' in row.group(0)
    assert '<option value="25" selected>25</option>' in page  # the page size in use


def test_dashboard_filters_by_status_project_ml_app_and_name(owner_client, owner, project):
    beta = make_project(owner, "Beta")
    _job(owner, project, "done-alpha")
    _job(owner, beta, "running-beta", status="RUNNING")
    _job(owner, beta, "ner-beta", app_key="named-entity-recognition")
    ner = MLApp.objects.get(key="named-entity-recognition")

    def names(**params):
        page = owner_client.get("/dashboard/", params).content.decode()
        return {n for n in ("done-alpha", "running-beta", "ner-beta") if f">{n}</a>" in page}

    assert names() == {"done-alpha", "running-beta", "ner-beta"}
    assert names(status="active") == {"running-beta"}
    assert names(status="COMPLETED") == {"done-alpha", "ner-beta"}
    assert names(project=beta.pk) == {"running-beta", "ner-beta"}
    assert names(ml_app=ner.pk) == {"ner-beta"}
    assert names(q="ALPHA") == {"done-alpha"}
    assert names(status="nonsense", project="x") == {"done-alpha", "running-beta", "ner-beta"}


def test_dashboard_sorts_and_paginates(owner_client, owner, project):
    for name in ("charlie", "alpha", "bravo"):
        _job(owner, project, name)
    page = owner_client.get("/dashboard/", {"sort": "name"}).content.decode()
    assert page.index(">alpha<") < page.index(">bravo<") < page.index(">charlie<")
    assert 'aria-sort="ascending"' in page
    page = owner_client.get("/dashboard/", {"sort": "-name"}).content.decode()
    assert page.index(">charlie<") < page.index(">bravo<") < page.index(">alpha<")
    first = owner_client.get("/dashboard/", {"sort": "name", "per_page": 10}).content.decode()
    assert "Page 1 of 1" not in first  # three jobs fit on one page: no pagination at all
    for i in range(12):
        _job(owner, project, f"zz-{i:02d}")
    second = owner_client.get("/dashboard/", {"sort": "name", "per_page": 10, "page": 2})
    body = second.content.decode()
    assert "Page 2 of 2" in body and body.count('data-testid="job-row"') == 5


def test_dashboard_htmx_request_returns_only_the_list(owner_client, owner, project):
    _job(owner, project, "alpha")
    body = owner_client.get("/dashboard/", {"q": "alp"}, headers=HX).content.decode()
    assert "<html" not in body and body.lstrip().startswith('<section id="job-list"')


def test_active_rows_poll_and_terminal_rows_do_not(owner_client, owner, project):
    running = _job(owner, project, "running", status="RUNNING")
    done = _job(owner, project, "done")
    page = owner_client.get("/dashboard/").content.decode()
    row = page[page.index(f'id="job-row-{running.pk}"') :]
    assert row[: row.index(">")].count('hx-trigger="every 2s') == 1
    done_row = page[page.index(f'id="job-row-{done.pk}"') :]
    assert "hx-trigger" not in done_row[: done_row.index(">")]
    # Once the job ends, the polled row comes back without a trigger: polling stops.
    Job.objects.filter(pk=running.pk).update(status="COMPLETED", done_samples=40)
    fragment = owner_client.get(f"/jobs/{running.pk}/row/", headers=HX).content.decode()
    assert fragment.lstrip().startswith("<tr") and "hx-trigger" not in fragment
    assert "Completed" in fragment


def test_actions_menu_offers_quit_only_for_active_jobs_and_confirms(owner_client, owner, project):
    running = _job(owner, project, "running", status="RUNNING")
    done = _job(owner, project, "done")
    page = owner_client.get("/dashboard/").content.decode()
    assert f'data-open-dialog="quit-job-{running.pk}"' in page
    assert f'data-open-dialog="quit-job-{done.pk}"' not in page
    assert f'data-open-dialog="delete-job-{done.pk}"' in page
    assert f'<dialog id="quit-job-{running.pk}"' in page
    assert f'<dialog id="delete-job-{done.pk}"' in page
    assert "export history will permanently be removed" in page
    assert page.count('data-testid="confirm-no"') == 3  # one quit box, two delete boxes


def test_project_window_shows_the_same_list_for_its_project(owner_client, owner, project):
    running = _job(owner, project, "mine-here", status="RUNNING")
    _job(owner, make_project(owner, "Other"), "elsewhere")
    page = owner_client.get(f"/projects/{project.pk}/").content.decode()
    assert "mine-here" in page and "elsewhere" not in page
    assert f'data-open-dialog="quit-job-{running.pk}"' in page
    assert f"/jobs/{running.pk}/row/?compact=1" in page


# --- Quit and Delete ---------------------------------------------------------------------


def test_quit_from_the_dashboard_stops_a_queued_job_and_goes_back(owner_client, owner, project):
    job = _job(owner, project, "queued", status="QUEUED", started_at=None)
    response = owner_client.post(f"/jobs/{job.pk}/quit/", {"next": "/dashboard/?status=active"})
    assert response.status_code == 302 and response["Location"] == "/dashboard/?status=active"
    assert Job.objects.get(pk=job.pk).status == "STOPPED"


def test_delete_removes_the_job_and_its_results_folder(owner_client, owner, project):
    job = _job(owner, project, "done")
    folder = _results(job, "0\tpositive\n")
    response = owner_client.post(f"/jobs/{job.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == f"/projects/{project.pk}/"
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not folder.exists()


@pytest.mark.parametrize("action", ["quit", "delete"])
def test_actions_refuse_get(owner_client, owner, project, action):
    job = _job(owner, project, "running", status="RUNNING")
    assert owner_client.get(f"/jobs/{job.pk}/{action}/").status_code == 405
    assert Job.objects.get(pk=job.pk).status == "RUNNING"


@pytest.mark.parametrize("action", ["quit", "delete"])
def test_actions_refuse_a_post_without_csrf_token(owner, project, action):
    job = _job(owner, project, "running", status="RUNNING")
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(f"/jobs/{job.pk}/{action}/").status_code == 403
    assert Job.objects.get(pk=job.pk).status == "RUNNING"


@pytest.mark.parametrize(
    "method,url,htmx",
    [
        ("get", "/jobs/{j}/", False),
        ("get", "/jobs/{j}/", True),
        ("get", "/jobs/{j}/row/", True),
        ("get", "/jobs/{j}/preview/", True),
        ("post", "/jobs/{j}/quit/", False),
        ("post", "/jobs/{j}/delete/", False),
        ("post", "/jobs/{j}/quit/", True),
        ("post", "/jobs/{j}/delete/", True),
    ],
)
def test_outsider_gets_404_on_every_job_view_and_fragment(
    outsider_client, owner, project, method, url, htmx
):
    job = _job(owner, project, "running", status="RUNNING")
    folder = _results(job, "partial\n", "progress.txt")
    response = getattr(outsider_client, method)(url.format(j=job.pk), headers=HX if htmx else {})
    assert response.status_code == 404
    assert Job.objects.get(pk=job.pk).status == "RUNNING" and folder.exists()


def test_outsiders_dashboard_does_not_list_the_job(outsider_client, owner, project):
    _job(owner, project, "private-run")
    assert "private-run" not in outsider_client.get("/dashboard/").content.decode()


# --- the job window -----------------------------------------------------------------------


def test_job_window_details_card_shows_everything(owner_client, owner, project):
    job = _job(owner, project, "finance run")
    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    for text in (
        "finance run",
        "Alpha",
        "Batch Inference",
        "batch_predict",
        "Sentiment Analysis",
        "vader-sentiment",
        "finance_sentiment",
        "test.txt",
        "batch_size",
        "Completed",
        "40 total · 40 done · 0 failed",
        "Started",
        "Finished",
        "3m 00s",
        "test_results_finance_sentiment.txt",
        f"results/{job.pk}/test_results_finance_sentiment.txt",
    ):
        assert text in page, text
    assert 'data-testid="quit-job"' not in page  # Quit only while active
    assert 'data-open-dialog="delete-job-' in page


def test_job_window_speed_is_grouped_and_rounded(owner_client, owner, project):
    job = _job(owner, project, "fast run", total_samples=8_000_003, done_samples=8_000_003)
    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "44,444.5 samples/s" in page  # 8,000,003 samples in 3 minutes


def test_running_job_window_polls_and_offers_quit(owner_client, owner, project):
    job = _job(owner, project, "running", status="RUNNING")
    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'data-testid="quit-job"' in page and f'<dialog id="quit-job-{job.pk}"' in page
    assert 'id="job-live"' in page and 'hx-trigger="every 2s' in page
    live = owner_client.get(f"/jobs/{job.pk}/", headers=HX).content.decode()
    assert live.lstrip().startswith('<div id="job-live"') and "hx-trigger" in live
    assert "results-preview" not in live


def test_job_window_stops_polling_and_loads_the_preview_when_the_job_ends(
    owner_client, owner, project
):
    job = _job(owner, project, "ended", status="COMPLETED")
    live = owner_client.get(f"/jobs/{job.pk}/", headers=HX).content.decode()
    assert "every 2s" not in live
    assert 'id="results-preview" hx-swap-oob="true"' in live
    assert f'hx-get="/jobs/{job.pk}/preview/"' in live


def test_failed_job_shows_its_message_and_most_frequent_sample_errors(owner_client, owner, project):
    job = _job(
        owner,
        project,
        "broken",
        status="FAILED",
        done_samples=1,
        failed_samples=9,
        error_message="9 of 10 samples failed, more than the error threshold (5).",
    )
    _results(
        job, json.dumps({"error_reasons": {"empty input": 6, "not UTF-8 text": 3}}), "summary.json"
    )
    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "more than the error threshold (5)" in page
    errors = page[page.index('data-testid="error-reasons"') :]
    assert errors.index("empty input") < errors.index("not UTF-8 text")
    assert "<td>6</td>" in errors and "<td>3</td>" in errors


def test_failed_job_without_summary_counts_errors_jsonl(owner_client, owner, project):
    job = _job(owner, project, "stopped", status="STOPPED", failed_samples=3)
    lines = [
        {"index": i, "input": f"test.txt line {i}", "reason": r}
        for i, r in enumerate(["empty input", "empty input", "too long"])
    ]
    _results(job, "".join(json.dumps(x) + "\n" for x in lines), "errors.jsonl")
    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Most frequent sample errors" in page
    errors = page[page.index('data-testid="error-reasons"') :]
    errors = errors[: errors.index("</table>")]
    assert "<tr><td>empty input</td><td>2</td></tr>" in errors
    assert "<tr><td>too long</td><td>1</td></tr>" in errors


# --- the results preview ------------------------------------------------------------------


def test_sentiment_preview_table_has_input_text_and_label_chart(owner_client, owner, project):
    job = _job(
        owner,
        project,
        "done",
        dataset=Dataset.objects.get(name="finance_sentiment"),
        model=MLModel.objects.get(name="vader-sentiment"),
    )
    _results(job, "".join(f"{i}\t{'positive' if i % 4 else 'negative'}\n" for i in range(40)))
    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    preview = page[page.index('data-testid="results-preview"') :]
    assert preview.count("<tr>") == 21  # header + the first 20 rows
    assert "The board approved a generous dividend increase" in preview  # input text, row 3
    assert "Label distribution" in preview
    assert 'data-label="positive"' in preview and "30 <small>(75.0%)" in preview
    assert 'data-label="negative"' in preview and "10 <small>(25.0%)" in preview
    fragment = owner_client.get(f"/jobs/{job.pk}/preview/", headers=HX).content.decode()
    assert fragment.lstrip().startswith('<section id="results-preview"')


def test_classification_preview_shows_confidence(owner, project):
    job = _job(owner, project, "cls", app_key="document-classification")
    _results(job, "0\t[0.1, 0.9]\tphysics\n1\t[0.7, 0.3]\tbiology\n2\t[0.2, 0.8]\tphysics\n")
    preview = results_preview(job)
    assert preview.columns[-1] == "Confidence"
    assert preview.rows[0][2:] == ["physics", "0.90"]
    assert [(b.label, b.value) for b in preview.bars] == [("physics", 2), ("biology", 1)]


def test_ner_preview_highlights_entities_and_counts_types(owner, project):
    job = _job(
        owner,
        project,
        "ner",
        app_key="named-entity-recognition",
        results_filename="predictions.txt",
    )
    records = [
        {
            "entities": [
                {"begin_offset": 9, "end_offset": 14, "entity": "B-LOC", "word": "JAPAN"},
                {"begin_offset": 30, "end_offset": 35, "entity": "B-LOC", "word": "CHINA"},
            ],
            "text": "SOCCER - JAPAN GET LUCKY WIN, CHINA IN SURPRISE DEFEAT.",
        },
        {
            "entities": [
                {"begin_offset": 0, "end_offset": 4, "entity": "B-PER", "word": "John"},
                {"begin_offset": 5, "end_offset": 10, "entity": "I-PER", "word": "Smith"},
            ],
            "text": "John Smith <b>visited</b>",
        },
    ]
    _results(job, "".join(json.dumps(r) + "\n" for r in records))
    preview = results_preview(job)
    assert preview.kind == "ner" and preview.chart_title == "Entities by type"
    assert [(b.label, b.value) for b in preview.bars] == [("LOC", 2), ("PER", 1)]
    first = str(preview.rows[0][1])
    assert '<mark class="ent ent-loc">JAPAN<span class="ent-label">LOC</span></mark>' in first
    second = str(preview.rows[1][1])
    assert "John Smith<span" in second  # B-/I- pieces of one name become one mark
    assert "&lt;b&gt;visited&lt;/b&gt;" in second  # the text itself is escaped


def test_highlight_ignores_offsets_outside_the_text():
    html = str(
        highlight_entities("short", [{"begin_offset": 3, "end_offset": 99, "entity": "B-ORG"}])
    )
    assert html == "short"


def test_speech_preview_has_speaker_times_text_and_talk_time(owner, project):
    job = _job(
        owner, project, "speech", app_key="speech-recognition", results_filename="predictions.csv"
    )
    rows = [
        "input,segment,speaker,start,duration,raw,annotated",
        "a.wav,segments/a_0.wav,SPEAKER_00,0.0,4.5,hello there,Hello there.",
        'a.wav,segments/a_1.wav,SPEAKER_01,4.5,65.0,fine thanks,"Fine, thanks."',
        "a.wav,segments/a_2.wav,SPEAKER_00,69.5,2.0,bye,Bye.",
    ]
    _results(job, "\n".join(rows) + "\n")
    preview = results_preview(job)
    assert preview.columns == ["File", "Speaker", "Start", "Duration", "Transcript"]
    assert preview.rows[1] == ["a.wav", "SPEAKER_01", "0:04.5", "65.0 s", "Fine, thanks."]
    assert preview.chart_title == "Talk time per speaker"
    assert [(b.label, b.display) for b in preview.bars] == [
        ("SPEAKER_01", "1m 05s"),
        ("SPEAKER_00", "6s"),
    ]


def test_preview_of_a_stopped_job_without_results_says_so(owner_client, owner, project):
    job = _job(owner, project, "nothing", status="STOPPED", done_samples=0)
    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "No results file: the job ended before any sample was processed." in page
