"""Pieces that need no worker: the zip writer, the Range parser, the form, the linked
dataset's reads."""

from __future__ import annotations

import io
import os
import random
import zipfile

import botocore.exceptions as bce
import pytest
from django.test import RequestFactory

from apps.exports import s3
from apps.exports.downloads import ByteRange, byte_range
from apps.exports.forms import ExportForm
from apps.exports.zipstream import ZipPlan, entries_for


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "segments").mkdir()
    files = []
    for name, size in [("a.txt", 0), ("b.bin", 300_000), ("segments/ü-1.wav", 1234)]:
        (tmp_path / name).write_bytes(os.urandom(size))
        files.append((name, tmp_path / name))
    return files


@pytest.mark.parametrize("zip64_limit", [0xFFFFFFFF, 0, 1000])
def test_zip_stream_is_a_valid_archive_of_the_announced_size(folder, zip64_limit):
    # A low limit forces the ZIP64 records that a folder over 4 GiB needs.
    plan = ZipPlan(entries_for(folder, "r/"), zip64_limit=zip64_limit)
    data = b"".join(plan.stream())
    assert len(data) == plan.size
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert archive.testzip() is None
    for name, path in folder:
        assert archive.read(f"r/{name}") == path.read_bytes()


def test_zip_stream_any_range_equals_the_slice(folder):
    whole = b"".join(ZipPlan(entries_for(folder)).stream())
    rng = random.Random(7)
    for _ in range(60):
        start = rng.randrange(len(whole))
        stop = rng.randrange(start, len(whole) + 1)
        fresh = ZipPlan(entries_for(folder))  # no CRCs known yet, as in a resumed download
        assert b"".join(fresh.stream(start, stop)) == whole[start:stop]


@pytest.mark.parametrize(
    "header,expected",
    [
        ("bytes=0-9", ByteRange(0, 10, True)),
        ("bytes=90-", ByteRange(90, 100, True)),
        ("bytes=-5", ByteRange(95, 100, True)),
        ("bytes=50-500", ByteRange(50, 100, True)),
        ("bytes=0-1,5-6", ByteRange(0, 100, False)),  # several ranges: the whole body
        ("items=0-9", ByteRange(0, 100, False)),
        ("bytes=9-3", ByteRange(0, 100, False)),
    ],
)
def test_byte_range(header, expected):
    request = RequestFactory().get("/", HTTP_RANGE=header)
    assert byte_range(request, size=100, etag='"e"', mtime=None) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=-0"])
def test_unsatisfiable_range(header):
    request = RequestFactory().get("/", HTTP_RANGE=header)
    response = byte_range(request, size=100, etag='"e"', mtime=None)
    assert response.status_code == 416


def _form(**overrides):
    data = {
        "bucket": "my-bucket",
        "folder": "/a//b/",
        "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": " s3cret ",
        "region": "EU-West-3",
        "endpoint_url": "http://minio:9000/",
    }
    data.update(overrides)
    return ExportForm(data)


def test_form_normalises_folder_region_endpoint():
    form = _form()
    assert form.is_valid(), form.errors
    assert form.cleaned_data["folder"] == "a/b"
    assert form.cleaned_data["region"] == "eu-west-3"
    assert form.cleaned_data["endpoint_url"] == "http://minio:9000"
    assert form.cleaned_data["secret_access_key"] == "s3cret"


@pytest.mark.parametrize(
    "field,value",
    [
        ("bucket", "UPPER"),
        ("bucket", "ab"),
        ("folder", "a/../b"),
        ("access_key_id", "has space"),
        ("region", "us east 1"),
        ("endpoint_url", "ftp://host"),
        ("endpoint_url", "http://user:pw@host"),
        ("endpoint_url", "http://host:notaport"),
    ],
)
def test_form_refuses(field, value):
    form = _form(**{field: value})
    assert not form.is_valid() and field in form.errors


def test_form_never_renders_the_secret_back():
    form = _form(bucket="UPPER", secret_access_key="planted-xyz")
    assert not form.is_valid()
    assert "planted-xyz" not in str(form)


def _client_error(code: str, status: int, **error: str):
    from botocore.exceptions import ClientError

    return ClientError(
        {
            "Error": {"Code": code, "Message": "m", **error},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "PutObject",
    )


def test_refused_region_names_the_bucket_s_region():
    from apps.exports.s3 import S3Target, explain

    target = S3Target(bucket="b-1", key="k", access_key_id="AK", region="us-east-1")
    message = explain(
        _client_error("AuthorizationHeaderMalformed", 400, Region="eu-west-3"), target
    )
    assert "Region 'us-east-1' was refused" in message and "eu-west-3" in message


def test_access_denied_says_which_permission_is_missing():
    from apps.exports.s3 import S3Target, explain

    target = S3Target(bucket="b-1", key="f/k", access_key_id="AKIAX")
    message = explain(_client_error("AccessDenied", 403), target)
    assert "AKIAX may not write to s3://b-1/f/k" in message and "s3:PutObject" in message


def test_silent_running_export_is_reaped_so_the_job_can_upload_again(owner, catalog, redis_server):
    from datetime import timedelta

    from django.utils import timezone

    from apps.exports.models import ResultsExport
    from apps.exports.services import exports_reap_stale
    from tests.factories import sentiment_job

    job = sentiment_job(owner)
    old = timezone.now() - timedelta(hours=1)
    silent = ResultsExport.objects.create(
        job=job, bucket="b-1", access_key_id="AK", status="RUNNING"
    )
    ResultsExport.objects.filter(pk=silent.pk).update(heartbeat_at=old, created_at=old)
    assert exports_reap_stale(job=job) == 1
    silent.refresh_from_db()
    assert silent.status == "FAILED" and "stopped answering" in silent.error_message

    # A queued one whose secret is gone from Redis (expired) is reaped too; a fresh one is not.
    lost = ResultsExport.objects.create(job=job, bucket="b-1", access_key_id="AK")
    assert exports_reap_stale(job=job) == 0  # may still be between INSERT and SET
    ResultsExport.objects.filter(pk=lost.pk).update(created_at=old)
    assert exports_reap_stale(job=job) == 1
    lost.refresh_from_db()
    assert lost.status == "FAILED" and "never started" in lost.error_message


class FlakyClient:
    """get_object failing with the given errors first, then answering."""

    def __init__(self, *errors: Exception) -> None:
        self.errors, self.calls = list(errors), 0

    def get_object(self, **kwargs):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return {"Body": io.BytesIO(b"0123456789"[: 1 + int(kwargs["Range"].split("-")[1])])}


def test_a_linked_read_is_tried_again_after_a_broken_connection_only(monkeypatch):
    monkeypatch.setattr(s3.time, "sleep", lambda _: None)
    store = s3.S3Store(s3.S3Target("b", "data/", "AKIA"), "secret", limit=10)
    store._client = FlakyClient(bce.EndpointConnectionError(endpoint_url="http://s3"))
    assert store.read("a.csv", 0, 4) == b"0123" and store._client.calls == 2

    answer = {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
    denied = bce.ClientError(answer, "GetObject")
    store._client = FlakyClient(denied)
    with pytest.raises(
        s3.DatasetReadError, match=r"^Access denied: Access Key ID AKIA may not read"
    ):
        store.read("a.csv", 0, 4)
    assert store._client.calls == 1  # refused: not tried again

    broken = bce.EndpointConnectionError(endpoint_url="http://s3")
    store._client = FlakyClient(*[broken] * s3.READ_ATTEMPTS)
    with pytest.raises(s3.DatasetReadError, match=r"^Cannot reach AWS S3: the connection"):
        store.read("a.csv", 0, 4)
    assert store._client.calls == s3.READ_ATTEMPTS
