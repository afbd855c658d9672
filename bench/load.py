"""Load benchmark (not a test): `.venv/bin/python -m bench.load`.

1. 200 sentiment jobs queued at once on one worker with 2 processes: all must complete, and
   every results file must equal the one of a job run alone.
2. The dashboard with 10,000 jobs in the database: server time of one page (in-process,
   Django test client) and, under 20 concurrent clients polling it through gunicorn on
   loopback for a fixed time, the p50/p95/p99 latency.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

from bench.stack import ROOT, Stack, Worker

PASSWORD = "bench-password-not-used-1"  # noqa: S105 - the throw-away bench user


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def many_jobs(stack: Stack, count: int) -> dict[str, Any]:
    from apps.catalog.models import Dataset
    from apps.core.storage import storage_root
    from apps.jobs.models import Job

    dataset = Dataset.objects.get(name="finance_sentiment")
    with Worker(stack, 2):
        reference = stack.job_create(
            ml_app="sentiment-analysis",
            model="vader-sentiment",
            dataset=dataset,
            path="test.txt",
            settings={},
        )
        _wait([reference.pk])
        expected = (storage_root() / Job.objects.get(pk=reference.pk).results_relpath).read_bytes()
        started = time.perf_counter()
        ids = [
            stack.job_create(
                ml_app="sentiment-analysis",
                model="vader-sentiment",
                dataset=dataset,
                path="test.txt",
                settings={},
            ).pk
            for _ in range(count)
        ]
        queued = time.perf_counter() - started
        _wait(ids, timeout=900)
        elapsed = time.perf_counter() - started
    jobs = list(Job.objects.filter(pk__in=ids))
    statuses = {j.status for j in jobs}
    identical = sum((storage_root() / j.results_relpath).read_bytes() == expected for j in jobs)
    return {
        "jobs": count,
        "statuses": sorted(statuses),
        "identical_results": identical,
        "seconds_to_queue": round(queued, 2),
        "seconds_to_drain": round(elapsed, 2),
        "jobs_per_second": round(count / elapsed, 1),
    }


def _wait(ids: list[int], timeout: float = 300) -> None:
    from apps.jobs.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        active = Job.objects.filter(pk__in=ids, status__in=["QUEUED", "RUNNING", "STOPPING"])
        if not active.exists():
            return
        time.sleep(0.5)
    raise RuntimeError(f"jobs still active after {timeout}s")


def seed_jobs(stack: Stack, count: int) -> None:
    from apps.catalog.models import Dataset, MLApp, MLModel
    from apps.jobs.models import Job
    from apps.projects.services import project_create

    app = MLApp.objects.get(key="sentiment-analysis")
    model = MLModel.objects.get(name="vader-sentiment")
    dataset = Dataset.objects.get(name="finance_sentiment")
    projects = [project_create(owner=stack.owner, name=f"load-{i}") for i in range(20)]
    statuses = ["COMPLETED"] * 7 + ["FAILED", "STOPPED", "RUNNING"]
    Job.objects.bulk_create(
        Job(
            project=projects[i % len(projects)],
            owner=stack.owner,
            name=f"seeded-{i}",
            ml_app=app,
            model=model,
            model_name=model.name,
            dataset=dataset,
            dataset_name=dataset.name,
            settings={"batch_size": 32},
            status=statuses[i % len(statuses)],
            results_filename="test_results_finance_sentiment.txt",
            total_samples=40,
            done_samples=40 if i % 10 != 9 else 12,
        )
        for i in range(count)
    )


def dashboard_server_time(stack: Stack, rounds: int = 30) -> dict[str, float]:
    from django.test import Client

    client = Client()
    client.force_login(stack.owner)
    client.get("/dashboard/")  # warm
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = client.get("/dashboard/")
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return {
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(sorted(times)[int(0.95 * len(times)) - 1], 1),
    }


def dashboard_under_load(
    stack: Stack, clients: int, seconds: float, interval: float
) -> dict[str, Any]:
    """Each client loads the dashboard every `interval` seconds (0: back to back)."""
    import requests

    port = _free_port()
    env = {**os.environ, "DEBUG": "0", "ALLOWED_HOSTS": "127.0.0.1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "apps.wsgi:application", "--bind",
         f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        session = _login(base)
        cookies = session.cookies.get_dict()
        latencies: list[float] = []
        errors = [0]
        lock = threading.Lock()
        stop_at = time.monotonic() + seconds

        def poll(offset: float) -> None:
            s = requests.Session()
            s.cookies.update(cookies)
            time.sleep(offset)  # pages opened at different moments poll out of step
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                response = s.get(f"{base}/dashboard/", timeout=30)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed * 1000)
                    errors[0] += response.status_code != 200
                time.sleep(max(0.0, interval - elapsed))

        threads = [
            threading.Thread(target=poll, args=(interval * i / clients,)) for i in range(clients)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        server.terminate()
        server.wait(timeout=20)
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1)

    return {
        "clients": clients,
        "interval_s": interval,
        "requests": len(latencies),
        "errors": errors[0],
        "requests_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": pct(0.50),
        "p95_ms": pct(0.95),
        "p99_ms": pct(0.99),
    }


def _login(base: str) -> Any:
    import requests

    session = requests.Session()
    deadline = time.monotonic() + 30
    while True:
        try:
            session.get(f"{base}/accounts/login/", timeout=5)
            break
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    response = session.post(
        f"{base}/accounts/login/",
        data={
            "username": "bench",
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{base}/accounts/login/"},
        timeout=10,
    )
    assert "/accounts/login/" not in response.url, "login failed"
    return session


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    # The in-process measurement uses Django's test client, whose host is "testserver".
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost,testserver"
    stack = Stack()
    try:
        stack.start()
        print("== 200 jobs at once on 2 worker processes")
        print(many_jobs(stack, args.jobs))
        seed_jobs(stack, args.seed)
        print(f"== dashboard with {args.seed:,} more jobs, one page, in-process server time")
        print(dashboard_server_time(stack))
        for interval in (2.0, 0.0):
            how = f"each polling every {interval:.0f} s" if interval else "back to back"
            print(
                f"== dashboard under {args.clients} concurrent clients, {how}, "
                f"{args.seconds:.0f} s (gunicorn, 2 processes x 4 threads, loopback)"
            )
            print(dashboard_under_load(stack, args.clients, args.seconds, interval))
    finally:
        stack.close()


if __name__ == "__main__":
    main()
