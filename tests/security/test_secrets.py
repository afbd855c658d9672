"""Planted secrets: a password, API tokens and S3 secret access keys are used the way people
use them (the login page, the API, the CLI, the upload form), wrong ones included. Then every
place they could leak is searched: each database row, every Redis key and value (broker
messages decoded), the worker log, the Django log records of this process (the live server
runs in it), and each page or API body that answered."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets

import pytest
from django.contrib.auth.hashers import identify_hasher
from django.test import Client

from apps.accounts.models import ApiToken
from apps.accounts.services import user_create
from apps.exports.models import ResultsExport
from tests.exports.conftest import wait_for_export
from tests.leaks import database_files, database_text, redis_everything, worker_log


def _unique(label: str) -> str:
    return f"planted-{label}-{secrets.token_hex(12)}"


def assert_nowhere(planted: list[str], caplog, *answers: str) -> None:
    """None of `planted` in the database, Redis, the worker log, the logs or `answers`."""
    places = {
        "database rows": database_text(),
        "database files": database_files().decode("latin-1"),
        "redis": redis_everything()[1].decode("latin-1"),
        "worker log": worker_log(),
        "django logs": caplog.text
        + "\n".join(str(r.__dict__) for r in caplog.records),  # args and extras too
        "responses": "\n".join(answers),
    }
    # An empty place (no worker log in a test that never started the worker, no SQLite
    # files on PostgreSQL) is not searched, and must not pass for one that was.
    searched = {where: text for where, text in places.items() if text}
    assert "database rows" in searched, sorted(searched)
    for value in planted:
        found = [where for where, text in searched.items() if value in text]
        assert not found, f"{value} found in {found}"


def _csrf_post(client: Client, url: str, data: dict[str, str]):
    client.get(url)
    return client.post(url, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


def test_password_is_stored_hashed_and_never_logged_or_echoed(db, redis_server, caplog):
    caplog.set_level(logging.DEBUG)
    password, wrong = _unique("password"), _unique("wrong-password")
    user = user_create(username="paula", password=password)
    client = Client(enforce_csrf_checks=True)

    refused = _csrf_post(client, "/accounts/login/", {"username": "paula", "password": wrong})
    assert refused.status_code == 200
    assert "Please enter a correct username and password" in refused.content.decode()
    logged_in = _csrf_post(client, "/accounts/login/", {"username": "paula", "password": password})
    assert logged_in.status_code == 302
    assert client.get("/projects/").status_code == 200

    user.refresh_from_db()
    assert identify_hasher(user.password).algorithm in ("pbkdf2_sha256", "argon2", "bcrypt_sha256")
    assert user.check_password(password)
    assert_nowhere([password, wrong], caplog, refused.content.decode(), logged_in.content.decode())


def test_api_token_is_stored_hashed_and_never_logged_or_echoed(
    owner_client, owner, cli, live_server, caplog
):
    caplog.set_level(logging.DEBUG)
    created = owner_client.post("/account/tokens/", {"name": "laptop"})
    assert created["Cache-Control"] == "no-store"
    token = re.search(
        r'data-testid="new-token" id="new-token">(bst_[\w-]+)<', created.content.decode()
    )
    assert token, created.content.decode()[:2000]
    token = token.group(1)
    row = ApiToken.objects.get(user=owner, name="laptop")
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token.startswith(row.prefix) and len(row.prefix) < len(token) // 4
    listed = owner_client.get("/account/tokens/").content.decode()
    assert row.prefix in listed and token not in listed  # shown once, then only its prefix

    api = Client(headers={"Authorization": f"Bearer {token}"})
    assert api.get("/api/v1/me").json()["username"] == "olivia"
    bad = "bst_" + _unique("bad-token")
    answers = []
    for header in (f"Bearer {bad}", f"Bearer {bad} {token}", f"Basic {bad}", bad):
        refused = Client(headers={"Authorization": header}).get("/api/v1/jobs")
        assert refused.status_code == 401 and "API token" in refused.json()["message"]
        answers.append(refused.content.decode())

    assert cli("login", "--host", live_server.url, "--token", token).returncode == 0
    listed_by_cli = cli("job", "list")
    refused_cli = cli("login", "--host", live_server.url, "--token", bad, check=False)
    assert refused_cli.returncode == 1
    (line,) = refused_cli.stderr.strip().splitlines()
    assert "Missing or invalid API token" in line and "HTTP 401" in line
    answers += [listed_by_cli.stdout, listed_by_cli.stderr, refused_cli.stdout, line]
    assert "Unauthorized: /api/v1/" in caplog.text  # the live server's log lines are searched
    assert_nowhere([token, bad], caplog, *answers)
    assert row.prefix in database_text()  # the search does see what is stored


# --- S3 secret access keys ------------------------------------------------------------


def _upload_form(s3_server, bucket: str, secret: str) -> dict[str, str]:
    return {
        "bucket": bucket,
        "folder": "runs",
        "access_key_id": s3_server.access_key_id,
        "secret_access_key": secret,
        "region": "us-east-1",
        "endpoint_url": s3_server.endpoint,
    }


@pytest.mark.worker
def test_wrong_s3_secrets_fail_uploads_and_never_leak(
    owner_client, owner, finished_job, s3_server, cli, caplog
):
    caplog.set_level(logging.DEBUG)
    from_web, from_api, from_cli = _unique("s3-web"), _unique("s3-api"), _unique("s3-cli")
    bucket = s3_server.new_bucket()
    answers = []

    page = owner_client.post(
        f"/jobs/{finished_job.pk}/exports/", _upload_form(s3_server, bucket, from_web)
    )
    assert page.status_code == 302
    export = ResultsExport.objects.get(job=finished_job)
    assert wait_for_export(export.pk).status == "FAILED"

    token = cli("job", "info", str(finished_job.pk), "--json")  # logged in as the owner
    from apps.accounts.services import api_token_create

    api = Client(headers={"Authorization": f"Bearer {api_token_create(user=owner, name='s3')[1]}"})
    started = api.post(
        f"/api/v1/jobs/{finished_job.pk}/exports",
        _upload_form(s3_server, bucket, from_api),
        content_type="application/json",
    )
    assert started.status_code == 201, started.content
    assert wait_for_export(started.json()["id"]).status == "FAILED"
    answers.append(started.content.decode())

    uploaded = cli(
        "job", "upload", str(finished_job.pk),
        "--bucket", bucket,
        "--access-key-id", s3_server.access_key_id,
        "--region", "us-east-1",
        "--endpoint-url", s3_server.endpoint,
        "--wait", "--json",
        check=False,
        extra_env={"AWS_SECRET_ACCESS_KEY": from_cli},
    )  # fmt: skip
    assert uploaded.returncode == 1, uploaded.stderr
    assert json.loads(uploaded.stdout)["status"] == "FAILED"
    answers += [uploaded.stdout, uploaded.stderr, token.stdout]

    exports = ResultsExport.objects.filter(job=finished_job)
    assert exports.count() == 3 and {e.status for e in exports} == {"FAILED"}
    for export in exports:
        assert "Secret Access Key does not belong to" in export.error_message
    answers += [
        owner_client.get(f"/jobs/{finished_job.pk}/").content.decode(),
        owner_client.get(f"/jobs/{finished_job.pk}/exports/history/").content.decode(),
        owner_client.get(f"/jobs/{finished_job.pk}/results/").content.decode(),
        api.get(f"/api/v1/jobs/{finished_job.pk}/exports").content.decode(),
    ]
    assert all("Secret Access Key does not belong to" in a for a in answers[-2:])
    assert_nowhere([from_web, from_api, from_cli], caplog, *answers)
    assert s3_server.access_key_id in database_text()  # the search does see what is stored


INVALID_UPLOADS = [
    ("bucket", "Bad_Bucket"),
    ("folder", "../../other-team"),
    ("folder", "runs\x00"),
    ("endpoint_url", "file:///etc/passwd"),
    ("endpoint_url", "http://user:pass@s3.example.com"),
    ("region", "us east"),
    ("access_key_id", "AK IA"),
]


@pytest.mark.worker
def test_api_refuses_what_the_upload_form_refuses_without_echoing_the_secret(
    owner, finished_job, caplog
):
    """The API re-checks an upload as the form does, and never echoes the secret."""
    from apps.accounts.services import api_token_create

    caplog.set_level(logging.DEBUG)
    api = Client(headers={"Authorization": f"Bearer {api_token_create(user=owner, name='v')[1]}"})
    planted, answers = [], []
    for field, value in INVALID_UPLOADS:
        secret = _unique("s3-invalid")
        body = {
            "bucket": "good-bucket",
            "folder": "runs",
            "access_key_id": "AKIAEXAMPLE",
            "secret_access_key": secret,
            "region": "us-east-1",
            "endpoint_url": "https://s3.example.com",
            field: value,
        }
        response = api.post(
            f"/api/v1/jobs/{finished_job.pk}/exports", body, content_type="application/json"
        )
        assert response.status_code == 400, (field, value, response.content)
        assert response.json()["field"] == field, (value, response.json())
        planted.append(secret)
        answers.append(response.content.decode())
    too_long = _unique("s3-too-long") * 20
    response = api.post(
        f"/api/v1/jobs/{finished_job.pk}/exports",
        {"bucket": "good-bucket", "access_key_id": "AK", "secret_access_key": too_long},
        content_type="application/json",
    )
    assert response.status_code == 400 and response.json()["field"] == "secret_access_key"
    assert not ResultsExport.objects.exists()
    assert_nowhere([*planted, too_long], caplog, *answers, response.content.decode())
