"""Test session: a real redis-server and real Celery worker processes, no eager mode.

The environment is set by tests/_environment.py, loaded with `-p` before Django starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

ROOT = Path(__file__).resolve().parent.parent
# How long a test waits for a small job to end. CI shares its cores, so this is a generous
# upper bound: a passing test goes on as soon as the job has ended.
JOB_DEADLINE = 240


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Path]:
    from apps.core.redis_embedded import redis_start

    proc, sock = redis_start(Path(os.environ["RUN_DIR"]))
    yield sock
    proc.terminate()
    proc.wait(timeout=60)


def _worker_database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{s['NAME']}"
    host = s.get("HOST") or "localhost"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{host}:{s.get('PORT') or 5432}/{s['NAME']}"


class WorkerPool:
    """One `celery worker` (prefork) started by the test session."""

    running: ClassVar[int] = 0  # how many pools of this session are up

    def __init__(self, name: str, concurrency: int, log: Path) -> None:
        self.name, self.concurrency, self.log = name, concurrency, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.counted = False

    def start(self) -> None:
        env = {**os.environ, "DATABASE_URL": _worker_database_url(), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "worker",
                "worker",
                "-Q",
                "inference,exports",
                "-n",
                f"{self.name}@%h",
                "--concurrency",
                str(self.concurrency),
                "--pool",
                "prefork",
                "--without-mingle",
                "--without-gossip",
                "-O",
                "fair",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 180) -> None:
        from worker.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"worker exited; see {self.log}:\n{self.log.read_text()[-3000:]}"
                )
            replies = app.control.ping(timeout=1.0)
            if any(f"{self.name}@" in key for reply in replies for key in reply):
                if not self.counted:
                    WorkerPool.running += 1
                    self.counted = True
                return
        raise RuntimeError(f"worker not ready in {timeout}s; see {self.log}")

    def children(self) -> list[int]:
        assert self.proc is not None
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(pid) for pid in out.split()]

    def stop(self) -> None:
        if self.counted:
            WorkerPool.running -= 1
            self.counted = False
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="session")
def celery_worker(
    redis_server: Path, django_db_setup: Any, django_db_blocker: Any
) -> Iterator[WorkerPool]:
    """Two worker processes (prefork, concurrency 2) on the test database."""
    pool = WorkerPool("test", 2, Path(os.environ["RUN_DIR"]) / "worker.log")
    pool.start()
    yield pool
    pool.stop()


@pytest.fixture
def catalog(transactional_db: Any) -> Iterator[dict[str, int]]:
    from apps.catalog.services import catalog_sync

    yield catalog_sync()
    _quiesce_jobs()


def _quiesce_jobs(timeout: float = 180) -> None:
    """Stop what the session worker is still doing before the database is flushed.

    A job a test queued but did not wait for may be running when the test ends; on
    PostgreSQL the flush (TRUNCATE) and a shard's transaction would deadlock. Giving up
    quietly would only move the failure to a later test, so a worker that never settles
    fails the test that left it busy.
    """
    from apps.jobs.models import ACTIVE_STATUSES, Job, JobShard, ShardStatus

    Job.objects.filter(status__in=ACTIVE_STATUSES).update(status="STOPPED")
    JobShard.objects.filter(status=ShardStatus.PENDING).update(status=ShardStatus.CANCELLED)
    if not WorkerPool.running:
        return  # nothing was ever started that could still be running
    wait_until(
        lambda: not JobShard.objects.filter(status=ShardStatus.RUNNING).exists(),
        timeout=timeout,
        what="the running shards to see the stop",
    )
    # A shard that saw the stop may still be writing its last rows: wait for the worker's
    # processes to hold no task at all (the last write happens inside the task).
    wait_worker_idle(timeout=timeout)


def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 120,
    what: str = "condition",
    not_ready: tuple[type[BaseException], ...] = (),
    every: float = 0.05,
) -> Any:
    """Poll `predicate` until it returns something true, or fail after `timeout` seconds.

    Deadlines are generous upper bounds (CI shares its cores): a passing test returns as
    soon as the condition holds. Exceptions listed in `not_ready` (a server still
    starting, a connection refused, a read timeout) count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except not_ready as exc:
            last, value = exc, None
        if value:
            return value
        time.sleep(every)
    detail = f" (last error: {last!r})" if last is not None else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")


def wait_worker_idle(timeout: float = 180) -> None:
    """Wait until the session's workers hold no task (active or reserved) and no message
    waits in their queues: a leftover shard message would change what the next test's
    reaper sees."""
    from worker.celery import app

    def idle() -> bool:
        if _queued_messages():
            return False
        # `limit`: answer as soon as every pool of the session has replied.
        inspector = app.control.inspect(timeout=5.0, limit=max(WorkerPool.running, 1))
        active, reserved = inspector.active(), inspector.reserved()
        if active is None or reserved is None:
            return False  # no worker answered in time: a busy worker is not an idle one
        return not any(active.values()) and not any(reserved.values())

    wait_until(
        idle, timeout=timeout, what="the worker to be idle", not_ready=(Exception,), every=0.1
    )


def _queued_messages() -> int:
    """Messages waiting in the worker queues (kombu keeps one list per priority step)."""
    from tests.leaks import redis_client

    client = redis_client()
    total = 0
    for key in client.scan_iter(count=1000):
        queue = key.decode(errors="replace").split("\x06")[0]
        if queue in ("inference", "exports") and client.type(key) == b"list":
            total += int(client.llen(key))
    return total


@pytest.fixture
def live_worker(celery_worker: WorkerPool, catalog: dict[str, int]) -> WorkerPool:
    """A test that runs real jobs: committed data (transactional_db) and a live worker."""
    return celery_worker


# --- personas ------------------------------------------------------------------------

PASSWORD = "correct-horse-battery-staple-42"


@pytest.fixture
def owner(db: Any) -> Any:
    from apps.accounts.services import user_create

    return user_create(username="olivia", password=PASSWORD)


@pytest.fixture
def colleague(db: Any, owner: Any) -> Any:
    from apps.accounts.services import user_create

    return user_create(
        username="colin", password=PASSWORD, organization=owner.membership.organization
    )


@pytest.fixture
def outsider(db: Any) -> Any:
    from apps.accounts.services import user_create

    return user_create(username="oscar", password=PASSWORD)


@pytest.fixture
def owner_client(client: Any, owner: Any) -> Any:
    client.force_login(owner)
    return client


@pytest.fixture
def outsider_client(outsider: Any) -> Any:
    from django.test import Client

    c = Client()
    c.force_login(outsider)
    return c


def wait_for_job(
    job_id: int,
    statuses: tuple[str, ...] = ("COMPLETED", "FAILED", "STOPPED"),
    timeout: float = JOB_DEADLINE,
) -> Any:
    from apps.jobs.models import Job

    def reached() -> Any:
        job = Job.objects.get(pk=job_id)
        return job if job.status in statuses else None

    try:
        return wait_until(reached, timeout=timeout, what=f"job {job_id}", every=0.2)
    except AssertionError:
        job = Job.objects.get(pk=job_id)
        log = Path(os.environ["RUN_DIR"]) / "worker.log"
        tail = log.read_text(errors="replace")[-4000:] if log.exists() else "(no worker log)"
        raise AssertionError(
            f"job {job_id} still {job.status} after {timeout}s: {job.error_message}\n"
            f"the worker's log ends:\n{tail}"
        ) from None


@pytest.fixture
def cli(live_server: Any, owner: Any, tmp_path: Path) -> Any:
    """Run `batchstudio` as a subprocess, logged in as `owner` to the live server."""
    from apps.accounts.services import api_token_create

    token = api_token_create(user=owner, name="cli")[1]
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "BATCHSTUDIO_HOST": "",
        "BATCHSTUDIO_TOKEN": "",
    }

    def run(
        *args: str, check: bool = True, input: str | None = None, extra_env: dict | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            # `job create --wait` follows a whole job: bound it as a test's wait for a job.
            timeout=JOB_DEADLINE,
            input=input,
            cwd=tmp_path,
        )
        if check:
            assert result.returncode == 0, result.stderr
        return result

    run("login", "--host", live_server.url, "--token", token)
    return run
