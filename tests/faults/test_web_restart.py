"""The web server is killed and started again while a job it created runs: the job never
notices (it lives in the workers and the database) and the restarted server shows it
COMPLETED."""

from __future__ import annotations

import re
import time

import pytest
import requests

from apps.accounts.services import api_token_create
from apps.jobs.models import Job, JobShard, JobStatus
from bench.data import write_sentences
from tests.conftest import PASSWORD
from tests.worker.conftest import results_file

from .conftest import record, wait_until

pytestmark = pytest.mark.worker


def login(base: str, username: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/", timeout=60)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=60,
    )
    assert response.ok and "/accounts/login/" not in response.url
    return session


def test_job_created_through_the_api_survives_a_web_server_kill(
    make_dataset, jobs, owner, web_server
):
    dataset, root = make_dataset()
    write_sentences(root / "reviews.txt", 200_000, seed=41)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {api_token_create(user=owner, name='faults')[1]}"
    created = api.post(
        f"{web_server.url}/api/v1/jobs",
        json={
            "project": jobs.project.name,
            "job": "through-the-web",
            "model_checkpoint": "vader-sentiment",
            "dataset": dataset.name,
            "path": "reviews.txt",
            "settings": {"shard_size": 25_000},
        },
        timeout=120,
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    wait_until(
        lambda: Job.objects.filter(pk=job_id, status="RUNNING", done_samples__gt=0).exists(),
        what="the job in progress",
    )

    web_server.kill()
    killed = time.monotonic()
    done_at_kill = Job.objects.get(pk=job_id).done_samples
    with pytest.raises(requests.ConnectionError):
        api.get(f"{web_server.url}/api/v1/jobs/{job_id}", timeout=30)
    # The workers go on without a web server.
    wait_until(
        lambda: Job.objects.get(pk=job_id).done_samples > done_at_kill,
        what="progress while the web server is down",
    )
    web_server.start()
    back = time.monotonic() - killed

    def finished() -> dict | None:
        info = api.get(f"{web_server.url}/api/v1/jobs/{job_id}", timeout=30).json()
        return info if info["status"] in ("COMPLETED", "FAILED", "STOPPED") else None

    info = wait_until(
        finished, timeout=240, what="the job to end", not_ready=(requests.RequestException,)
    )
    assert info["status"] == "COMPLETED", info
    job = Job.objects.get(pk=job_id)
    assert job.done_samples == job.total_samples == 200_000
    # No shard had to run again: the web server plays no part in running a job.
    assert set(JobShard.objects.filter(job=job).values_list("attempts", flat=True)) == {1}
    lines = results_file(job).read_text().splitlines()
    assert [int(line.split("\t")[0]) for line in lines] == list(range(200_000))
    page = login(web_server.url, owner.username).get(f"{web_server.url}/jobs/{job_id}/", timeout=60)
    assert page.status_code == 200
    assert re.search(r'status-completed" data-testid="job-status">Completed<', page.text)
    assert job.status == JobStatus.COMPLETED
    record("web server killed mid-job: kill → answering again (gunicorn restart)", back)
