"""Hostile names: HTML and script in job, project and dataset names show as text on every
page; a dataset name with slashes never becomes a folder of the results."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.utils.html import escape

from apps.accounts.services import api_token_create
from apps.catalog.models import MLApp, MLModel
from apps.core.storage import storage_root
from apps.jobs.models import Job
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
