"""Issue 6 in a real browser: quit a running job from the dashboard's ⋮ menu (No leaves it
running, Yes stops it), watch a progress bar move and quit from the job window, delete a
finished job from the job window, and see the results preview."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.catalog.models import Dataset, MLApp, Visibility
from apps.core.storage import storage_root
from apps.jobs.models import Job
from tests.browser.conftest import shot
from tests.conftest import wait_for_job
from tests.factories import make_project, sentiment_job

pytestmark = [pytest.mark.browser, pytest.mark.worker]

LONG_LINES = 1_000_000
WORDS = (
    "strong growth",
    "sharp losses",
    "record profit",
    "a fraud probe",
    "steady demand",
    "weak guidance",
    "a generous dividend",
    "mass layoffs",
)


@pytest.fixture
def long_dataset(live_worker, owner):
    """Enough VADER work (a few hundred thousand lines) to keep the workers busy a while."""
    dataset = Dataset.objects.create(
        name="long_sentences",
        owner=owner,
        visibility=Visibility.PRIVATE,
        organization=owner.membership.organization,
        folder="datasets/long-sentences",
        default_path="big.txt",
        data_format="lines",
        sample_count=LONG_LINES,
    )
    dataset.ml_apps.set([MLApp.objects.get(key="sentiment-analysis")])
    folder = storage_root() / dataset.folder
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "big.txt").open("w") as fh:
        for i in range(LONG_LINES):
            fh.write(f"Company {i} reported {WORDS[i % 8]} and {WORDS[(i * 3) % 8]} today.\n")
    return dataset


def _running_long_job(owner, dataset, name):
    job = sentiment_job(
        owner,
        make_project(owner, f"Project {name}"),
        name=name,
        dataset=dataset,
        dataset_path="big.txt",
    )
    return wait_for_job(job.pk, statuses=("RUNNING",), timeout=240)


def _posts_seen(page):
    """The URLs of every POST the page sends from now on."""
    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    return posts


def _stop(job):
    from apps.jobs.services import job_quit

    # Runs in `finally`: a failure here is reported, never raised over the test's own.
    try:
        job.refresh_from_db()
        if job.is_active:
            job_quit(job=job)
        wait_for_job(job.pk, timeout=240)
    except Exception as exc:  # noqa: BLE001
        print(f"could not stop job {job.pk} after the test: {exc!r}")


def test_quit_a_running_job_from_the_dashboard_menu(
    long_dataset, logged_in_page, live_server, owner
):
    job = _running_long_job(owner, long_dataset, "long quit")
    try:
        page = logged_in_page
        page.get_by_role("link", name="Dashboard").click()
        row = page.locator(f"#job-row-{job.pk}")
        expect(row.get_by_test_id("job-status")).to_have_text("Running")

        # ⋮ → Quit → No: the box closes and the job keeps running.
        row.get_by_test_id("job-actions").click()
        expect(row.get_by_role("menuitem", name="Delete")).to_be_visible()
        shot(page, "dashboard-menu-open")
        row.get_by_role("menuitem", name="Quit").click()
        dialog = page.locator(f"#quit-job-{job.pk}")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("Samples already processed are kept")
        shot(page, "dashboard-quit-confirm", full_page=False)
        dialog.get_by_role("button", name="No").click()
        expect(dialog).to_be_hidden()
        # Polling resumes: wait for the server to send the row again (a fresh element
        # replaces the marked one), and it still says Running.
        page.locator(f"#job-row-{job.pk}").evaluate("row => row.dataset.old = '1'")
        expect(page.locator(f"#job-row-{job.pk}:not([data-old])")).to_have_count(1)
        expect(row.get_by_test_id("job-status")).to_have_text("Running")
        assert Job.objects.get(pk=job.pk).status == "RUNNING"

        # ⋮ → Quit → Yes: the job stops, its finished samples kept.
        row.get_by_test_id("job-actions").click()
        row.get_by_role("menuitem", name="Quit").click()
        expect(dialog).to_be_visible()
        dialog.get_by_role("button", name="Yes").click()
        expect(page.get_by_text(f"Job '{job.name}' is stopping")).to_be_visible()
        expect(page.locator(f"#job-row-{job.pk}").get_by_test_id("job-status")).to_have_text(
            "Stopped"
        )
        # A terminal row offers no Quit any more.
        page.locator(f"#job-row-{job.pk}").get_by_test_id("job-actions").click()
        expect(
            page.locator(f"#job-row-{job.pk}").get_by_role("menuitem", name="Quit")
        ).to_have_count(0)
        shot(page, "dashboard-stopped")
        job = wait_for_job(job.pk)
        assert job.status == "STOPPED"
        assert 0 < job.done_samples < LONG_LINES
        results = storage_root() / job.results_relpath
        assert sum(1 for _ in results.open()) == job.done_samples  # partial results kept
    finally:
        _stop(job)


def test_progress_bar_moves_and_quit_from_the_job_window(
    long_dataset, logged_in_page, live_server, owner
):
    job = _running_long_job(owner, long_dataset, "long watch")
    try:
        page = logged_in_page
        page.goto(f"{live_server.url}/jobs/{job.pk}/")
        bar = page.get_by_test_id("status-card").get_by_test_id("progress-bar")
        expect(bar).to_be_visible()
        first = int(bar.get_attribute("aria-valuenow"))
        expect(bar).not_to_have_attribute("aria-valuenow", str(first))
        second = int(bar.get_attribute("aria-valuenow"))
        assert second > first
        expect(page.get_by_test_id("job-counts")).to_contain_text(f"{LONG_LINES:,} total")
        shot(page, "job-window-running")

        posts = _posts_seen(page)
        page.get_by_test_id("quit-job").click()
        dialog = page.locator(f"#quit-job-{job.pk}")
        dialog.get_by_role("button", name="No").click()
        expect(dialog).to_be_hidden()
        # The status card polls on: once it has shown progress again, any request the
        # "No" could have sent would have been sent, and none was.
        now = bar.get_attribute("aria-valuenow")
        expect(bar).not_to_have_attribute("aria-valuenow", now)
        assert not [url for url in posts if "/quit/" in url], posts
        assert Job.objects.get(pk=job.pk).status == "RUNNING"
        page.get_by_test_id("quit-job").click()
        dialog.get_by_role("button", name="Yes").click()
        expect(page.get_by_test_id("status-card").get_by_test_id("job-status")).to_have_text(
            "Stopped"
        )
        expect(page.get_by_test_id("quit-job")).to_have_count(0)
        # The partial results are previewed once the job has stopped.
        expect(page.get_by_test_id("preview-table")).to_be_visible()
    finally:
        _stop(job)


def test_delete_a_finished_job_from_the_job_window(live_worker, logged_in_page, live_server, owner):
    job = wait_for_job(sentiment_job(owner, make_project(owner, "Deletes"), name="to delete").pk)
    folder = storage_root() / job.results_dir
    assert (folder / job.results_filename).exists()
    page = logged_in_page
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    page.get_by_test_id("delete-job").click()
    dialog = page.locator(f"#delete-job-{job.pk}")
    expect(dialog).to_contain_text("export history will permanently be removed")
    posts = _posts_seen(page)
    dialog.get_by_role("button", name="No").click()
    expect(dialog).to_be_hidden()
    # A full round trip after the click: a request the "No" sent would be on record.
    page.reload()
    expect(page.get_by_test_id("delete-job")).to_be_visible()
    assert not [url for url in posts if "/delete/" in url], posts
    assert Job.objects.filter(pk=job.pk).exists() and folder.exists()
    page.get_by_test_id("delete-job").click()
    shot(page, "job-window-delete-confirm", full_page=False)
    dialog.get_by_role("button", name="Yes").click()
    expect(page.get_by_role("heading", name="Deletes")).to_be_visible()
    expect(
        page.get_by_text("'to delete', its results and its export history were deleted")
    ).to_be_visible()
    shot(page, "project-window-after-delete")
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not folder.exists()
    assert page.goto(f"{live_server.url}/jobs/{job.pk}/").status == 404


def test_results_preview_shows_a_table_and_a_chart(live_worker, logged_in_page, live_server, owner):
    job = wait_for_job(sentiment_job(owner, make_project(owner, "Preview"), name="seen").pk)
    page = logged_in_page
    page.goto(f"{live_server.url}/jobs/{job.pk}/")
    preview = page.get_by_test_id("results-preview")
    table = preview.get_by_test_id("preview-table")
    expect(table.locator("tbody tr")).to_have_count(20)
    expect(table.locator("thead")).to_contain_text("Input text")
    expect(table.locator("tbody tr").nth(3)).to_contain_text(
        re.compile(r"3\s*The board approved a generous dividend increase.*positive")
    )
    chart = preview.get_by_test_id("preview-chart")
    expect(chart).to_contain_text("Label distribution")
    expect(chart.get_by_test_id("chart-bar")).to_have_count(2)
    bars = {b.get_attribute("data-label") for b in chart.get_by_test_id("chart-bar").all()}
    assert bars == {"negative", "positive"}
    shot(page, "job-window-preview")
