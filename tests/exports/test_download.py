"""Download Results: the whole file, byte ranges (resume), the zip of the results folder."""

from __future__ import annotations

import io
import os
import zipfile

import pytest

from apps.exports.downloads import results_zip_name
from apps.jobs.models import Job
from tests.exports.conftest import results_file

pytestmark = pytest.mark.worker


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _url(job, suffix=""):
    return f"/jobs/{job.pk}/results/download/{suffix}"


def test_download_streams_the_whole_results_file(owner_client, finished_job):
    expected = results_file(finished_job).read_bytes()
    response = owner_client.get(_url(finished_job))
    assert response.status_code == 200
    assert response.streaming
    assert _body(response) == expected
    assert response["Content-Length"] == str(len(expected))
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Disposition"] == (
        'attachment; filename="test_results_finance_sentiment.txt"'
    )


def test_download_of_a_file_larger_than_the_read_block_is_exact(owner_client, finished_job):
    path = results_file(finished_job)
    payload = os.urandom(3 * 1024 * 1024 + 17)  # several FileResponse blocks, odd tail
    path.write_bytes(payload)
    response = owner_client.get(_url(finished_job))
    assert _body(response) == payload
    assert int(response["Content-Length"]) == len(payload)


def test_range_request_returns_206_with_those_bytes(owner_client, finished_job):
    data = results_file(finished_job).read_bytes()
    size = len(data)
    response = owner_client.get(_url(finished_job), HTTP_RANGE="bytes=10-99")
    assert response.status_code == 206
    assert _body(response) == data[10:100]
    assert response["Content-Range"] == f"bytes 10-99/{size}"
    assert response["Content-Length"] == "90"

    resumed = owner_client.get(_url(finished_job), HTTP_RANGE="bytes=100-")
    assert resumed.status_code == 206
    assert data[:100] + _body(resumed) == data

    tail = owner_client.get(_url(finished_job), HTTP_RANGE="bytes=-25")
    assert tail.status_code == 206 and _body(tail) == data[-25:]


def test_range_past_the_end_is_416(owner_client, finished_job):
    size = results_file(finished_job).stat().st_size
    response = owner_client.get(_url(finished_job), HTTP_RANGE=f"bytes={size}-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{size}"


def test_stale_if_range_gets_the_whole_file_not_a_splice(owner_client, finished_job):
    data = results_file(finished_job).read_bytes()
    response = owner_client.get(
        _url(finished_job), HTTP_RANGE="bytes=10-", HTTP_IF_RANGE='"an-old-version"'
    )
    assert response.status_code == 200 and _body(response) == data

    etag = owner_client.get(_url(finished_job))["ETag"]
    matching = owner_client.get(_url(finished_job), HTTP_RANGE="bytes=10-", HTTP_IF_RANGE=etag)
    assert matching.status_code == 206 and _body(matching) == data[10:]


def test_zip_holds_the_results_folder_and_resumes(owner_client, finished_job):
    folder = results_file(finished_job).parent
    (folder / "segments").mkdir(exist_ok=True)
    (folder / "segments" / "seg-0001.wav").write_bytes(os.urandom(5000))
    response = owner_client.get(_url(finished_job, "?format=zip"))
    assert response.status_code == 200
    body = _body(response)
    assert response["Content-Length"] == str(len(body))
    name = results_zip_name(finished_job)
    assert response["Content-Disposition"] == f'attachment; filename="{name}.zip"'
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    on_disk = {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert {"summary.json", "test_results_finance_sentiment.txt"} <= set(on_disk)
    assert {info.filename for info in archive.infolist()} == {f"{name}/{n}" for n in on_disk}
    for rel, content in on_disk.items():
        assert archive.read(f"{name}/{rel}") == content

    # An interrupted zip download resumes with a Range, like the results file.
    cut = len(body) // 3
    rest = owner_client.get(_url(finished_job, "?format=zip"), HTTP_RANGE=f"bytes={cut}-")
    assert rest.status_code == 206
    assert body[:cut] + _body(rest) == body


def test_download_of_a_running_job_is_refused_with_a_reason(owner_client, finished_job):
    Job.objects.filter(pk=finished_job.pk).update(status="RUNNING")
    response = owner_client.get(_url(finished_job))
    assert response.status_code == 409
    assert "once it has finished" in response.content.decode()


def test_org_admin_may_download_a_members_results(client, owner, colleague, finished_job):
    # owner made the organization, so owner is its admin; colleague is a plain member.
    from apps.accounts.models import Membership
    from tests.conftest import wait_for_job
    from tests.factories import sentiment_job

    job = wait_for_job(sentiment_job(colleague, name="colleagues-job").pk)
    client.force_login(owner)
    assert Membership.objects.get(user=owner).role == "admin"
    response = client.get(_url(job))
    assert response.status_code == 200
    assert _body(response) == results_file(job).read_bytes()
    page = client.get(f"/jobs/{job.pk}/results/").content.decode()
    assert "Upload Results to AWS" in page
    assert 'data-copy="#results-nfs-path"' in page and f"results/{job.pk}/" in page

    # ...but a member of the same organization may not download the admin's job.
    client.force_login(colleague)
    assert client.get(_url(finished_job)).status_code == 404


def test_job_window_offers_downloads_upload_and_nfs_path(owner_client, finished_job):
    page = owner_client.get(f"/jobs/{finished_job.pk}/").content.decode()
    assert f'href="/jobs/{finished_job.pk}/results/download/"' in page
    assert "?format=zip" in page
    assert 'data-open-dialog="export-dialog"' in page and "Upload Results to AWS" in page
    # The NFS path, with a Copy button, is on the details card.
    assert "data-copy=" in page
    assert f"results/{finished_job.pk}/test_results_finance_sentiment.txt" in page
    for field in ("bucket", "folder", "access_key_id", "secret_access_key", "region"):
        assert f'name="{field}"' in page
