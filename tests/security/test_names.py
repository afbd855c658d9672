"""Hostile names: HTML and script in job, project and dataset names show as text on every
page; a dataset name with slashes never becomes a folder of the results."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.utils.html import escape

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.catalog.models import Dataset, MLApp, MLModel
from apps.core.storage import storage_root
from apps.jobs.models import Job
from apps.projects.models import Project
from apps.projects.services import project_create
from tests.conftest import wait_for_job
from tests.runners.conftest import user_dataset

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
SVG = '"><svg onload=alert(2)>'
QUOTE = "x' onmouseover='alert(3)"


def _assert_inert(html: str, *payloads: str) -> None:
    """Each payload is in the page as escaped text and nowhere as markup."""
    for payload in payloads:
        assert payload not in html, payload
        assert escape(payload) in html, payload
    for live in ("<script>alert", "<img src=x", "<svg onload", "onmouseover='alert"):
        assert live not in html


@pytest.fixture
def hostile_jobs(owner_client, owner, catalog, redis_server):
    """A job named with a script (made in the wizard) and one named with an <img> tag (made
    through the API), in a project and on a dataset whose names carry markup too."""
    project = project_create(owner=owner, name=SVG)
    dataset = user_dataset(owner, "sentiment-analysis", {"data.txt": b"good\nbad\n"}, QUOTE)
    dataset.default_path = "data.txt"
    dataset.save(update_fields=["default_path"])
    wizard = owner_client.post(
        f"/projects/{project.pk}/jobs/new/",
        {
            "name": SCRIPT,
            "ml_app": MLApp.objects.get(key="sentiment-analysis").pk,
            "model": MLModel.objects.get(name="vader-sentiment").pk,
            "dataset": dataset.pk,
            "dataset_path": "data.txt",
        },
        follow=True,
    )
    token = api_token_create(user=owner, name="names")[1]
    api = Client(headers={"Authorization": f"Bearer {token}"})
    body = {
        "project": str(project.pk),
        "job": IMG,
        "model_checkpoint": "vader-sentiment",
        "dataset": str(dataset.pk),
    }
    created = api.post("/api/v1/jobs", body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["name"] == IMG  # JSON carries the name as it was given
    return project, Job.objects.get(name=SCRIPT), Job.objects.get(name=IMG), wizard


def test_names_render_as_text_on_the_job_window(hostile_jobs, owner_client):
    project, script_job, img_job, wizard = hostile_jobs
    # The landing page after Run job, with its "Job '…' queued." message.
    _assert_inert(wizard.content.decode(), SCRIPT, SVG, QUOTE)
    for job, name in ((script_job, SCRIPT), (img_job, IMG)):
        html = owner_client.get(f"/jobs/{job.pk}/").content.decode()
        _assert_inert(html, name, SVG, QUOTE)
        assert f"<title>{escape(name)}" in html


def test_names_render_as_text_on_the_dashboard_and_project_pages(hostile_jobs, owner_client):
    project, script_job, img_job, _ = hostile_jobs
    for url in ("/dashboard/", f"/projects/{project.pk}/", "/projects/"):
        html = owner_client.get(url).content.decode()
        _assert_inert(html, *((SVG,) if url == "/projects/" else (SCRIPT, IMG, SVG)))
    row = owner_client.get(f"/jobs/{img_job.pk}/row/", headers={"HX-Request": "true"})
    _assert_inert(row.content.decode(), IMG, SVG)
    check = owner_client.get(f"/projects/{project.pk}/jobs/new/check-name/", {"name": SCRIPT})
    _assert_inert(check.content.decode(), SCRIPT)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in check.content.decode()
    hub = owner_client.get("/hub/datasets/").content.decode()
    _assert_inert(hub, QUOTE)


@pytest.mark.worker
def test_a_dataset_name_with_slashes_stays_one_results_file_in_the_jobs_folder(
    live_worker, owner, files_watch
):
    from apps.jobs.services import job_create
    from tests.factories import make_project

    name = "../../../../escaped/x"
    dataset = user_dataset(owner, "sentiment-analysis", {"data.txt": b"good\nbad\n"}, name)
    job = job_create(
        user=owner,
        project=make_project(owner),
        name="slashes",
        ml_app=MLApp.objects.get(key="sentiment-analysis"),
        model=MLModel.objects.get(name="vader-sentiment"),
        dataset=dataset,
        dataset_path="data.txt",
    )
    assert job.results_filename == "test_results_.._.._.._.._escaped_x.txt"
    for other in ("a\\b", "nul\x00line\nbreak", "\U0001f642" * 150):
        file_name = job.ml_app.results_name_for(other)
        assert not set("/\\\x00\n") & set(file_name) and len(file_name.encode()) <= 255
    job = wait_for_job(job.pk)
    assert job.status == "COMPLETED", job.error_message
    folder = storage_root() / job.results_dir
    assert (folder / job.results_filename).read_text().splitlines()[0].startswith("0\t")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["dataset"]["name"] == name and summary["results_file"] == job.results_filename
    files_watch.assert_only_under(f"storage/{job.results_dir}/", f"storage/{dataset.folder}/")
    assert files_watch.new_in_tmp(["escaped", "x.txt"]) == set()


# --- names that would show as something else ---------------------------------------------

# Bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), other format
# characters (zero-width space, BOM), C1 controls and line/paragraph separators.
INVISIBLE = {
    "rlo": "\u202e",
    "lre": "\u202a",
    "pdf": "\u202c",
    "lri": "\u2066",
    "pdi": "\u2069",
    "zwsp": "\u200b",
    "bom": "\ufeff",
    "nel": "\x85",
    "line-sep": "\u2028",
    "para-sep": "\u2029",
}
SPOOF = "invoice\u202egnp.exe"  # shows as "invoiceexe.png"


def _no_raw(text: str) -> None:
    """No message echoes an invisible character raw."""
    leaked = [name for name, ch in INVISIBLE.items() if ch in text]
    assert not leaked, leaked


def _page_errors(html: str) -> str:
    """The refusals on a page (what it says, not the field that shows what was typed)."""
    errors = re.findall(r'<p class="error"[^>]*role="alert">([^<]*)</p>', html)
    assert errors, html[:3000]
    return "\n".join(errors)


def _spoofed(ch: str) -> str:
    return f"report{ch}fdp.exe"


@pytest.fixture
def api(owner):
    return Client(headers={"Authorization": f"Bearer {api_token_create(user=owner, name='n')[1]}"})


@pytest.mark.parametrize("ch", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_api_refuses_invisible_characters_in_job_and_project_names(api, project, ch):
    body = {
        "project": project.name,
        "job": _spoofed(ch),
        "model_checkpoint": "vader-sentiment",
        "dataset": "finance_sentiment",
    }
    job = api.post("/api/v1/jobs", body, content_type="application/json")
    created = api.post("/api/v1/projects", {"name": _spoofed(ch)}, content_type="application/json")
    for response, field, what in ((job, "job", "job name"), (created, "name", "project name")):
        assert response.status_code == 400, response.content
        answer = response.json()
        assert answer["field"] == field, answer
        assert answer["message"].startswith(f"The {what} may not contain control characters")
        assert f"U+{ord(ch):04X}" in answer["message"], answer
        _no_raw(response.content.decode())
    assert not Job.objects.exists()
    assert not Project.objects.filter(name=_spoofed(ch)).exists()


def test_api_refuses_a_lone_surrogate_in_a_name(api, project):
    # Valid JSON ("\ud800" is an escape), but no database can store it.
    body = (
        b'{"project": "Hostile", "job": "a\\ud800b", "model_checkpoint": "vader-sentiment", '
        b'"dataset": "finance_sentiment"}'
    )
    response = api.post("/api/v1/jobs", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json() == {"message": "The job name must be UTF-8 text.", "field": "job"}


def test_wizard_refuses_a_spoofing_job_name_next_to_its_field(owner_client, project):
    data = {
        "name": SPOOF,
        "ml_app": MLApp.objects.get(key="sentiment-analysis").pk,
        "model": MLModel.objects.get(name="vader-sentiment").pk,
        "dataset": Dataset.objects.get(name="finance_sentiment").pk,
        "dataset_path": "test.txt",
    }
    response = owner_client.post(f"/projects/{project.pk}/jobs/new/", data)
    assert response.status_code == 400
    html = response.content.decode()
    error = re.search(r'<p class="error" id="id_name-error" role="alert">([^<]*)</p>', html)
    assert error and "The job name may not contain control characters" in error.group(1)
    assert "U+202E RIGHT-TO-LEFT OVERRIDE" in error.group(1)
    assert not Job.objects.exists()


def test_wizard_says_a_long_job_name_in_a_sentence(owner_client, project):
    data = {"name": "x" * 101, "dataset_path": "test.txt"}
    response = owner_client.post(f"/projects/{project.pk}/jobs/new/", data)
    html = response.content.decode()
    error = re.search(r'<p class="error" id="id_name-error" role="alert">([^<]*)</p>', html)
    assert error and error.group(1) == "The job name is longer than 100 characters."


def test_project_form_refuses_a_spoofing_name(owner_client, db):
    response = owner_client.post("/projects/", {"name": SPOOF})
    assert response.status_code == 400
    errors = _page_errors(response.content.decode())
    assert "The project name may not contain control characters" in errors
    assert "(it holds U+202E RIGHT-TO-LEFT OVERRIDE)" in errors
    _no_raw(errors)
    assert not Project.objects.exists()


@pytest.mark.parametrize("kind", ["models", "datasets"])
def test_model_and_dataset_names_refuse_invisible_characters(
    api, owner, owner_client, catalog, kind
):
    form = {"name": SPOOF, "ml_app": "sentiment-analysis", "ml_apps": "sentiment-analysis"}
    response = api.post(f"/api/v1/{kind}", {**form, "files": [_upload()]})
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "name"
    assert "may not contain control characters" in response.json()["message"]
    _no_raw(response.content.decode())
    app = MLApp.objects.get(key="sentiment-analysis").pk
    page = owner_client.post(
        f"/hub/{kind}/add/", {"name": SPOOF, "ml_app": app, "ml_apps": [app], "files": _upload()}
    )
    assert page.status_code == 400
    errors = _page_errors(page.content.decode())
    assert "The name may not contain control characters" in errors
    _no_raw(errors)
    items = MLModel if kind == "models" else Dataset
    assert not items.objects.filter(owner=owner).exists()


def _upload():
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("data.txt", b"good\nbad\n", content_type="text/plain")


@pytest.mark.parametrize(
    "ch", ["\u202e", "\u2066", "\x00", "\n"], ids=["rlo", "lri", "nul", "newline"]
)
def test_api_token_names_refuse_invisible_characters(owner_client, owner, ch):
    response = owner_client.post("/account/tokens/", {"name": f"lap{ch}top"})
    assert response.status_code == 400
    errors = _page_errors(response.content.decode())
    assert "The token name may not contain control characters" in errors
    assert ch not in errors
    assert not ApiToken.objects.filter(user=owner).exists()


def test_api_token_name_too_long_is_refused_not_cut(owner_client, owner):
    response = owner_client.post("/account/tokens/", {"name": "x" * 101})
    assert response.status_code == 400
    assert "The token name is longer than 100 characters." in response.content.decode()
    assert not ApiToken.objects.filter(user=owner).exists()


@pytest.mark.parametrize(
    "username,says",
    [
        ("mallory\u202e", "The username may not contain control characters"),
        ("eve\u2028x", "The username may not contain control characters"),
        ("a" * 151, "The username is longer than 150 characters."),
        ("bob smith", "Enter a valid username"),
    ],
    ids=["rlo", "line-sep", "long", "space"],
)
def test_organization_refuses_bad_new_usernames(owner_client, owner, username, says):
    from django.contrib.auth import get_user_model

    response = owner_client.post("/account/organization/", {"username": username})
    assert response.status_code == 400
    errors = _page_errors(response.content.decode())
    assert says in errors
    _no_raw(errors)
    assert get_user_model().objects.count() == 1  # the owner alone


def test_service_paths_use_the_same_check(owner, catalog):
    """Names made without a form or the API (services called by code) are checked too."""
    from django.core.exceptions import ValidationError

    from apps.catalog.services import dataset_add

    app = MLApp.objects.get(key="sentiment-analysis")
    for make in (
        lambda: project_create(owner=owner, name=SPOOF),
        lambda: api_token_create(user=owner, name=SPOOF),
        lambda: dataset_add(user=owner, name=SPOOF, ml_apps=[app], uploads=[_upload()]),
    ):
        with pytest.raises(ValidationError, match="may not contain control characters"):
            make()
