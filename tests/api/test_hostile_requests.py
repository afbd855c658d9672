"""Requests of any size and shape get a JSON refusal a person can act on, never a 500 or a
traceback: bodies over the limits, wrong content types, truncated JSON, JSON that is not
an object, wrong types, unknown enum values in the query, addresses that do not exist."""

from __future__ import annotations

import json
import re

import pytest
from django.conf import settings
from django.test import Client, override_settings

from apps.accounts.services import api_token_create
from apps.catalog.models import Dataset, MLModel
from apps.jobs.models import Job
from tests.factories import make_project, sentiment_job

REUSED = "This idempotency key was used for another request."
# What pydantic and Python say when nobody translated them.
RAW_WORDS = re.compile(
    r"should have|Input should|Field required|String should|\[type=|Traceback|"
    r"Value error|Cannot parse request body|JSONDecodeError|Expecting value:"
)


@pytest.fixture
def api(owner):
    return Client(headers={"Authorization": f"Bearer {api_token_create(user=owner, name='h')[1]}"})


@pytest.fixture
def project(owner, catalog, redis_server):
    return make_project(owner, "Demo")


def _job_body(**overrides):
    return {
        "project": "Demo",
        "job": "j1",
        "model_checkpoint": "vader-sentiment",
        "dataset": "finance_sentiment",
        "path": "test.txt",
        **overrides,
    }


def assert_refusal(response, status: int, field: str | None = None, says: str = "") -> dict:
    """A JSON error of the API's shape: one sentence, no pydantic or Python words."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    answer = response.json()
    assert set(answer) >= {"message", "field"}, answer
    assert answer["field"] == field, answer
    message = answer["message"]
    assert says in message, answer
    assert message.endswith((".", ")", "?")) and message[0].isupper(), message
    assert not RAW_WORDS.search(message), message
    return answer


def test_settings_over_the_upload_limit_answer_413(api, project):
    # About 2.6 MB of settings: over Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MiB).
    body = json.dumps(_job_body(settings={f"k{i}": "x" * 100 for i in range(26_000)}))
    assert len(body) > 2_621_440
    response = api.post("/api/v1/jobs", body, content_type="application/json")
    assert_refusal(response, 413, says="larger than the server accepts (2.5 MiB")
    assert not Job.objects.exists()


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
@pytest.mark.parametrize(
    "content_type,body",
    [
        ("application/json", b"{" + b" " * 2000 + b"}"),
        ("application/json", b"\xff" * 2000),  # over the limit and not even text
        ("text/plain", b"x" * 2000),
        ("application/x-www-form-urlencoded", b"name=" + b"x" * 2000),
    ],
    ids=["json", "binary", "text", "form"],
)
def test_any_body_over_the_limit_answers_413(api, project, content_type, body):
    response = api.post("/api/v1/jobs", body, content_type=content_type)
    assert_refusal(response, 413, says="larger than the server accepts")
    response = api.post("/api/v1/projects", body, content_type=content_type)
    assert_refusal(response, 413, says="larger than the server accepts")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
def test_a_form_field_over_the_limit_answers_413(api, catalog):
    response = api.post("/api/v1/datasets", {"name": "x", "description": "d" * 5000})
    assert_refusal(response, 413, says="larger than the server accepts")


@override_settings(DATA_UPLOAD_MAX_NUMBER_FILES=3)
def test_too_many_files_answer_413_naming_the_files(api, catalog, tmp_path):
    files = []
    for i in range(5):
        path = tmp_path / f"part{i}.txt"
        path.write_text("good\n")
        files.append(path.open("rb"))
    try:
        response = api.post(
            "/api/v1/datasets",
            {"name": "many", "ml_apps": ["sentiment-analysis"], "files": files},
        )
    finally:
        for handle in files:
            handle.close()
    assert_refusal(response, 413, field="files", says="more than 3 files")
    assert not Dataset.objects.filter(name="many").exists()


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=10)
def test_too_many_query_parameters_answer_413(api, db):
    query = "&".join(f"p{i}=1" for i in range(50))
    assert_refusal(api.get(f"/api/v1/jobs?{query}"), 413, says="more than 10 fields")


@pytest.mark.parametrize(
    "content_type,body,says",
    [
        ("application/json", b'{"project": "Demo", "job": ', "not valid JSON"),
        ("application/json", b'{"project": "Demo",}', "not valid JSON"),
        ("application/json", b'{"job": "\xff"}', "not UTF-8"),
        ("application/json", b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
        ("text/plain", b"project=Demo&job=j1", "not valid JSON"),
        ("application/x-www-form-urlencoded", b"project=Demo&job=j1", "not valid JSON"),
        ("application/xml", b"<job><name>j1</name></job>", "not valid JSON"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-", "JSON"),
    ],
    ids=["truncated", "trailing-comma", "not-utf8", "deep", "text", "form", "xml", "multipart"],
)
def test_a_body_that_is_not_json_is_400(api, project, content_type, body, says):
    response = api.post("/api/v1/jobs", body, content_type=content_type)
    assert_refusal(response, 400, says=says)
    assert not Job.objects.exists()


@pytest.mark.parametrize("body", [b"[]", b"[1, 2]", b"1", b'"job"', b"true", b"null", b""])
def test_json_that_is_not_an_object_is_400(api, project, body):
    response = api.post("/api/v1/jobs", body, content_type="application/json")
    assert_refusal(response, 400, says="JSON object")


@pytest.mark.parametrize(
    "overrides,field,says",
    [
        ({"job": 5}, "job", "The job name must be text"),
        ({"job": ["j"]}, "job", "The job name must be text"),
        ({"job": "x" * 101}, "job", "The job name is longer than 100 characters."),
        ({"job": None}, "job", "The job name must be text"),
        ({"path": "a" * 1025}, "path", "The path is longer than 1,024 characters."),
        ({"path": 7}, "path", "The path must be text"),
        ({"settings": "batch_size=8"}, "settings", "The settings must be a JSON object"),
        ({"type": "train"}, "type", "The job type must be 'batch_predict'."),
        ({"idempotency_key": "k" * 129}, "idempotency_key", "longer than 128 characters"),
        ({"idempotency_key": 12}, "idempotency_key", "The idempotency key must be text"),
        ({"projcet": "Demo"}, "projcet", "Unknown field 'projcet'."),
    ],
)
def test_wrong_types_and_lengths_read_as_sentences(api, project, overrides, field, says):
    response = api.post("/api/v1/jobs", _job_body(**overrides), content_type="application/json")
    assert_refusal(response, 400, field=field, says=says)
    assert not Job.objects.exists()


def test_every_refused_field_is_listed(api, project):
    body = _job_body(job=5, path="a" * 2000, colour="blue")
    response = api.post("/api/v1/jobs", body, content_type="application/json")
    answer = assert_refusal(response, 400, "job", "The job name must be text")
    assert answer["errors"] == {
        "job": ["The job name must be text (a JSON string)."],
        "path": ["The path is longer than 1,024 characters."],
        "colour": ["Unknown field 'colour'."],
    }


def test_a_missing_field_is_named(api, project):
    body = _job_body()
    del body["model_checkpoint"]
    response = api.post("/api/v1/jobs", body, content_type="application/json")
    assert_refusal(response, 400, "model_checkpoint", "The model is missing")


@pytest.mark.parametrize(
    "url,field,says",
    [
        ("/api/v1/jobs?status=DONE", "status", "The status must be"),
        ("/api/v1/jobs?ml_app=ocr", "ml_app", "The ML App must be"),
        ("/api/v1/jobs?limit=abc", "limit", "The limit must be a whole number."),
        ("/api/v1/jobs?limit=0", "limit", "The limit must be at least 1."),
        ("/api/v1/jobs?limit=501", "limit", "The limit must be at most 500."),
        ("/api/v1/jobs?offset=-1", "offset", "The offset must be at least 0."),
        (f"/api/v1/jobs?offset={10**27}", "offset", "The offset must be at most 1,000,000,000."),
        ("/api/v1/models?ml_app=ocr", "ml_app", "The ML App must be"),
        ("/api/v1/datasets?ml_app=%00", "ml_app", "The ML App must be"),
    ],
)
def test_unknown_enum_values_in_the_query_are_400(api, catalog, url, field, says):
    assert_refusal(api.get(url), 400, field=field, says=says)


def test_download_refuses_an_unknown_format(api, owner, catalog, redis_server):
    job = sentiment_job(owner)
    response = api.get(f"/api/v1/jobs/{job.pk}/download", {"format": "bogus"})
    assert_refusal(response, 400, "format", "The format must be 'file', 'zip' or 'joined'.")


def test_web_download_refuses_an_unknown_format(owner_client, owner, catalog, redis_server):
    job = sentiment_job(owner)
    response = owner_client.get(f"/jobs/{job.pk}/results/download/", {"format": "bogus\u202e"})
    assert response.status_code == 400
    assert response.content.decode() == "Unknown format 'bogus\\u202e': use file, zip or joined."


def test_outsider_gets_404_before_the_format_is_looked_at(
    outsider_client, owner, catalog, redis_server
):
    job = sentiment_job(owner)
    response = outsider_client.get(f"/jobs/{job.pk}/results/download/", {"format": "bogus"})
    assert response.status_code == 404


def test_download_formats_of_the_api_and_the_page_agree():
    from typing import get_args

    from apps.api.schemas import DownloadFormat
    from apps.exports.downloads import DOWNLOAD_FORMATS

    assert get_args(DownloadFormat) == DOWNLOAD_FORMATS


@pytest.mark.parametrize("visibility", ["public", "", "PRIVATE"])
def test_model_upload_refuses_an_unknown_visibility(api, catalog, visibility):
    response = api.post(
        "/api/v1/models",
        {"name": "m", "ml_app": "sentiment-analysis", "visibility": visibility, "folder": "x"},
    )
    assert_refusal(response, 400, "visibility", "The visibility must be 'private' or")
    assert not MLModel.objects.filter(name="m").exists()


@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_an_unknown_address_under_the_api_is_a_json_404(api, db, method):
    response = getattr(api, method)("/api/v1/no-such-thing/\u202e")
    assert_refusal(response, 404, says="No API endpoint at /api/v1/no-such-thing/\\u202e.")


@pytest.mark.parametrize("debug", [False, True], ids=["debug-off", "debug-on"])
def test_our_own_bug_is_a_logged_500_without_a_traceback(api, db, monkeypatch, caplog, debug):
    import apps.api.routers.account as api_module

    monkeypatch.setattr(settings, "DEBUG", debug)  # ninja alone answers a traceback then

    def broken(user):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api_module, "membership_for", broken)
    response = api.get("/api/v1/me")
    assert response.status_code == 500
    assert response.json() == {
        "message": "Internal error: the server failed and logged why. Try again later.",
        "field": None,
    }
    assert "secret internals" not in response.content.decode()
    assert any("secret internals" in r.exc_text for r in caplog.records if r.exc_text)


@pytest.mark.parametrize("ref", ["\u202egnp.exe", "a\x00b", "x" * 5000], ids=["rlo", "nul", "long"])
def test_hostile_references_are_quoted_escaped(api, project, ref):
    for url in (f"/api/v1/jobs/{ref}", "/api/v1/jobs?project=" + ref):
        response = api.get(url)
        assert response.status_code in (400, 404), response.content[:300]
        message = response.json()["message"]
        assert not any(ch in message for ch in "\u202e\x00"), message
        assert len(message) < 400, message


def test_cli_says_what_the_api_refused_in_one_line(cli, project, tmp_path):
    """The CLI passes the API's sentence on: a body over the limit (413), a reused
    idempotency key (422), a wrong setting (400); never a traceback."""
    huge = tmp_path / "settings.json"
    huge.write_text(json.dumps({f"k{i}": "x" * 100 for i in range(26_000)}))
    create = [
        "job", "create", "--project", "Demo", "--job", "first", "--type", "batch_predict",
        "--model-checkpoint", "vader-sentiment", "--dataset", "finance_sentiment",
        "--path", "test.txt",
    ]  # fmt: skip
    cases = [
        ([*create, "--settings-file", str(huge)], "larger than the server accepts", "413"),
        ([*create, "--settings", "batch_size=eight"], "batch_size: Enter a whole number", "400"),
        ([*create, "--idempotency-key", "k1"], None, None),
        ([*create, "--idempotency-key", "k1", "--settings", "batch_size=8"], REUSED, "422"),
    ]
    for args, says, status in cases:
        result = cli(*args, check=False)
        if says is None:
            assert result.returncode == 0, result.stderr
            continue
        assert result.returncode == 1, (args, result.stdout)
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("batchstudio: ") and says in line, line
        assert f"HTTP {status}" in line and "Traceback" not in result.stderr, line
    assert list(Job.objects.values_list("name", flat=True)) == ["first"]


@pytest.mark.parametrize("ref", ["\u00b2", "\u0663", "9" * 30, "-1", "1.0"])
@pytest.mark.parametrize(
    "method,url",
    [
        ("get", "/api/v1/jobs/{}"),
        ("post", "/api/v1/jobs/{}/quit"),
        ("get", "/api/v1/jobs/{}/download"),
        ("get", "/api/v1/jobs/{}/exports"),
        ("delete", "/api/v1/models/{}"),
        ("delete", "/api/v1/datasets/{}"),
        ("delete", "/api/v1/projects/{}"),
        ("get", "/api/v1/jobs?project={}"),
    ],
)
def test_references_that_look_like_ids_are_404_not_500(api, project, method, url, ref):
    # "²" and "٣" are digits to str.isdigit() but no id; 10**30 is past every id column.
    response = getattr(api, method)(url.format(ref))
    answer = assert_refusal(response, 404)
    assert (
        answer["message"].startswith("No ") and "matches the given query" not in answer["message"]
    )
