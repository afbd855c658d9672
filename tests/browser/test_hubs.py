"""Issue 8 in a browser: add a dataset on the Dataset Hub page, then find it in the wizard."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.factories import make_project

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def test_added_dataset_shows_in_the_wizard(
    live_worker, logged_in_page, live_server, owner, tmp_path
):
    page = logged_in_page
    data = tmp_path / "tweets.txt"
    data.write_text("What a lovely morning\nThis is the worst service ever\nJust fine\n")

    page.get_by_role("link", name="Dataset Hub").click()
    page.get_by_test_id("add-dataset").click()
    page.get_by_label("Name", exact=True).fill("tweets")
    page.get_by_label("Sentiment Analysis").check()
    page.get_by_label("Upload files or an archive").set_input_files(str(data))
    page.get_by_label("Default path inside the dataset").fill("tweets.txt")
    page.get_by_role("button", name="Add dataset").click()

    expect(page.get_by_role("heading", name="tweets")).to_be_visible()
    expect(page.get_by_test_id("sample-count")).to_have_text("3")
    expect(page.get_by_test_id("preview")).to_contain_text("This is the worst service ever")

    project = make_project(owner, "Hub project")
    page.goto(f"{live_server.url}/projects/{project.pk}/jobs/new/?type=batch_predict")
    form = page.get_by_test_id("job-form")
    form.get_by_label("ML App").select_option(label="Sentiment Analysis")
    group = page.locator("#id_dataset optgroup[label='My datasets'] option")
    expect(group).to_contain_text([re.compile("tweets")])
