"""REST API: token auth, JSON errors with the field at fault, the right status codes."""

from __future__ import annotations

import hashlib

import pytest
from django.test import Client

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create
from apps.jobs.models import Job
from tests.factories import make_project


@pytest.fixture
def token(owner):
    return api_token_create(user=owner, name="tests")[1]


@pytest.fixture
def api(token):
    return Client(headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def outsider_api(outsider):
    return Client(
        headers={"Authorization": f"Bearer {api_token_create(user=outsider, name='x')[1]}"}
    )


def test_token_is_stored_hashed_and_works(api, token, owner):
    row = ApiToken.objects.get(user=owner)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token.startswith(row.prefix) and len(row.prefix) < len(token) // 4
    assert api.get("/api/v1/me").json()["username"] == "olivia"


def test_missing_or_bad_token_is_401_json(db):
    for headers in ({}, {"Authorization": "Bearer bst_nope"}):
        response = Client(headers=headers).get("/api/v1/projects")
        assert response.status_code == 401
        assert "API token" in response.json()["message"]


def test_revoked_token_is_refused(api, owner):
    from apps.accounts.services import api_token_revoke

    api_token_revoke(token=ApiToken.objects.get(user=owner))
    assert api.get("/api/v1/me").status_code == 401


def test_project_create_list_and_duplicate_is_409(api):
    assert (
        api.post("/api/v1/projects", {"name": "p1"}, content_type="application/json").status_code
        == 201
    )
    response = api.post("/api/v1/projects", {"name": "p1"}, content_type="application/json")
    assert response.status_code == 409 and response.json()["field"] == "name"
    assert [p["name"] for p in api.get("/api/v1/projects").json()] == ["p1"]


def _create(api, **overrides):
    body = {
        "project": "Demo",
        "job": "j1",
        "type": "batch_predict",
        "model_checkpoint": "vader-sentiment",
        "dataset": "finance_sentiment",
        "path": "test.txt",
    }
    body.update(overrides)
    return api.post("/api/v1/jobs", body, content_type="application/json")


def test_job_create_like_the_reference_cli(api, owner, catalog, redis_server):
    make_project(owner, "Demo")
    response = _create(api)
    assert response.status_code == 201, response.json()
    data = response.json()
    # A worker left running by an earlier test of the session may already have taken it.
    assert data["status"] in ("QUEUED", "RUNNING", "COMPLETED"), data
    assert data["error_message"] == "" and data["ml_app"] == "sentiment-analysis"
    assert Job.objects.get(pk=data["id"]).name == "j1"
    assert data["results_file"] == "test_results_finance_sentiment.txt"
    duplicate = _create(api)
    assert duplicate.status_code == 409
    assert "Duplicate job" in duplicate.json()["message"] and duplicate.json()["field"] == "job"


def test_priority_is_taken_shown_and_refused_when_unknown(api, owner, catalog, redis_server):
    make_project(owner, "Demo")
    high = _create(api, priority="high")
    assert high.status_code == 201 and high.json()["priority"] == "high"
    assert Job.objects.get(pk=high.json()["id"]).get_priority_display() == "High"
    assert _create(api, job="j2").json()["priority"] == "normal"
    bad = _create(api, job="j3", priority="urgent")
    assert bad.status_code == 400 and bad.json()["field"] == "priority"


def test_idempotency_key_returns_the_first_job(api, owner, catalog, redis_server):
    make_project(owner, "Demo")
    first = _create(api, idempotency_key="abc")
    again = _create(api, idempotency_key="abc")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    assert Job.objects.count() == 1


@pytest.mark.parametrize(
    "overrides,field,text",
    [
        ({"model_checkpoint": "no-such-model"}, "model_checkpoint", "no-such-model"),
        ({"dataset": "nope"}, "dataset", "No dataset named 'nope'"),
        ({"path": "../x"}, "path", "'..'"),
        ({"settings": {"batch_size": 0}}, "settings", "batch_size"),
        ({"settings": {"bogus": 1}}, "settings", "Unknown setting"),
        ({"type": "train"}, "type", "'batch_predict'"),
        ({"settings": {"labels_file": "x"}}, "settings", "Unknown setting 'labels_file'"),
    ],
)
def test_bad_job_create_is_400_naming_the_field(api, owner, catalog, overrides, field, text):
    make_project(owner, "Demo")
    response = _create(api, **overrides)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["field"] == field and text in body["message"], body
    assert not Job.objects.exists()


def test_unknown_project_is_404(api, catalog):
    response = _create(api, project="ghost")
    assert response.status_code == 404 and "ghost" in response.json()["message"]


def test_outsider_gets_404_for_someone_elses_job(api, outsider_api, owner, catalog, redis_server):
    make_project(owner, "Demo")
    job_id = _create(api).json()["id"]
    for method, url in [
        ("get", f"/api/v1/jobs/{job_id}"),
        ("post", f"/api/v1/jobs/{job_id}/quit"),
        ("delete", f"/api/v1/jobs/{job_id}"),
    ]:
        assert getattr(outsider_api, method)(url).status_code == 404
    assert Job.objects.filter(pk=job_id).exists()


def test_openapi_schema_is_served(db):
    schema = Client().get("/api/v1/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    bearer = [name for name, s in schemes.items() if s == {"type": "http", "scheme": "bearer"}]
    assert bearer, schemes
    create = schema["paths"]["/api/v1/jobs"]["post"]
    assert create["security"] == [{bearer[0]: []}]
    assert {"400", "401", "404", "409", "413", "422"} <= set(create["responses"])


def test_ml_app_keys_in_the_schema_match_the_ml_apps():
    from worker.runners.registry import ML_APPS

    schema = Client().get("/api/v1/openapi.json").json()
    ml_app = next(
        p for p in schema["paths"]["/api/v1/models"]["get"]["parameters"] if p["name"] == "ml_app"
    )
    enum = ml_app["schema"].get("enum") or ml_app["schema"]["anyOf"][0]["enum"]
    assert enum == list(ML_APPS)


def test_a_taken_model_or_dataset_name_is_409_in_the_services_words(api, catalog, owner):
    from django.core.files.uploadedfile import SimpleUploadedFile

    def add_dataset():
        upload = SimpleUploadedFile("news.txt", b"Shares rose.\nShares fell.\n")
        return api.post(
            "/api/v1/datasets",
            {"name": "news", "ml_apps": "sentiment-analysis", "files": [upload]},
        )

    assert add_dataset().status_code == 201, add_dataset
    taken = add_dataset()
    assert taken.status_code == 409
    assert taken.json()["field"] == "name"
    assert taken.json()["message"] == "You already have one named 'news'."
    # The other refusals of a name stay a 400.
    hidden = api.post(
        "/api/v1/datasets",
        {
            "name": "ne\u202ews",
            "ml_apps": "sentiment-analysis",
            "files": [SimpleUploadedFile("a.txt", b"x\n")],
        },
    )
    assert hidden.status_code == 400 and hidden.json()["field"] == "name"
