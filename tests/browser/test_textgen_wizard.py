"""Text Generation in a real browser: the wizard's settings pane (stop sequences typed as
`a|b` with `\\n` escapes), the model speed line before and after a job, the answers."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from apps.core.storage import storage_root
from apps.jobs.models import Job, JobStatus
from tests.conftest import wait_for_job
from tests.factories import make_project

pytestmark = [pytest.mark.browser, pytest.mark.worker]

LLM = "qwen2.5-coder-1.5b-instruct"


def test_settings_pane_and_speed_line_of_text_generation(
    live_worker, logged_in_page, live_server, owner
):
    page = logged_in_page
    project = make_project(owner, "Prompts")
    page.goto(f"{live_server.url}/projects/{project.pk}/jobs/new/?type=batch_predict")
    form = page.get_by_test_id("job-form")
    page.get_by_label("Job Name").fill("two answers")
    form.get_by_label("ML App").select_option(label="Text Generation")
    form.get_by_label("Select model").select_option(label=LLM)
    speed = page.locator("#id_model_helptext")
    expect(speed).to_contain_text(f"{LLM} not yet measured")
    form.get_by_label("Select dataset").select_option(label="instructions")
    # The dataset's refresh has landed (its default path is checked) before the pane opens.
    expect(page.get_by_test_id("path-check")).to_contain_text("samples")

    page.get_by_test_id("settings-toggle").click()
    expect(page.get_by_label("Stop sequences")).to_be_visible()
    page.get_by_label("Stop sequences").fill("\\n\\n|###")
    page.get_by_label("Max new tokens").fill("12")
    page.get_by_label("Maximum samples").fill("2")
    page.get_by_label("Stop sequences").press("Tab")
    page.get_by_test_id("run-job").click()
    expect(page).to_have_url(re.compile(r"/jobs/\d+/$"))

    job = Job.objects.get(project=project, name="two answers")
    assert job.settings["stop"] == ["\n\n", "###"]
    assert job.settings["max_new_tokens"] == 12
    job = wait_for_job(job.pk)
    assert job.status == JobStatus.COMPLETED, job.error_message
    lines = (storage_root() / job.results_relpath).read_text(encoding="utf-8").splitlines()
    answers = [json.loads(line) for line in lines]
    assert [a["index"] for a in answers] == [0, 1]
    assert all(a["completion_tokens"] <= 12 and a["generation"] for a in answers)
    assert all("###" not in a["generation"] for a in answers)

    # The speed line now shows what this job measured.
    page.goto(f"{live_server.url}/projects/{project.pk}/jobs/new/?type=batch_predict")
    page.get_by_test_id("job-form").get_by_label("ML App").select_option(label="Text Generation")
    expect(page.locator("#id_model_helptext")).to_contain_text(re.compile(rf"{LLM} [\d.,]+/s"))

    # A setting out of range is refused next to its field, and what was typed stays.
    page.get_by_label("Job Name").fill("bad settings")
    form = page.get_by_test_id("job-form")
    form.get_by_label("Select model").select_option(label=LLM)
    form.get_by_label("Select dataset").select_option(label="instructions")
    expect(page.get_by_test_id("path-check")).to_contain_text("samples")
    page.get_by_test_id("settings-toggle").click()
    page.get_by_label("Top p").fill("5")
    page.get_by_test_id("run-job").click()
    expect(page.locator("#id_setting_top_p-error")).to_contain_text("Must be at most 1")
    expect(page.get_by_label("Top p")).to_have_value("5")
