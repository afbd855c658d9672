"""Personas: another user's project and job answer 404 for every view and action."""

from __future__ import annotations

import pytest

from apps.jobs.models import Job
from apps.projects.models import Project
from tests.factories import make_project, sentiment_job


@pytest.fixture
def owned(owner, catalog, redis_server):
    project = make_project(owner)
    job = sentiment_job(owner, project)
    return project, job


@pytest.mark.parametrize(
    "method,url",
    [
        ("get", "/projects/{p}/"),
        ("post", "/projects/{p}/delete/"),
        ("get", "/projects/{p}/jobs/new/"),
        ("post", "/projects/{p}/jobs/new/"),
        ("get", "/jobs/{j}/"),
        ("post", "/jobs/{j}/quit/"),
        ("post", "/jobs/{j}/delete/"),
    ],
)
def test_outsider_gets_404(outsider_client, owned, method, url):
    project, job = owned
    response = getattr(outsider_client, method)(url.format(p=project.pk, j=job.pk))
    assert response.status_code == 404
    assert Project.objects.filter(pk=project.pk).exists()
    # Untouched: still there and not quit (a session worker may have run it meanwhile).
    assert Job.objects.get(pk=job.pk).status in ("QUEUED", "RUNNING", "COMPLETED")


def test_colleague_in_same_org_cannot_see_the_job_either(client, colleague, owned):
    client.force_login(colleague)
    assert client.get(f"/jobs/{owned[1].pk}/").status_code == 404


def test_outsiders_dashboard_does_not_list_the_job(outsider_client, owned):
    assert owned[1].name not in outsider_client.get("/dashboard/").content.decode()


def test_owner_sees_both(owner_client, owned):
    project, job = owned
    assert owner_client.get(f"/projects/{project.pk}/").status_code == 200
    page = owner_client.get(f"/jobs/{job.pk}/").content.decode()
    assert job.name in page and 'data-testid="job-status"' in page
