"""A person downloads a job's results and uploads them to S3 from the job window."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.exports import conftest as exports
from tests.exports.conftest import results_file

# The exports tests' fixtures: a finished job and the SeaweedFS server.
finished_job = exports.finished_job
s3_server = exports.s3_server

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_download_and_upload_from_the_job_window(
    logged_in_page,
    live_server,
    finished_job,
    s3_server,
):
    page = logged_in_page
    page.goto(f"{live_server.url}/jobs/{finished_job.pk}/")
    panel = page.get_by_test_id("results-access")

    with page.expect_download() as download:
        panel.get_by_role("link", name="Download Results", exact=True).click()
    assert download.value.suggested_filename == "test_results_finance_sentiment.txt"
    assert Path(download.value.path()).read_bytes() == results_file(finished_job).read_bytes()

    bucket = s3_server.new_bucket()
    panel.get_by_role("button", name="Upload Results to AWS").click()
    dialog = page.locator("#export-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Bucket").fill("Not_A_Bucket")
    dialog.get_by_label("Folder").fill("from-browser")
    dialog.get_by_label("Access Key ID").fill(s3_server.access_key_id)
    dialog.get_by_label("Secret Access Key").fill(s3_server.secret_access_key)
    dialog.get_by_label("Region").fill("us-east-1")
    dialog.get_by_label("Endpoint URL (optional)").fill(s3_server.endpoint)
    dialog.get_by_role("button", name="Upload").click()
    # Refused by the form: the message shows in the dialog, which stays open.
    expect(dialog).to_contain_text("A bucket name has 3 to 63 lowercase letters")
    expect(dialog.get_by_label("Secret Access Key")).to_have_value("")  # never echoed back
    dialog.get_by_label("Bucket").fill(bucket)
    dialog.get_by_label("Secret Access Key").fill(s3_server.secret_access_key)
    dialog.get_by_role("button", name="Upload").click()

    expect(page.get_by_test_id("export-notice")).to_contain_text(f"s3://{bucket}/from-browser/")
    expect(page.locator("#export-dialog")).not_to_be_visible()
    row = page.get_by_test_id("export-row").first
    expect(row.get_by_test_id("export-status")).to_have_text("Completed", timeout=240_000)
    expect(row).to_contain_text("from-browser/test_results_finance_sentiment.txt")
    head = s3_server.client().head_object(
        Bucket=bucket, Key="from-browser/test_results_finance_sentiment.txt"
    )
    assert head["ContentLength"] == results_file(finished_job).stat().st_size
