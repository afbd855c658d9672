"""Only the job's owner and its organization's admins reach results: everyone else 404."""

from __future__ import annotations

import pytest

from apps.exports.models import ResultsExport
from tests.factories import make_project, sentiment_job


@pytest.fixture
def job(owner, catalog, redis_server):
    return sentiment_job(owner, make_project(owner))


@pytest.mark.parametrize(
    "method,url",
    [
        ("get", "/jobs/{j}/results/download/"),
        ("get", "/jobs/{j}/results/download/?format=zip"),
        ("get", "/jobs/{j}/results/"),
        ("get", "/jobs/{j}/results/panel/"),
        ("get", "/jobs/{j}/exports/history/"),
        ("post", "/jobs/{j}/exports/"),
    ],
)
def test_outsider_gets_404(outsider_client, job, method, url):
    data = {
        "bucket": "some-bucket",
        "access_key_id": "AKIAEXAMPLE",
        "secret_access_key": "x" * 40,
    }
    kwargs = {"data": data} if method == "post" else {}
    response = getattr(outsider_client, method)(url.format(j=job.pk), **kwargs)
    assert response.status_code == 404
    assert not ResultsExport.objects.filter(job=job).exists()


def test_member_colleague_gets_404_too(client, colleague, job):
    client.force_login(colleague)
    assert client.get(f"/jobs/{job.pk}/results/download/").status_code == 404
    assert client.post(f"/jobs/{job.pk}/exports/", {"bucket": "b"}).status_code == 404


def test_anonymous_is_sent_to_login(client, job):
    response = client.get(f"/jobs/{job.pk}/results/download/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_export_history_is_deleted_with_the_job(owner, job):
    from apps.jobs.services import job_delete

    ResultsExport.objects.create(
        job=job, user=owner, bucket="b-1", access_key_id="AK", status="FAILED"
    )
    job_delete(job=job)
    assert not ResultsExport.objects.exists()
