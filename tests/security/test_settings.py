"""Hostile inference settings and names through the wizard and the API: wrong types, huge,
infinite and negative numbers, unknown keys, NUL bytes. Each is refused with a message
naming the setting; nothing is queued."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from apps.accounts.services import api_token_create
from apps.catalog.models import Dataset, MLApp, MLModel
from apps.jobs.models import Job

# (case, settings as JSON, the setting named, what the refusal says)
API_CASES = [
    ("list-for-int", {"batch_size": [8]}, "batch_size", "whole number"),
    ("dict-for-int", {"batch_size": {"$gt": 1}}, "batch_size", "whole number"),
    ("bool-for-int", {"batch_size": True}, "batch_size", "whole number"),
    ("word-for-int", {"batch_size": "eight"}, "batch_size", "whole number"),
    ("fraction-for-int", {"batch_size": 8.5}, "batch_size", "whole number"),
    ("10**30", {"max_samples": 10**30}, "max_samples", "at most 1000000000"),
    ("1e308", {"shard_size": 1e308}, "shard_size", "whole number"),
    ("inf", {"batch_size": "inf"}, "batch_size", "whole number"),
    ("nan", {"batch_size": "nan"}, "batch_size", "whole number"),
    ("5000-digits", {"max_samples": "9" * 5000}, "max_samples", "whole number"),
    ("negative", {"batch_size": -5}, "batch_size", "at least 1"),
    ("negative-shard", {"shard_size": -1}, "shard_size", "at least 0"),
    ("list-for-choice", {"device": ["cpu"]}, "device", "Choose one of"),
    ("bool-for-threshold", {"error_threshold": True}, "error_threshold", "give a count"),
    ("inf-threshold", {"error_threshold": "inf"}, "error_threshold", "give a count"),
    ("negative-threshold", {"error_threshold": -3}, "error_threshold", "give a count"),
    ("unknown-key", {"batch_size": 8, "rm -rf": 1}, "rm -rf", "Unknown setting 'rm -rf'"),
]
# Classification's labels_file is the one free-text setting.
TEXT_CASES = [
    ("list-for-text", {"labels_file": ["labels.txt"]}, "labels_file", "text"),
    ("dict-for-text", {"labels_file": {"a": 1}}, "labels_file", "text"),
    ("bool-for-text", {"labels_file": True}, "labels_file", "text"),
    ("nul-in-text", {"labels_file": "labels\x00.txt"}, "labels_file", "NUL"),
    ("huge-int", {"max_seq_length": 10**30}, "max_seq_length", "at most 512"),
]


@pytest.fixture
def api(owner):
    return Client(headers={"Authorization": f"Bearer {api_token_create(user=owner, name='s')[1]}"})


@pytest.fixture
def topics(owner, catalog):
    from tests.runners.conftest import user_dataset

    return user_dataset(owner, "document-classification", {"docs/a.txt": b"text\n"}, "topic-docs")


def _create(api, project, **body):
    payload = {
        "project": project.name,
        "job": "hostile-settings",
        "model_checkpoint": "vader-sentiment",
        "dataset": "finance_sentiment",
        "path": "test.txt",
        **body,
    }
    return api.post("/api/v1/jobs", payload, content_type="application/json")


def _assert_refused(response, setting: str, refusal: str) -> None:
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["field"] == "settings", answer
    assert any(
        m.startswith(f"{setting}: ") and refusal in m for m in answer["errors"]["settings"]
    ), answer
    assert not Job.objects.exists()


@pytest.mark.parametrize("case,settings,setting,refusal", API_CASES, ids=[c[0] for c in API_CASES])
def test_api_refuses_each_setting_naming_it(api, project, case, settings, setting, refusal):
    _assert_refused(_create(api, project, settings=settings), setting, refusal)


@pytest.mark.parametrize(
    "case,settings,setting,refusal", TEXT_CASES, ids=[c[0] for c in TEXT_CASES]
)
def test_api_refuses_wrong_types_for_text_settings(
    api, project, topics, case, settings, setting, refusal
):
    response = _create(
        api,
        project,
        model_checkpoint="all-MiniLM-L6-v2-zero-shot",
        dataset=topics.name,
        path="docs",
        settings=settings,
    )
    _assert_refused(response, setting, refusal)


@pytest.mark.parametrize(
    "body",
    [
        b'{"project": "Hostile", "job": "j", "model_checkpoint": "vader-sentiment", '
        b'"dataset": "finance_sentiment", "settings": {"batch_size": NaN}}',
        b'{"project": "Hostile", "job": "j", "model_checkpoint": "vader-sentiment", '
        b'"dataset": "finance_sentiment", "settings": {"batch_size": Infinity}}',
        b'{"project": "Hostile", "job": "j", "model_checkpoint": "vader-sentiment", '
        b'"dataset": "finance_sentiment", "settings": {"batch_size": 1e999}}',
    ],
    ids=["NaN", "Infinity", "1e999"],
)
def test_api_refuses_non_json_numbers(api, project, body):
    response = api.post("/api/v1/jobs", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "settings" and "batch_size" in response.json()["message"]
    assert not Job.objects.exists()


def test_api_refuses_settings_that_are_not_an_object(api, project):
    for settings in ([1, 2], "batch_size=8", 8):
        response = _create(api, project, settings=settings)
        assert response.status_code == 400
        assert response.json() == {
            "message": "The settings must be a JSON object (key: value pairs).",
            "field": "settings",
        }


@pytest.mark.parametrize(
    "field,value,refusal",
    [
        ("setting_batch_size", "1e308", "Enter a whole number"),
        ("setting_batch_size", "inf", "Enter a whole number"),
        ("setting_batch_size", "nan", "Enter a whole number"),
        ("setting_batch_size", "[8]", "Enter a whole number"),
        ("setting_batch_size", "true", "Enter a whole number"),
        ("setting_batch_size", "-5", "Must be at least 1"),
        ("setting_max_samples", str(10**30), "Must be at most 1000000000"),
        ("setting_shard_size", "9" * 5000, "Enter a whole number"),
        ("setting_error_threshold", "-1", "give a count"),
        ("setting_error_threshold", "1e308", "give a count"),
        ("setting_device", "{'$ne': 1}", "Select a valid choice"),
    ],
)
def test_wizard_refuses_each_setting_next_to_it(owner_client, project, field, value, refusal):
    data = {
        "name": "hostile-settings",
        "ml_app": MLApp.objects.get(key="sentiment-analysis").pk,
        "model": MLModel.objects.get(name="vader-sentiment").pk,
        "dataset": Dataset.objects.get(name="finance_sentiment").pk,
        "dataset_path": "test.txt",
        field: value,
    }
    response = owner_client.post(f"/projects/{project.pk}/jobs/new/", data)
    assert response.status_code == 400
    html = response.content.decode().replace("&#x27;", "'")
    error = re.search(rf'<p class="error" id="id_{field}-error" role="alert">([^<]*)</p>', html)
    assert error and refusal in error.group(1), html[:3000]
    assert '<details class="settings-pane" id="settings-pane" open>' in html
    assert not Job.objects.exists()


def test_wizard_reads_only_its_own_fields(owner_client, project):
    """A posted key that is no setting of the ML App never reaches the job."""
    data = {
        "name": "extra-keys",
        "ml_app": MLApp.objects.get(key="sentiment-analysis").pk,
        "model": MLModel.objects.get(name="vader-sentiment").pk,
        "dataset": Dataset.objects.get(name="finance_sentiment").pk,
        "dataset_path": "test.txt",
        "setting_rm_rf": "1",
        "setting_labels_file": "/etc/passwd",  # a setting of another ML App
        "settings": json.dumps({"batch_size": 10**30}),
    }
    assert owner_client.post(f"/projects/{project.pk}/jobs/new/", data).status_code == 302
    job = Job.objects.get()
    assert set(job.settings) == {s["name"] for s in job.ml_app.settings_schema}
    assert job.settings["batch_size"] == 32


@pytest.mark.parametrize(
    "name", ["nul\x00name", "bell\x07", "line\nbreak"], ids=["nul", "bell", "newline"]
)
def test_api_refuses_control_characters_in_names(api, project, name):
    response = _create(api, project, job=name)
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "job" and "control characters" in response.json()["message"]
    response = api.post("/api/v1/projects", {"name": name}, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "name"
    assert not Job.objects.exists()
