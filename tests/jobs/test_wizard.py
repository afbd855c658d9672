"""The create-job wizard on the server: each refusal next to its field, with and without
HTMX, the dependent dropdowns re-rendered from the posted values, the live checks, the
hub windows and the outsider's 404."""

from __future__ import annotations

import os
import re

import pytest
from django.test import Client

from apps.catalog.models import Dataset, MLApp, MLModel, SourceType, Visibility
from apps.core.storage import storage_root
from apps.jobs.models import Job
from tests.conftest import wait_for_job
from tests.factories import make_project

HX = {"HX-Request": "true"}


@pytest.fixture
def project(owner, catalog, redis_server):
    # A created job is queued on commit (catalog uses transactional_db): Redis must be up.
    return make_project(owner, "Wizard")


@pytest.fixture
def sentiment(catalog):
    return MLApp.objects.get(key="sentiment-analysis")


@pytest.fixture
def ner(catalog):
    return MLApp.objects.get(key="named-entity-recognition")


@pytest.fixture
def vader(catalog):
    return MLModel.objects.get(name="vader-sentiment")


@pytest.fixture
def finance(catalog):
    return Dataset.objects.get(name="finance_sentiment")


@pytest.fixture
def form_data(sentiment, vader, finance):
    return {
        "name": "first",
        "ml_app": sentiment.pk,
        "model": vader.pk,
        "dataset": finance.pk,
        "dataset_path": "test.txt",
    }


def _model(name, app, owner, visibility=Visibility.PRIVATE):
    return MLModel.objects.create(
        name=name,
        ml_app=app,
        owner=owner,
        visibility=visibility,
        organization=owner.membership.organization,
        source_type=SourceType.HUGGINGFACE,
        source=f"models/{name}",
    )


def _dataset(name, app, owner, visibility=Visibility.PRIVATE, files=None):
    dataset = Dataset.objects.create(
        name=name,
        owner=owner,
        visibility=visibility,
        folder=f"datasets/t-{name}",
        organization=owner.membership.organization,
        default_path="data.txt",
    )
    dataset.ml_apps.set([app])
    folder = storage_root() / dataset.folder
    folder.mkdir(parents=True, exist_ok=True)
    for rel, text in (files or {"data.txt": "one\ntwo\nthree\n"}).items():
        (folder / rel).write_text(text)
    return dataset


def _url(project, suffix=""):
    return f"/projects/{project.pk}/jobs/new/{suffix}"


def _post(client, project, data, htmx=False, **headers):
    return client.post(_url(project), data, headers={**(HX if htmx else {}), **headers})


def _refresh(client, project, data, trigger):
    return client.post(
        _url(project), {**data, "_action": "refresh"}, headers={**HX, "HX-Trigger-Name": trigger}
    )


def _options(html, select_id):
    """{optgroup label or '': [(value, text, selected)]} of one <select>."""
    block = re.search(rf'<select[^>]*id="{select_id}"[^>]*>(.*?)</select>', html, re.S).group(1)
    groups: dict[str, list[tuple[str, str, bool]]] = {}
    current = ""
    for match in re.finditer(
        r'<optgroup label="([^"]*)">|</optgroup>|<option value="([^"]*)"'
        r"([^>]*)>([^<]*)</option>",
        block,
    ):
        if match.group(1) is not None:
            current = match.group(1)
        elif match.group(0) == "</optgroup>":
            current = ""
        else:
            groups.setdefault(current, []).append(
                (match.group(2), match.group(4), " selected" in match.group(3))
            )
    return groups


def _selected(html, select_id):
    return [v for opts in _options(html, select_id).values() for v, _, sel in opts if sel]


# --- step 1: Create a new job → Batch Inference ----------------------------------------


def test_new_job_window_offers_batch_inference_before_the_form(owner_client, project):
    page = owner_client.get(_url(project)).content.decode()
    assert "Create a new job" in page and "Batch Inference" in page
    assert f'href="{_url(project)}?type=batch_predict"' in page
    assert 'data-testid="job-form"' not in page


def test_choosing_batch_inference_shows_the_form_with_every_field(owner_client, project):
    page = owner_client.get(_url(project) + "?type=batch_predict").content.decode()
    for label in (
        "Job Name",
        "ML App",
        "Select model",
        "Select dataset",
        "Relative dataset folder/file path",
        "Inference settings",
        "Run job",
    ):
        assert label in page, label
    # Every control has a label pointing at it (keyboard and screen-reader use).
    for control in ("id_name", "id_ml_app", "id_model", "id_dataset", "id_dataset_path"):
        assert f'<label for="{control}">' in page


def test_choosing_batch_inference_with_htmx_returns_only_the_wizard(owner_client, project):
    response = owner_client.get(_url(project) + "?type=batch_predict", headers=HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and body.lstrip().startswith('<div id="wizard">')
    assert "autofocus" in re.search(r'<input[^>]*id="id_name"[^>]*>', body).group(0)


# --- steps 3–5: dependent dropdowns -------------------------------------------------------


def test_model_dropdown_is_grouped_and_offers_the_hub(
    owner_client, owner, colleague, outsider, project, ner
):
    _model("my-ner", ner, owner)
    _model("team-ner", ner, colleague, Visibility.ORGANIZATION)
    _model("secret-ner", ner, outsider)
    page = owner_client.get(_url(project) + "?type=batch_predict").content.decode()
    groups = _options(page, "id_model")
    names = {g: [text for _, text, _ in opts] for g, opts in groups.items()}
    assert any("my-ner" in t for t in names["My models"])
    assert any("team-ner" in t for t in names["Organization models"])
    assert any("vader-sentiment" in t for t in names["Platform models"])
    assert "secret-ner" not in page
    assert ("hub", "Select from model hub…", False) in groups[""]


def test_choosing_an_ml_app_narrows_models_and_datasets(
    owner_client, owner, project, sentiment, ner
):
    _model("my-ner", ner, owner)
    _dataset("ner-data", ner, owner)
    body = _refresh(owner_client, project, {"ml_app": sentiment.pk}, "ml_app").content.decode()
    models = [t for opts in _options(body, "id_model").values() for _, t, _ in opts]
    datasets = [t for opts in _options(body, "id_dataset").values() for _, t, _ in opts]
    assert "vader-sentiment" in models and not any("my-ner" in t for t in models)
    assert "finance_sentiment" in datasets and "ner-data" not in datasets
    assert "<html" not in body  # a partial: the form only


def test_choosing_an_ml_app_picks_its_default_model(owner_client, project, sentiment, vader):
    body = _refresh(owner_client, project, {"ml_app": sentiment.pk}, "ml_app").content.decode()
    default = MLModel.objects.get(name="vader-finance", visibility=Visibility.PLATFORM)
    assert _selected(body, "id_model") == [str(default.pk)]
    # A model the user already picked for this ML App stays.
    data = {"ml_app": sentiment.pk, "model": vader.pk}
    body = _refresh(owner_client, project, data, "ml_app").content.decode()
    assert _selected(body, "id_model") == [str(vader.pk)]


def test_clearing_the_ml_app_shows_every_model(owner_client, owner, project, ner):
    _model("my-ner", ner, owner)
    body = _refresh(owner_client, project, {"ml_app": ""}, "ml_app").content.decode()
    models = [t for opts in _options(body, "id_model").values() for _, t, _ in opts]
    assert "my-ner (Named Entity Recognition)" in models
    assert "vader-sentiment (Sentiment Analysis)" in models


def test_picking_a_model_with_the_ml_app_cleared_fills_the_ml_app(
    owner_client, project, vader, sentiment
):
    body = _refresh(owner_client, project, {"ml_app": "", "model": vader.pk}, "model")
    html = body.content.decode()
    assert _selected(html, "id_ml_app") == [str(sentiment.pk)]
    assert _selected(html, "id_model") == [str(vader.pk)]
    # The settings pane now holds the ML App's schema with its defaults.
    assert re.search(r'name="setting_batch_size" value="32"', html)


def test_choosing_another_ml_app_drops_a_model_that_does_not_serve_it(
    owner_client, project, vader, finance, ner
):
    data = {"ml_app": ner.pk, "model": vader.pk, "dataset": finance.pk}
    html = _refresh(owner_client, project, data, "ml_app").content.decode()
    assert _selected(html, "id_ml_app") == [str(ner.pk)]
    # The NER default takes the place of the sentiment model.
    default = MLModel.objects.get(name="spacy-en-core-web-md", visibility=Visibility.PLATFORM)
    assert _selected(html, "id_model") == [str(default.pk)]
    assert _selected(html, "id_dataset") == [""]


def test_choosing_a_dataset_fills_an_empty_path_with_its_default(
    owner_client, owner, project, sentiment
):
    dataset = _dataset("reviews", sentiment, owner)
    data = {"ml_app": sentiment.pk, "dataset": dataset.pk, "dataset_path": ""}
    html = _refresh(owner_client, project, data, "dataset").content.decode()
    assert 'name="dataset_path" value="data.txt"' in html
    assert "3 samples" in html  # the path check and the preflight ran on it


def test_without_javascript_update_choices_refreshes_the_full_page(
    owner_client, project, vader, sentiment
):
    response = _post(owner_client, project, {"_action": "refresh", "model": vader.pk})
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert _selected(html, "id_ml_app") == [str(sentiment.pk)]
    assert not Job.objects.exists()


# --- hub windows --------------------------------------------------------------------------


def test_model_hub_window_lists_models_with_details_and_use_model(owner_client, owner, ner):
    _model("my-ner", ner, owner)
    body = owner_client.get("/hub/models/?pick=1", headers=HX).content.decode()
    assert "<html" not in body
    assert "my-ner" in body and "vader-sentiment" in body
    for box in ("hub_mine", "hub_platform", "hub_organization"):  # the group checkboxes
        assert re.search(rf'<input type="checkbox" name="{box}"[^>]*checked', body), box
    assert 'data-testid="use-model"' in body and 'type="radio" name="use_model"' in body


def test_model_hub_filters_by_group_and_ml_app(owner_client, owner, colleague, ner, sentiment):
    _model("my-ner", ner, owner)
    _model("team-ner", ner, colleague, Visibility.ORGANIZATION)
    only_mine = owner_client.get(
        "/hub/models/", {"hub_filtered": "1", "hub_mine": "on"}, headers=HX
    ).content.decode()
    assert "my-ner" in only_mine and "team-ner" not in only_mine
    assert "vader-sentiment" not in only_mine
    only_org = owner_client.get(
        "/hub/models/", {"hub_filtered": "1", "hub_organization": "on"}, headers=HX
    ).content.decode()
    assert "team-ner" in only_org and "my-ner" not in only_org
    sentiment_only = owner_client.get(
        "/hub/models/", {"hub_ml_app": sentiment.pk}, headers=HX
    ).content.decode()
    assert "vader-sentiment" in sentiment_only and "my-ner" not in sentiment_only


def test_dataset_hub_filters_and_offers_use_dataset(owner_client, owner, sentiment, ner):
    _dataset("reviews", sentiment, owner)
    _dataset("ner-data", ner, owner)
    body = owner_client.get(
        "/hub/datasets/", {"pick": "1", "hub_ml_app": sentiment.pk}, headers=HX
    ).content.decode()
    assert "reviews" in body and "finance_sentiment" in body and "ner-data" not in body
    assert 'data-testid="use-dataset"' in body
    mine = owner_client.get(
        "/hub/datasets/", {"hub_filtered": "1", "hub_mine": "on"}, headers=HX
    ).content.decode()
    assert "reviews" in mine and "finance_sentiment" not in mine


def test_hub_pages_render_without_htmx(owner_client, catalog):
    assert "<h1>Model Hub</h1>" in owner_client.get("/hub/models/").content.decode()
    assert "<h1>Dataset Hub</h1>" in owner_client.get("/hub/datasets/").content.decode()


def test_outsider_hub_never_lists_another_users_private_model(outsider_client, owner, ner):
    _model("my-ner", ner, owner)
    assert "my-ner" not in outsider_client.get("/hub/models/").content.decode()


def test_without_javascript_select_from_model_hub_shows_the_hub_in_the_form(
    owner_client, project, vader, sentiment
):
    response = _post(owner_client, project, {"name": "n", "ml_app": "", "model": "hub"})
    html = response.content.decode()
    assert response.status_code == 200 and not Job.objects.exists()
    assert 'data-testid="model-hub"' in html and '<fieldset class="hub-filters">' in html
    # "Use model" is a submit button of the wizard's own form.
    picked = _post(
        owner_client,
        project,
        {"name": "n", "model": "hub", "use_model": vader.pk, "_action": "refresh"},
    ).content.decode()
    assert _selected(picked, "id_model") == [str(vader.pk)]
    assert _selected(picked, "id_ml_app") == [str(sentiment.pk)]
    assert 'data-testid="model-hub"' not in picked


# --- steps 2 and 6: live checks --------------------------------------------------------


def test_name_check_says_free_or_taken(owner_client, owner, project, form_data):
    url = _url(project, "check-name/")
    assert "is free in this project" in owner_client.get(url, {"name": "first"}).content.decode()
    _post(owner_client, project, form_data)
    taken = owner_client.get(url, {"name": "first"}).content.decode()
    assert "already exists in this project" in taken and "check-bad" in taken


@pytest.mark.parametrize(
    "name,says",
    [
        ("evil\u202etxt.exe", "may not contain control characters or invisible formatting"),
        ("x" * 101, "The job name is longer than 100 characters."),
    ],
    ids=["bidi", "too-long"],
)
def test_name_check_refuses_what_run_job_would_refuse(owner_client, project, name, says):
    body = owner_client.get(_url(project, "check-name/"), {"name": name}).content.decode()
    assert says in body and "check-bad" in body
    assert "is free" not in body and "\u202e" not in body.replace("\\u202e", "")


def test_path_check_counts_samples_and_updates_the_preflight(owner_client, project, form_data):
    body = owner_client.get(_url(project, "check-path/"), form_data).content.decode()
    assert "exists in finance_sentiment: 40 samples" in body
    assert 'hx-swap-oob="true"' in body
    assert "test_results_finance_sentiment.txt" in body


@pytest.mark.parametrize(
    "path,message",
    [
        ("../../etc/passwd", "may not contain '..'"),
        ("/etc/passwd", "not an absolute path"),
        ("missing.txt", "does not exist"),
        ("escape", "outside its folder"),
    ],
)
def test_path_check_refuses_bad_paths(owner_client, project, form_data, finance, path, message):
    link = storage_root() / finance.folder / "escape"
    if not link.is_symlink():
        os.symlink("/etc", link)
    body = owner_client.get(
        _url(project, "check-path/"), {**form_data, "dataset_path": path}
    ).content.decode()
    assert "check-bad" in body and message in body.replace("&#x27;", "'")


# --- steps 7–9: settings, preflight, Run job and the refusals ------------------------------


def test_settings_pane_is_collapsed_and_filled_with_defaults(owner_client, project, form_data):
    html = _refresh(owner_client, project, form_data, "ml_app").content.decode()
    assert '<details class="settings-pane" id="settings-pane">' in html
    assert 'name="setting_batch_size" value="32"' in html
    assert re.search(r'<option value="cpu" selected>CPU</option>', html)


def test_preflight_shows_sample_count_and_results_file(owner_client, project, form_data):
    html = _refresh(owner_client, project, form_data, "dataset").content.decode()
    preflight = re.search(r'<section id="preflight".*?</section>', html, re.S).group(0)
    assert "40 samples in finance_sentiment/test.txt" in preflight
    assert "test_results_finance_sentiment.txt" in preflight


@pytest.mark.worker
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_valid_form_queues_the_job_and_lands_on_its_window(
    owner_client, project, form_data, htmx, live_worker
):
    data = {**form_data, "setting_batch_size": "8", "priority": "2" if htmx else ""}
    response = _post(owner_client, project, data, htmx)
    job = Job.objects.get()
    # A choice of priority is kept; a form posted without one means normal.
    assert job.get_priority_display() == ("High" if htmx else "Normal")
    if htmx:
        assert response.status_code == 200 and response["HX-Redirect"] == f"/jobs/{job.pk}/"
    else:
        assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    # Queued for real: the session's worker picks it up and runs it to the end (asserting
    # QUEUED here would race with that worker).
    finished = wait_for_job(job.pk)
    assert finished.status == "COMPLETED", finished.error_message
    assert finished.done_samples == finished.total_samples == 40
    assert job.settings["batch_size"] == 8
    assert job.settings["max_samples"] == 0  # defaults from the ML App's schema
    assert job.results_filename == "test_results_finance_sentiment.txt"


def test_model_without_ml_app_fills_it_on_submit(owner_client, project, form_data, sentiment):
    response = _post(owner_client, project, {**form_data, "ml_app": ""})
    assert response.status_code == 302
    assert Job.objects.get().ml_app == sentiment


def _refusal_cases():
    return [
        ("missing name", {"name": ""}, "id_name", "This field is required"),
        (
            "model of another ML App",
            {"ml_app": "NER"},
            "id_model",
            "is for Sentiment Analysis, not Named Entity Recognition",
        ),
        (
            "dataset of another ML App",
            {"ml_app": "NER"},
            "id_dataset",
            "does not serve Named Entity Recognition",
        ),
        (
            "another user's private model",
            {"model": "SECRET_MODEL"},
            "id_model",
            "Choose a model you may use",
        ),
        (
            "another user's private dataset",
            {"dataset": "SECRET_DATASET"},
            "id_dataset",
            "Choose a dataset you may use",
        ),
        ("no model", {"model": ""}, "id_model", "Choose a model you may use"),
        (
            "dotdot path",
            {"dataset_path": "../../etc/passwd"},
            "id_dataset_path",
            "may not contain '..'",
        ),
        (
            "absolute path",
            {"dataset_path": "/etc/passwd"},
            "id_dataset_path",
            "not an absolute path",
        ),
        ("missing path", {"dataset_path": "missing.txt"}, "id_dataset_path", "does not exist"),
        (
            "batch size too big",
            {"setting_batch_size": "5000"},
            "id_setting_batch_size",
            "Must be at most 1024",
        ),
        (
            "batch size not a number",
            {"setting_batch_size": "many"},
            "id_setting_batch_size",
            "Enter a whole number",
        ),
        ("bad device", {"setting_device": "tpu"}, "id_setting_device", "Select a valid choice"),
        (
            "bad threshold",
            {"setting_error_threshold": "lots"},
            "id_setting_error_threshold",
            "give a count",
        ),
    ]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("case", _refusal_cases(), ids=lambda c: c[0])
def test_each_refusal_is_next_to_its_field_and_nothing_is_queued(
    owner_client, outsider, project, form_data, ner, case, htmx
):
    _, changes, field_id, message = case
    secret_model = _model("secret", ner, outsider)
    secret_dataset = _dataset("secret-data", ner, outsider)
    replace = {"NER": ner.pk, "SECRET_MODEL": secret_model.pk, "SECRET_DATASET": secret_dataset.pk}
    data = {**form_data, **{k: replace.get(v, v) for k, v in changes.items()}}
    response = _post(owner_client, project, data, htmx)
    html = response.content.decode().replace("&#x27;", "'")
    assert response.status_code == 400
    assert ("<html" in html) is (not htmx)  # HTMX gets the form partial only
    error = re.search(rf'<p class="error" id="{field_id}-error" role="alert">([^<]*)</p>', html)
    assert error and message in error.group(1), html[:3000]
    assert not Job.objects.exists()


def test_setting_error_opens_the_settings_pane(owner_client, project, form_data):
    html = _post(owner_client, project, {**form_data, "setting_batch_size": "0"}).content.decode()
    assert '<details class="settings-pane" id="settings-pane" open>' in html


def test_duplicate_job_name_is_refused_next_to_the_name(owner_client, project, form_data):
    assert _post(owner_client, project, form_data).status_code == 302
    for htmx in (False, True):
        response = _post(owner_client, project, form_data, htmx)
        assert response.status_code == 400
        assert 'id="id_name-error"' in response.content.decode()
    assert Job.objects.count() == 1


def test_a_refused_form_keeps_what_was_typed(owner_client, project, form_data):
    html = _post(
        owner_client, project, {**form_data, "dataset_path": "nope.txt", "setting_batch_size": "7"}
    ).content.decode()
    assert 'name="name" value="first"' in html
    assert 'name="setting_batch_size" value="7"' in html
    assert _selected(html, "id_model") == [str(form_data["model"])]


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,suffix,htmx",
    [
        ("get", "", False),
        ("get", "?type=batch_predict", True),
        ("post", "", False),
        ("post", "", True),
        ("get", "check-name/?name=x", True),
        ("get", "check-path/?dataset_path=x", True),
    ],
)
def test_outsider_gets_404_on_every_wizard_view(
    outsider_client, project, form_data, method, suffix, htmx
):
    kwargs = {"headers": HX} if htmx else {}
    args = (form_data,) if method == "post" else ()
    response = getattr(outsider_client, method)(_url(project, suffix), *args, **kwargs)
    assert response.status_code == 404
    assert not Job.objects.exists()


def test_run_job_without_csrf_token_is_refused(owner, project, form_data):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(_url(project), form_data).status_code == 403
    assert not Job.objects.exists()
