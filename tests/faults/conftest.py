"""Faults with real processes: a second worker to kill, the session's Redis to restart, a
gunicorn to restart, and the reaper called the way the beat calls it in production.

The figures each test measures (seconds from the fault to recovery) are printed at the end
of the run, for the README's Reliability section.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.utils import timezone

from apps.catalog.models import Dataset, MLApp, MLModel
from apps.core.redis_embedded import redis_start
from apps.jobs.models import Job, JobStatus
from tests.conftest import ROOT, WorkerPool, _worker_database_url, wait_until
from tests.factories import make_project
from tests.worker.conftest import jobs, make_dataset  # noqa: F401 - fixtures for these tests
from worker.reaper import jobs_reap_stale

TERMINAL = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)
FIGURES: list[tuple[str, float]] = []


def record(what: str, seconds: float) -> None:
    FIGURES.append((what, seconds))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("fault recovery figures")
        for what, seconds in FIGURES:
            terminalreporter.write_line(f"{what}: {seconds:.1f} s")


def finish_with_reaper(job_id: int, *, timeout: float = 240, every: float = 1.0) -> Job:
    """Wait for the job to end, running the reaper every `every` seconds meanwhile.

    In production the beat queues `jobs_reap_stale` every 30 s; here it runs in the test
    process, more often, so a recovery takes seconds instead of a beat period. A reaper
    run that meets a broker that is still coming back fails, as the beat's would.
    """
    deadline = time.monotonic() + timeout
    next_reap = 0.0
    failures: list[str] = []
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.status in TERMINAL:
            return job
        if time.monotonic() >= next_reap:
            try:
                jobs_reap_stale()
            except Exception as exc:  # noqa: BLE001 - a failed run is retried next period
                failures.append(repr(exc))
            next_reap = time.monotonic() + every
        time.sleep(0.1)
    job = Job.objects.get(pk=job_id)
    failed = f"; {len(failures)} reaper run(s) failed, last: {failures[-1]}" if failures else ""
    raise AssertionError(
        f"job {job_id} still {job.status} after {timeout}s: {job.error_message}{failed}"
    )


def job_row(owner: Any, *, name: str, age: timedelta, status: str = JobStatus.QUEUED) -> Job:
    """A job as a crash leaves it: rows only, no task message for it anywhere."""
    old = timezone.now() - age
    job = Job.objects.create(
        project=make_project(owner, name=f"p-{name}"),
        owner=owner,
        name=name,
        ml_app=MLApp.objects.get(key="sentiment-analysis"),
        model=MLModel.objects.get(name="vader-sentiment"),
        model_name="vader-sentiment",
        dataset=Dataset.objects.get(name="finance_sentiment"),
        dataset_name="finance_sentiment",
        dataset_path="test.txt",
        settings={"batch_size": 32},
        status=status,
        results_filename="test_results_finance_sentiment.txt",
    )
    running = {"started_at": old, "heartbeat_at": old} if status != JobStatus.QUEUED else {}
    Job.objects.filter(pk=job.pk).update(created_at=old, **running)
    job.refresh_from_db()
    return job


# --- a second worker -----------------------------------------------------------------


@pytest.fixture
def second_worker(live_worker: WorkerPool) -> Iterator[WorkerPool]:
    """A second `celery worker` (one pool process) beside the session's, killed by tests."""
    pool = WorkerPool("second", 1, Path(os.environ["RUN_DIR"]) / "second-worker.log")
    pool.start()
    wait_until(lambda: pool.children(), what="the second worker's pool process")
    yield pool
    pool.stop()


# --- the session's Redis, stopped and started again at the same socket ----------------


class SessionRedis:
    """Stops the session's redis-server and starts a new one at the same socket path.

    The new server starts empty (the embedded Redis keeps nothing on disk): whatever was
    queued is lost, as after a restart in production.
    """

    def __init__(self, sock: Path, config: Any) -> None:
        self.sock, self.config = sock, config
        self.proc: subprocess.Popen[bytes] | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.sock), socket_timeout=30)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
            return
        # The first server belongs to the session fixture; it is found by its own answer.
        pid = int(self.client().info("server")["process_id"])
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not _alive(pid), timeout=60, what="redis-server to exit")

    def start(self) -> None:
        proc, _ = redis_start(self.sock.parent)
        if self.proc is None:
            # Ours outlives every session fixture, the worker's included: stop it last.
            self.config.add_cleanup(lambda: _terminate(proc))
        self.proc = proc

    def running(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:  # refused, reset or timed out: not running
            return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # The session fixture's child lingers as a zombie until that fixture reaps it.
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=60)


@pytest.fixture
def session_redis(live_worker: WorkerPool, redis_server: Path, request: Any) -> Iterator[Any]:
    restarter = SessionRedis(redis_server, request.config)
    yield restarter
    if not restarter.running():  # a failed test must not leave the next ones without Redis
        restarter.start()


# --- a web server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebServer:
    """gunicorn serving the app on the test database, as `make run` serves it."""

    def __init__(self, log: Path) -> None:
        self.port, self.log = free_port(), log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import requests

        env = {**os.environ, "DATABASE_URL": _worker_database_url(), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "apps.wsgi:application",
                "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--threads", "4",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

        def answers() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log.read_text()[-3000:]}")
            # A restarted gunicorn accepts connections before its worker has imported the
            # app: a refused connection, a read timeout or a reset all mean "not up yet".
            return requests.get(f"{self.url}/healthz", timeout=10).status_code == 200

        wait_until(
            answers,
            timeout=180,
            what="gunicorn to answer",
            not_ready=(requests.RequestException,),
            every=0.1,
        )

    def kill(self) -> None:
        """SIGKILL to the master and its workers: no graceful shutdown."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def web_server(live_worker: WorkerPool) -> Iterator[WebServer]:
    server = WebServer(Path(os.environ["RUN_DIR"]) / "gunicorn.log")
    server.start()
    yield server
    server.stop()
