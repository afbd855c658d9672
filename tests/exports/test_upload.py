"""Upload Results to AWS against a real S3 server (SeaweedFS, signatures checked)."""

from __future__ import annotations

import hashlib
import json
import os
import re

import pytest
from django.db import IntegrityError, transaction

from apps.exports import secret_store
from apps.exports.models import ResultsExport
from tests.conftest import wait_until
from tests.exports.conftest import results_file, wait_for_export
from tests.leaks import database_files, database_text, redis_everything, worker_log

pytestmark = pytest.mark.worker


def _form(s3_server, bucket, **overrides):
    data = {
        "bucket": bucket,
        "folder": "batch/run-1/",
        "access_key_id": s3_server.access_key_id,
        "secret_access_key": s3_server.secret_access_key,
        "region": "us-east-1",
        "endpoint_url": s3_server.endpoint,
    }
    data.update(overrides)
    return data


def _start(client, job, data, **headers):
    before = set(ResultsExport.objects.filter(job=job).values_list("pk", flat=True))
    response = client.post(f"/jobs/{job.pk}/exports/", data, **headers)
    new = ResultsExport.objects.filter(job=job).exclude(pk__in=before)
    return response, (new.get() if new.exists() else None)


def test_upload_larger_than_multipart_threshold_lands_intact(owner_client, finished_job, s3_server):
    path = results_file(finished_job)
    path.write_bytes(os.urandom(12 * 1024 * 1024 + 123))  # > the 5 MiB test threshold
    bucket = s3_server.new_bucket()
    response, export = _start(owner_client, finished_job, _form(s3_server, bucket))
    assert response.status_code == 302 and response["Location"] == f"/jobs/{finished_job.pk}/"
    export = wait_for_export(export.pk)
    assert export.status == "COMPLETED", export.error_message
    assert export.object_key == "batch/run-1/test_results_finance_sentiment.txt"
    assert export.size_bytes == export.bytes_done == path.stat().st_size
    s3 = s3_server.client()
    head = s3.head_object(Bucket=bucket, Key=export.object_key)
    assert head["ETag"].strip('"').endswith("-3")  # three parts: it went up as multipart
    body = s3.get_object(Bucket=bucket, Key=export.object_key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == hashlib.sha256(path.read_bytes()).hexdigest()

    history = owner_client.get(f"/jobs/{finished_job.pk}/exports/history/").content.decode()
    assert bucket in history and export.object_key in history and "Completed" in history
    assert "olivia" in history and "12.0\xa0MB" in history
    assert "hx-trigger" not in history  # nothing active: the table stops polling


def test_wrong_secret_fails_with_a_clear_message(owner_client, finished_job, s3_server):
    bucket = s3_server.new_bucket()
    wrong = "wrong-" + s3_server.secret_access_key[::-1]
    _, export = _start(
        owner_client, finished_job, _form(s3_server, bucket, secret_access_key=wrong)
    )
    export = wait_for_export(export.pk)
    assert export.status == "FAILED"
    assert "Secret Access Key does not belong to" in export.error_message
    assert s3_server.access_key_id in export.error_message
    assert wrong not in export.error_message
    page = owner_client.get(f"/jobs/{finished_job.pk}/").content.decode()
    assert "Secret Access Key does not belong to" in page
    assert wrong not in worker_log()


def test_missing_bucket_fails_with_a_clear_message(owner_client, finished_job, s3_server):
    _, export = _start(owner_client, finished_job, _form(s3_server, "no-such-bucket-here"))
    export = wait_for_export(export.pk)
    assert export.status == "FAILED"
    assert "Bucket 'no-such-bucket-here' does not exist" in export.error_message


def test_unknown_access_key_fails_with_a_clear_message(owner_client, finished_job, s3_server):
    bucket = s3_server.new_bucket()
    _, export = _start(
        owner_client, finished_job, _form(s3_server, bucket, access_key_id="AKIANOSUCHKEY")
    )
    export = wait_for_export(export.pk)
    assert export.status == "FAILED"
    assert "Access Key ID AKIANOSUCHKEY is not known" in export.error_message


def test_unreachable_endpoint_fails_with_a_clear_message(owner_client, finished_job, s3_server):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    _, export = _start(owner_client, finished_job, _form(s3_server, "b-1", endpoint_url=dead))
    export = wait_for_export(export.pk)
    assert export.status == "FAILED"
    assert f"Cannot reach {dead}" in export.error_message


def test_second_upload_while_one_is_active_is_refused(owner_client, owner, finished_job, s3_server):
    running = ResultsExport.objects.create(
        job=finished_job,
        user=owner,
        bucket="first-bucket",
        object_key="a/test_results_finance_sentiment.txt",
        access_key_id="AK",
        status="RUNNING",
    )
    ResultsExport.objects.filter(pk=running.pk).update(heartbeat_at=running.created_at)
    data = _form(s3_server, "second-bucket")
    response, export = _start(owner_client, finished_job, data)
    assert response.status_code == 409
    page = response.content.decode()
    assert "already running" in page and "s3://first-bucket/a/" in page
    assert export is None
    # Through htmx the refusal lands in the open dialog, as a 200 htmx will swap in.
    response, export = _start(owner_client, finished_job, data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "already running" in response.content.decode()
    assert export is None
    assert s3_server.secret_access_key not in response.content.decode()

    # The database itself refuses a second active export, whatever the page does.
    active_twice = r"(?i)unique|one_active_export_per_job"
    with pytest.raises(IntegrityError, match=active_twice), transaction.atomic():
        ResultsExport.objects.create(job=finished_job, bucket="x-1", access_key_id="AK")

    # Once the first one ends, the next upload starts.
    ResultsExport.objects.filter(pk=running.pk).update(status="COMPLETED")
    bucket = s3_server.new_bucket()
    response, export = _start(owner_client, finished_job, _form(s3_server, bucket))
    assert response.status_code == 302
    assert wait_for_export(export.pk).status == "COMPLETED"


def test_secret_is_not_in_the_database_the_broker_redis_or_logs(
    owner_client, finished_job, s3_server, monkeypatch
):
    from worker import dispatch

    planted = s3_server.secret_access_key
    sent = []
    original = dispatch.send_on_commit

    def spy(*args, **kwargs):
        sent.append(json.dumps([args, kwargs]))
        return original(*args, **kwargs)

    monkeypatch.setattr(dispatch, "send_on_commit", spy)
    bucket = s3_server.new_bucket()
    response, export = _start(owner_client, finished_job, _form(s3_server, bucket))
    assert wait_for_export(export.pk).status == "COMPLETED"

    # The broker message holds only the id.
    assert sent == [json.dumps([[dispatch.EXPORT_UPLOAD, export.pk], {}])]
    dump = database_text()
    assert planted not in dump and s3_server.access_key_id in dump  # the dump did work
    assert planted.encode() not in database_files()
    keys, values = redis_everything()
    assert not [k for k in keys if k.startswith(secret_store.KEY_PREFIX.encode())]
    assert planted.encode() not in values

    # The worker logs after it commits COMPLETED, and Celery's own "succeeded" line comes
    # when the task returns: wait for it, so the log searched holds the whole upload.
    def whole_upload_logged() -> str | None:
        text = worker_log()
        done = text.find(f"export {export.pk} completed")
        finished = re.search(r"export_upload\[[^\]]+\] succeeded", text[max(done, 0) :])
        return text if done >= 0 and finished else None

    log = wait_until(whole_upload_logged, what="the upload's last log lines")
    assert planted not in log
    assert planted not in response.content.decode()


def test_secret_waits_in_redis_only_encrypted_and_is_taken_once(redis_server, settings):
    secret_store.secret_put(export_id=987654, secret="planted-abc123")
    raw = secret_store.redis_client().get(f"{secret_store.KEY_PREFIX}987654")
    assert raw and b"planted-abc123" not in raw
    assert (
        0
        < secret_store.redis_client().ttl(f"{secret_store.KEY_PREFIX}987654")
        <= (settings.EXPORT_SECRET_TTL_SECONDS)
    )
    assert secret_store.secret_take(export_id=987654) == "planted-abc123"
    assert secret_store.secret_take(export_id=987654) is None


def test_htmx_upload_swaps_the_panel_with_the_new_row(owner_client, finished_job, s3_server):
    bucket = s3_server.new_bucket()
    response, export = _start(
        owner_client, finished_job, _form(s3_server, bucket), HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#results-access"
    page = response.content.decode()
    assert f"Upload to s3://{bucket}/batch/run-1/" in page
    assert 'data-testid="export-row"' in page
    assert wait_for_export(export.pk).status == "COMPLETED"


def test_invalid_form_shows_errors_and_never_echoes_the_secret(owner_client, finished_job):
    response = owner_client.post(
        f"/jobs/{finished_job.pk}/exports/",
        {"bucket": "Bad_Bucket", "access_key_id": "AK", "secret_access_key": "planted-echo"},
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert "A bucket name has 3 to 63 lowercase letters" in page
    assert "planted-echo" not in page
    assert not ResultsExport.objects.exists()
