"""Idempotency keys of POST /jobs: a key names one request, of one user.

Same key + same request → the first job (200). Same key + another request → 422 and no
job. Another user's identical key is theirs alone.
"""

from __future__ import annotations

import pytest
from django.test import Client

from apps.accounts.services import api_token_create
from apps.api.models import IdempotencyKey
from apps.jobs.models import Job
from tests.factories import make_project

REUSED = "This idempotency key was used for another request."


def _client(user) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_token_create(user=user, name='i')[1]}"})


@pytest.fixture
def api(owner, catalog, redis_server):
    make_project(owner, "Demo")
    return _client(owner)


def _create(api, **overrides):
    body = {
        "project": "Demo",
        "job": "vader-run",
        "model_checkpoint": "vader-sentiment",
        "dataset": "finance_sentiment",
        "path": "test.txt",
        "idempotency_key": "retry-1",
        **overrides,
    }
    return api.post("/api/v1/jobs", body, content_type="application/json")


def test_the_same_request_again_returns_the_first_job(api):
    first = _create(api, settings={"batch_size": 16, "max_samples": 5})
    # The same request, written differently: keys in another order, spaces around text,
    # the default type spelt out.
    again = _create(
        api,
        job=" vader-run ",
        type="batch_predict",
        settings={"max_samples": 5, "batch_size": 16},
    )
    assert first.status_code == 201, first.content
    assert again.status_code == 200, again.content
    assert again.json()["id"] == first.json()["id"]
    assert Job.objects.count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"job": "spacy-run", "model_checkpoint": "spacy-en-core-web-sm", "dataset": "news_ner"},
        {"settings": {"batch_size": 8}},
        {"path": ""},
        {"job": "other-name"},
    ],
    ids=["other-model", "other-settings", "other-path", "other-name"],
)
def test_the_same_key_with_another_request_is_422(api, change):
    first = _create(api)
    assert first.status_code == 201, first.content
    other = _create(api, **change)
    assert other.status_code == 422, other.content
    assert other.json() == {"message": REUSED, "field": "idempotency_key"}
    assert list(Job.objects.values_list("name", flat=True)) == ["vader-run"]


def test_a_refused_request_does_not_use_up_its_key(api):
    refused = _create(api, path="../etc/passwd")
    assert refused.status_code == 400, refused.content
    assert not IdempotencyKey.objects.exists()
    assert _create(api).status_code == 201


def test_keys_belong_to_their_user(api, owner, outsider):
    mine = _create(api)
    assert mine.status_code == 201
    make_project(outsider, "Demo")
    theirs = _create(_client(outsider))
    # The outsider's key is their own: a new job of theirs, not a 422 or the owner's job.
    assert theirs.status_code == 201, theirs.content
    assert theirs.json()["id"] != mine.json()["id"]
    assert Job.objects.get(pk=theirs.json()["id"]).owner == outsider
    again = _create(_client(outsider), job="another")
    assert again.status_code == 422 and again.json()["message"] == REUSED
    assert set(IdempotencyKey.objects.values_list("user__username", flat=True)) == {
        owner.username,
        outsider.username,
    }


def test_keys_with_control_characters_are_refused(api):
    response = _create(api, idempotency_key="retry\u202e1")
    assert response.status_code == 400
    assert response.json()["field"] == "idempotency_key"
    assert "U+202E" in response.json()["message"] and "\u202e" not in response.json()["message"]
