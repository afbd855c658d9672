"""Issue 5 in a real browser: every numbered step of the create-job wizard, the hub windows,
the ML-App auto-fill, the live path check, a refused submission, the keyboard and the
page with JavaScript disabled."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.catalog.models import Dataset, MLApp, MLModel, SourceType, Visibility
from apps.jobs.models import Job
from tests.browser.conftest import login, shot, with_timeouts
from tests.factories import make_project

pytestmark = [pytest.mark.browser, pytest.mark.worker]


def _option_texts(page, select_id):
    return page.locator(f"#{select_id} option").all_inner_texts()


@pytest.fixture
def extra_catalog(owner, colleague, live_worker):
    """A model and a dataset of another ML App, so narrowing has something to hide."""
    ner = MLApp.objects.get(key="named-entity-recognition")
    org = owner.membership.organization
    MLModel.objects.create(
        name="my-ner",
        ml_app=ner,
        owner=owner,
        organization=org,
        visibility=Visibility.PRIVATE,
        source_type=SourceType.HUGGINGFACE,
        source="models/my-ner",
    )
    MLModel.objects.create(
        name="team-ner",
        ml_app=ner,
        owner=colleague,
        organization=org,
        visibility=Visibility.ORGANIZATION,
        source_type=SourceType.HUGGINGFACE,
        source="models/team-ner",
    )
    dataset = Dataset.objects.create(
        name="my-ner-data",
        owner=owner,
        organization=org,
        visibility=Visibility.PRIVATE,
        folder="datasets/my-ner",
    )
    dataset.ml_apps.set([ner])


def test_wizard_walks_every_step_of_the_reference(
    live_worker, extra_catalog, logged_in_page, live_server, owner
):
    page = logged_in_page
    project = make_project(owner, "Wizard walk")
    Job.objects.create(
        project=project,
        owner=owner,
        name="taken",
        status="COMPLETED",
        ml_app=MLApp.objects.get(key="sentiment-analysis"),
        model_name="vader-sentiment",
        dataset_name="finance_sentiment",
        results_filename="r.txt",
    )

    # 1. From a project window, New Job opens "Create a new job"; choose Batch Inference.
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.get_by_role("link", name="New Job").click()
    expect(page.get_by_role("heading", name="Create a new job")).to_be_visible()
    expect(page.get_by_test_id("job-form")).to_have_count(0)
    page.get_by_role("link", name=re.compile("Batch Inference")).click()
    expect(page.get_by_role("heading", name="Batch Inference")).to_be_visible()
    expect(page.get_by_label("Job Name")).to_be_focused()
    assert page.url.endswith("?type=batch_predict")

    form = page.get_by_test_id("job-form")

    # 2. Job Name, checked as you type.
    page.get_by_label("Job Name").fill("taken")
    expect(page.get_by_test_id("name-check")).to_contain_text("already exists in this project")
    page.get_by_label("Job Name").fill("walk run")
    expect(page.get_by_test_id("name-check")).to_contain_text("'walk run' is free")

    # 3. The ML App narrows the model dropdown (My / Platform / Organization + hub).
    models = form.get_by_label("Select model")
    assert "my-ner (Named Entity Recognition)" in _option_texts(page, "id_model")
    form.get_by_label("ML App").select_option(label="Sentiment Analysis")
    expect(page.locator("#id_model option", has_text="my-ner")).to_have_count(0)
    groups = page.locator("#id_model optgroup").evaluate_all("els => els.map(e => e.label)")
    assert groups == ["My models", "Platform models", "Organization models"]
    expect(page.locator("#id_model optgroup[label='Platform models'] option")).to_contain_text(
        ["vader-sentiment"]
    )
    shot(page, "wizard-ml-app-chosen")

    # ... and "Select from model hub" opens the Model Hub window.
    models.select_option(value="hub")
    hub = page.locator("#model-hub-dialog")
    expect(hub).to_be_visible()
    expect(hub.get_by_test_id("hub-list")).to_contain_text("vader-sentiment")
    expect(hub.get_by_label("ML App")).to_have_value(
        str(MLApp.objects.get(key="sentiment-analysis").pk)
    )
    hub.get_by_label("ML App").select_option(label="All ML Apps")
    expect(hub.get_by_test_id("hub-list")).to_contain_text("my-ner")
    expect(hub.get_by_test_id("hub-list")).to_contain_text("team-ner")
    hub.get_by_label("Platform").uncheck()
    expect(hub.get_by_test_id("hub-list")).not_to_contain_text("vader-sentiment")
    hub.get_by_label("Organization").uncheck()
    expect(hub.get_by_test_id("hub-list")).not_to_contain_text("team-ner")
    expect(hub.get_by_test_id("hub-list")).to_contain_text("my-ner")
    hub.get_by_label("Platform").check()
    shot(page, "wizard-model-hub", full_page=False)
    hub.get_by_label("vader-sentiment").check()
    hub.get_by_role("button", name="Use model").click()
    expect(hub).to_be_hidden()
    expect(models.locator("option:checked")).to_have_text("vader-sentiment")

    # 4. Clearing the ML App shows every model; picking one fills the ML App.
    form.get_by_label("ML App").select_option(label="Clear")
    expect(page.locator("#id_model option", has_text="my-ner")).to_have_count(1)
    models.select_option(label="my-ner (Named Entity Recognition)")
    expect(page.locator("#id_ml_app option:checked")).to_have_text("Named Entity Recognition")
    form.get_by_label("ML App").select_option(label="Clear")
    models.select_option(label="vader-sentiment (Sentiment Analysis)")
    expect(page.locator("#id_ml_app option:checked")).to_have_text("Sentiment Analysis")

    # 5. Only datasets of the chosen ML App; the Dataset Hub window and "Use dataset".
    expect(page.locator("#id_dataset option", has_text="my-ner-data")).to_have_count(0)
    form.get_by_label("Select dataset").select_option(value="hub")
    dhub = page.locator("#dataset-hub-dialog")
    expect(dhub.get_by_test_id("hub-list")).to_contain_text("finance_sentiment")
    dhub.get_by_label("Platform").uncheck()
    expect(dhub.get_by_test_id("hub-empty")).to_be_visible()
    dhub.get_by_label("Platform").check()
    # The list comes back over HTMX; a click before it lands is undone by the swap.
    expect(dhub.get_by_test_id("hub-list")).to_contain_text("finance_sentiment")
    dhub.get_by_role("button", name="Use dataset").click()
    expect(dhub.get_by_text("Choose a dataset in the list first.")).to_be_visible()
    dhub.get_by_label("finance_sentiment").check()
    dhub.get_by_role("button", name="Use dataset").click()
    expect(dhub).to_be_hidden()
    expect(page.locator("#id_dataset option:checked")).to_have_text("finance_sentiment")
    path = page.get_by_label("Relative dataset folder/file path")
    expect(path).to_have_value("test.txt")  # the dataset's default path

    # 6. The path is checked as you type.
    check = page.get_by_test_id("path-check")
    expect(check).to_contain_text("40 samples")
    path.fill("../secrets")
    expect(check).to_contain_text("may not contain '..'")
    path.fill("/etc/passwd")
    expect(check).to_contain_text("not an absolute path")
    path.fill("nothing-here.txt")
    expect(check).to_contain_text("does not exist")
    path.fill("test.txt")
    expect(check).to_contain_text("'test.txt' exists in finance_sentiment: 40 samples")

    # 7. Inference settings: collapsed, opened by the blue double arrow, defaults filled in.
    batch = page.get_by_label("Batch size")
    expect(batch).to_be_hidden()
    page.get_by_test_id("settings-toggle").click()
    expect(batch).to_be_visible()
    expect(batch).to_have_value("32")
    expect(page.get_by_label("Device")).to_have_value("cpu")
    batch.fill("5000")

    # 8. The preflight summary: sample count and results file name.
    preflight = page.get_by_test_id("preflight")
    expect(preflight.get_by_test_id("preflight-count")).to_have_text(
        "40 samples in finance_sentiment/test.txt"
    )
    expect(preflight.get_by_test_id("preflight-results")).to_have_text(
        "test_results_finance_sentiment.txt"
    )
    shot(page, "wizard-filled")

    # 9. A refused submission: the message sits next to the field and nothing is queued.
    page.get_by_role("button", name="Run job").click()
    expect(page.locator("#id_setting_batch_size-error")).to_have_text("Must be at most 1024.")
    expect(page.get_by_label("Batch size")).to_be_visible()  # the pane stays open
    shot(page, "wizard-refused")
    assert not Job.objects.filter(name="walk run").exists()

    # Run job → the job window, where the job completes.
    page.get_by_label("Batch size").fill("16")
    page.get_by_role("button", name="Run job").click()
    expect(page.get_by_role("heading", name="walk run")).to_be_visible()
    expect(page.get_by_test_id("job-status").first).to_have_text("Completed", timeout=240_000)
    job = Job.objects.get(project=project, name="walk run")
    assert job.settings["batch_size"] == 16
    expect(page.get_by_test_id("results-path")).to_have_text(
        re.compile(rf"/results/{job.pk}/test_results_finance_sentiment\.txt$")
    )


def test_wizard_works_from_the_keyboard(live_worker, logged_in_page, live_server, owner):
    project = make_project(owner, "Keys")
    page = logged_in_page
    page.goto(f"{live_server.url}/projects/{project.pk}/jobs/new/?type=batch_predict")
    page.get_by_test_id("job-form").get_by_label("ML App").select_option(label="Sentiment Analysis")
    expect(page.get_by_test_id("settings-toggle")).to_contain_text("defaults filled in")
    page.get_by_label("Job Name").focus()
    page.keyboard.type("keyboard run")
    order = []
    for _ in range(7):
        page.keyboard.press("Tab")
        order.append(
            page.evaluate("document.activeElement.id || document.activeElement.dataset.testid")
        )
    assert order == [
        "id_ml_app",
        "id_model",
        "id_dataset",
        "id_dataset_path",
        "id_priority",
        "settings-toggle",
        "run-job",
    ]
    # The settings pane opens with Enter on its double-arrow control.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_label("Batch size")).to_be_visible()


def test_wizard_falls_back_to_a_full_form_post_without_javascript(
    live_worker, browser, live_server, owner
):
    project = make_project(owner, "No JS")
    context = with_timeouts(browser.new_context(java_script_enabled=False))
    page = context.new_page()
    login(page, live_server, owner)
    page.goto(f"{live_server.url}/projects/{project.pk}/jobs/new/")
    page.get_by_role("link", name=re.compile("Batch Inference")).click()
    form = page.get_by_test_id("job-form")
    page.get_by_label("Job Name").fill("plain run")
    # "Select from model hub" without JavaScript: the hub appears inside the form.
    form.get_by_label("Select model").select_option(value="hub")
    page.get_by_role("button", name="Update choices").click()
    expect(page.get_by_test_id("model-hub")).to_be_visible()
    page.get_by_label("vader-sentiment").check()
    page.get_by_role("button", name="Use model").click()
    expect(page.locator("#id_ml_app option:checked")).to_have_text("Sentiment Analysis")
    expect(page.get_by_label("Job Name")).to_have_value("plain run")
    form.get_by_label("Select dataset").select_option(label="finance_sentiment")
    page.get_by_label("Relative dataset folder/file path").fill("../x")
    page.get_by_role("button", name="Run job").click()
    expect(page.locator("#id_dataset_path-error")).to_contain_text("may not contain '..'")
    page.get_by_label("Relative dataset folder/file path").fill("test.txt")
    page.get_by_role("button", name="Run job").click()
    expect(page.get_by_role("heading", name="plain run")).to_be_visible()
    assert Job.objects.filter(project=project, name="plain run").exists()
    context.close()
