"""The plain job form: refusals next to the field, and nothing queued."""

from __future__ import annotations

import pytest

from apps.catalog.models import Dataset, MLApp, MLModel
from apps.jobs.models import Job
from tests.factories import make_project


@pytest.fixture
def form_data(catalog):
    return {
        "name": "first",
        "ml_app": MLApp.objects.get(key="sentiment-analysis").pk,
        "model": MLModel.objects.get(name="vader-sentiment").pk,
        "dataset": Dataset.objects.get(name="finance_sentiment").pk,
        "dataset_path": "test.txt",
    }


def _post(client, project, data):
    return client.post(f"/projects/{project.pk}/jobs/new/", data)


def test_missing_name_is_refused_next_to_the_field(owner_client, owner, form_data):
    project = make_project(owner)
    response = _post(owner_client, project, {**form_data, "name": ""})
    assert response.status_code == 400
    assert 'id="id_name-error"' in response.content.decode()
    assert not Job.objects.exists()


def test_duplicate_job_name_is_refused(owner_client, owner, form_data, redis_server):
    project = make_project(owner)
    assert _post(owner_client, project, form_data).status_code == 302
    response = _post(owner_client, project, form_data)
    assert response.status_code == 400
    assert "already exists in this project" in response.content.decode()
    assert Job.objects.count() == 1


def test_dataset_of_another_ml_app_is_refused(owner_client, owner, form_data):
    project = make_project(owner)
    ner = MLApp.objects.get(key="named-entity-recognition")
    response = _post(owner_client, project, {**form_data, "ml_app": ner.pk})
    body = response.content.decode()
    assert response.status_code == 400
    assert "does not serve Named Entity Recognition" in body
    assert "is for Sentiment Analysis, not Named Entity Recognition" in body
    assert not Job.objects.exists()


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "missing.txt"])
def test_bad_dataset_path_is_refused(owner_client, owner, form_data, path):
    project = make_project(owner)
    response = _post(owner_client, project, {**form_data, "dataset_path": path})
    assert response.status_code == 400
    assert 'id="id_dataset_path-error"' in response.content.decode()
    assert not Job.objects.exists()


def test_valid_form_queues_the_job_and_lands_on_its_window(owner_client, owner, form_data,
                                                          redis_server):
    project = make_project(owner)
    response = _post(owner_client, project, form_data)
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/jobs/{job.pk}/"
    assert job.status == "QUEUED"
    assert job.settings["batch_size"] == 32  # defaults from the ML App's schema
