from __future__ import annotations

import pytest

from apps.jobs.models import Job
from apps.projects.models import Project
from tests.conftest import wait_for_job
from tests.factories import make_project, sentiment_job


def test_anonymous_visitor_is_sent_to_login(client, db):
    response = client.get("/projects/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/projects/")


def test_login_page_logs_in(client, owner):
    from tests.conftest import PASSWORD

    response = client.post("/accounts/login/", {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/projects/").status_code == 200


def test_wrong_password_is_refused_with_a_message(client, owner):
    response = client.post("/accounts/login/", {"username": "olivia", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_owner_creates_and_lists_projects(owner_client, owner):
    response = owner_client.post("/projects/", {"name": "Speech", "description": ""})
    project = Project.objects.get(name="Speech")
    assert response["Location"] == f"/projects/{project.pk}/"
    assert project.organization == owner.membership.organization
    assert "Speech" in owner_client.get("/projects/").content.decode()


def test_duplicate_project_name_is_refused(owner_client, owner):
    make_project(owner, "Same")
    response = owner_client.post("/projects/", {"name": "Same"})
    assert response.status_code == 400
    assert "already have a project named" in response.content.decode()


def test_project_window_lists_jobs_and_new_job_button(owner_client, owner, catalog, redis_server):
    project = make_project(owner)
    sentiment_job(owner, project, name="job-a")
    page = owner_client.get(f"/projects/{project.pk}/").content.decode()
    assert "job-a" in page and "New Job" in page


def test_delete_project_needs_post(owner_client, owner):
    project = make_project(owner)
    assert owner_client.get(f"/projects/{project.pk}/delete/").status_code == 405
    assert Project.objects.filter(pk=project.pk).exists()


@pytest.mark.worker
def test_deleting_a_project_quits_its_running_job_first(make_dataset, jobs, owner, client):
    from apps.jobs.models import JobShard
    from bench.data import write_sentences
    from tests.conftest import wait_until, wait_worker_idle
    from tests.worker.conftest import results_folder

    client.force_login(owner)
    dataset, root = make_dataset()
    write_sentences(root / "many.txt", 200_000, seed=5)  # seconds of work on two processes
    job = jobs.start(dataset, "many.txt")
    wait_until(
        lambda: Job.objects.filter(pk=job.pk, status="RUNNING", done_samples__gt=0).exists(),
        what="the job in progress",
    )
    folder = results_folder(job)
    shard_ids = list(JobShard.objects.filter(job=job).values_list("pk", flat=True))
    before = Job.objects.get(pk=job.pk)  # seconds of work left: still running at the delete
    assert before.status == "RUNNING" and before.done_samples < before.total_samples

    response = client.post(f"/projects/{jobs.project.pk}/delete/")

    assert response.status_code == 302
    assert not Project.objects.filter(pk=jobs.project.pk).exists()
    assert not Job.objects.filter(pk=job.pk).exists()
    # The running shards saw the quit and let go; none of them wrote anything back.
    wait_worker_idle()
    assert not folder.exists()
    assert not JobShard.objects.filter(pk__in=shard_ids).exists()


@pytest.mark.worker
def test_deleting_a_project_removes_its_finished_jobs_and_results(live_worker, owner, client):
    from apps.core.storage import storage_root

    client.force_login(owner)
    project = make_project(owner)
    job = sentiment_job(owner, project, name="done-one")
    wait_for_job(job.pk)
    folder = storage_root() / "results" / str(job.pk)
    assert folder.exists()
    response = client.post(f"/projects/{project.pk}/delete/")
    assert response.status_code == 302
    assert not Project.objects.filter(pk=project.pk).exists()
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not folder.exists()


def test_deleting_a_project_with_an_active_job_quits_it(owner, catalog):
    """A job row that is RUNNING (no task behind it, so no worker can race the test):
    delete must quit it and remove it with its results folder, not leave it behind."""
    from apps.catalog.models import MLApp
    from apps.core.storage import storage_root
    from apps.jobs.models import JobShard
    from apps.projects.services import project_delete

    project = make_project(owner)
    job = Job.objects.create(
        project=project,
        owner=owner,
        name="running",
        status="RUNNING",
        ml_app=MLApp.objects.get(key="sentiment-analysis"),
        model_name="vader-sentiment",
        dataset_name="finance_sentiment",
        results_filename="r.txt",
        total_samples=10,
    )
    JobShard.objects.create(job=job, index=0, start=0, end=10)
    folder = storage_root() / job.results_dir
    folder.mkdir(parents=True)
    project_delete(project=project)
    assert not Job.objects.filter(pk=job.pk).exists()
    assert not folder.exists()
