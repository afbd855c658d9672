"""A person logs in, creates a project, runs the sentiment job and sees it complete."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_create_project_and_run_sentiment_job(live_worker, logged_in_page, live_server):
    page = logged_in_page
    page.get_by_label("Name").fill("Browser project")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Browser project")).to_be_visible()

    page.get_by_role("link", name="New Job").click()
    expect(page.get_by_role("heading", name="Create a new job")).to_be_visible()
    page.get_by_role("link", name=re.compile("Batch Inference")).click()
    page.get_by_label("Job Name").fill("finance run")
    page.get_by_label("ML App").select_option(label="Sentiment Analysis")
    page.get_by_label("Select model").select_option(label="vader-sentiment")
    page.get_by_label("Select dataset").select_option(label="finance_sentiment")
    expect(page.get_by_label("Relative dataset folder/file path")).to_have_value("test.txt")
    expect(page.get_by_test_id("preflight-count")).to_contain_text("40 samples")
    page.get_by_role("button", name="Run job").click()

    expect(page.get_by_role("heading", name="finance run")).to_be_visible()
    # The status card polls by itself (HTMX) until the job is terminal.
    expect(page.get_by_test_id("job-status").first).to_have_text("Completed", timeout=240_000)
    expect(page.get_by_test_id("results-path")).to_have_text(
        re.compile(r"/results/\d+/test_results_finance_sentiment\.txt$")
    )


def test_refused_job_shows_the_message_next_to_the_field(live_worker, logged_in_page, owner):
    from tests.factories import make_project

    project = make_project(owner, "Refusals")
    page = logged_in_page
    new_job = f"/projects/{project.pk}/jobs/new/?type=batch_predict"
    page.goto(page.url.replace("/projects/", new_job))
    page.get_by_label("Job Name").fill("bad path")
    page.get_by_label("ML App").select_option(label="Sentiment Analysis")
    page.get_by_label("Select model").select_option(label="vader-sentiment")
    page.get_by_label("Select dataset").select_option(label="finance_sentiment")
    page.get_by_label("Relative dataset folder/file path").fill("../secrets")
    page.get_by_role("button", name="Run job").click()
    expect(page.locator("#id_dataset_path-error")).to_contain_text("may not contain '..'")
