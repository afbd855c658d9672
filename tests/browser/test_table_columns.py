"""The column picker in a real browser: a table's columns and first rows appear under the
path, a bad ID column is refused next to its field, and the joined results come back."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from apps.catalog.models import Dataset, MLApp, Visibility
from apps.core.storage import storage_root
from apps.jobs.models import Job, JobStatus
from tests.conftest import wait_for_job
from tests.factories import make_project

pytestmark = [pytest.mark.browser, pytest.mark.worker]


@pytest.fixture
def reviews(owner):
    dataset = Dataset.objects.create(
        name="shop-reviews",
        owner=owner,
        organization=owner.membership.organization,
        visibility=Visibility.PRIVATE,
        folder="",
        default_path="reviews.csv",
    )
    dataset.folder = f"datasets/{dataset.pk}"
    dataset.save(update_fields=["folder"])
    dataset.ml_apps.set([MLApp.objects.get(key="sentiment-analysis")])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["order", "customer", "review", "stars"])
    for i in range(12):
        text = "Great, fast delivery" if i % 2 else "Broken on arrival, awful"
        writer.writerow([f"A-{100 + i}", f"cust {i % 3}", text, 5 if i % 2 else 1])
    folder = storage_root() / dataset.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reviews.csv").write_text(buffer.getvalue(), encoding="utf-8")
    return dataset


def test_pick_columns_see_a_refusal_then_get_joined_results(
    live_worker, reviews, logged_in_page, live_server, owner
):
    page = logged_in_page
    project = make_project(owner, "Tables")
    page.goto(f"{live_server.url}/projects/{project.pk}/jobs/new/?type=batch_predict")
    form = page.get_by_test_id("job-form")
    page.get_by_label("Job Name").fill("joined run")
    form.get_by_label("ML App").select_option(label="Sentiment Analysis")
    form.get_by_label("Select model").select_option(label="vader-sentiment")
    form.get_by_label("Select dataset").select_option(label="shop-reviews")

    # The dataset's default path is a table: its columns and first rows are shown.
    columns = page.get_by_test_id("table-columns")
    expect(columns).to_contain_text("Columns of reviews.csv")
    preview = page.get_by_test_id("table-preview")
    expect(preview.locator("th")).to_have_text(["order", "customer", "review", "stars"])
    expect(preview.locator("tbody tr").first).to_contain_text("A-100")
    # The input column defaults to the first one when none is called text/review-like.
    expect(columns.get_by_label("Input column").locator("option").first).to_have_text(
        "Default: order"
    )

    # A column of repeated values as the ID: refused next to the field, naming the rows.
    columns.get_by_label("Input column").select_option("review")
    columns.get_by_label("ID column").select_option("customer")
    columns.get_by_label("stars").check()
    page.get_by_test_id("run-job").click()
    refusal = page.locator("#id_setting_id_column-error")
    expect(refusal).to_contain_text(
        "The ID column 'customer' repeats 'cust 0' (reviews.csv row 2 and reviews.csv row 5)"
    )
    # What was chosen is kept.
    expect(page.get_by_test_id("table-columns").get_by_label("stars")).to_be_checked()

    page.get_by_test_id("table-columns").get_by_label("ID column").select_option("order")
    page.get_by_test_id("run-job").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+/$"))
    job = Job.objects.get(project=project, name="joined run")
    assert wait_for_job(job.pk).status == JobStatus.COMPLETED

    page.reload()
    joined = page.get_by_test_id("joined-preview")
    expect(joined.locator("th")).to_have_text(
        ["index", "order", "stars", "label", "score", "error"]
    )
    expect(joined.locator("tbody tr").first).to_contain_text("A-100")
    expect(joined.locator("tbody tr").first).to_contain_text("negative")
    link = page.get_by_test_id("download-joined")
    expect(link).to_contain_text("results_joined.jsonl")
    with page.expect_download() as download:
        link.click()
    lines = download.value.path().read_text(encoding="utf-8").splitlines()
    assert len(lines) == 12 and '"order":"A-111"' in lines[-1]
