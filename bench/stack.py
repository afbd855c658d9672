"""A throw-away BatchStudio for the benchmark: temp VAR_DIR, SQLite, embedded Redis and
Celery workers started and stopped on demand, so measurements never touch a real install.

The environment is set before Django is imported: settings (and Celery's broker URL) are
read once, at import time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_PASSWORD = "bench-password-not-used-1"  # noqa: S105 - temp database, deleted after


class Stack:
    def __init__(self, keep: bool = False) -> None:
        # A short base path: the redis unix socket path must stay under 107 bytes.
        self.var = Path(tempfile.mkdtemp(prefix="bsb-"))
        self.keep = keep
        os.environ.update(
            {
                "VAR_DIR": str(self.var),
                "RUN_DIR": str(self.var / "run"),
                "STORAGE_ROOT": str(self.var / "storage"),
                "DATABASE_URL": f"sqlite:///{self.var / 'bench.sqlite3'}",
                "PLAIN_STATIC": "1",
                "LOG_LEVEL": "WARNING",
                "OMP_NUM_THREADS": "1",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
            }
        )
        # Weights assembled once (the LLM's conversion takes minutes) stay in the checkout's
        # cache, where `make bench` prepared them, not in the throw-away VAR_DIR.
        os.environ.setdefault("MODEL_CACHE_DIR", str(ROOT / "var" / "model-cache"))
        os.environ.pop("REDIS_URL", None)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.settings")
        self.redis: subprocess.Popen[bytes] | None = None
        self.owner: Any = None
        self.project: Any = None
        self._datasets = 0
        self._jobs = 0

    def start(self) -> None:
        import django

        django.setup()
        from django.core.management import call_command

        from apps.accounts.services import user_create
        from apps.catalog.services import catalog_sync
        from apps.core.redis_embedded import redis_start
        from apps.projects.services import project_create

        call_command("migrate", verbosity=0, interactive=False)
        catalog_sync()
        self.redis, _ = redis_start(self.var / "run")
        # A throw-away user in a throw-away database (bench.load logs in with it).
        self.owner = user_create(username="bench", password=BENCH_PASSWORD)
        self.project = project_create(owner=self.owner, name="Benchmark")

    def close(self) -> None:
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(timeout=10)
        if not self.keep:
            shutil.rmtree(self.var, ignore_errors=True)

    @property
    def storage(self) -> Path:
        return self.var / "storage"

    def dataset(self, ml_app: str, files: list[Path]) -> Any:
        """A private dataset of the bench user holding `files` (moved into its folder)."""
        from apps.catalog.models import Dataset, MLApp, Visibility

        self._datasets += 1
        dataset = Dataset.objects.create(
            name=f"bench-{self._datasets}",
            owner=self.owner,
            organization=self.owner.membership.organization,
            visibility=Visibility.PRIVATE,
            folder="",
        )
        dataset.folder = f"datasets/{dataset.pk}"
        dataset.save(update_fields=["folder"])
        dataset.ml_apps.add(MLApp.objects.get(key=ml_app))
        folder = self.storage / dataset.folder
        folder.mkdir(parents=True, exist_ok=True)
        for file in files:
            if file.is_dir():  # a folder of samples (audio files)
                shutil.copytree(file, folder / file.name)
            else:
                shutil.copy(file, folder / file.name)
        return dataset

    def job_create(
        self, *, ml_app: str, model: str, dataset: Any, path: str, settings: dict
    ) -> Any:
        from apps.catalog.models import MLApp, MLModel
        from apps.jobs.services import job_create

        self._jobs += 1
        return job_create(
            user=self.owner,
            project=self.project,
            name=f"bench-{self._jobs}",
            ml_app=MLApp.objects.get(key=ml_app),
            model=MLModel.objects.get(name=model),
            dataset=dataset,
            dataset_path=path,
            settings=settings,
        )


class Worker:
    """One `celery worker` with `processes` prefork pool processes."""

    def __init__(self, stack: Stack, processes: int) -> None:
        self.stack, self.processes = stack, processes
        self.name = f"bench{processes}-{time.monotonic_ns()}"
        self.log = stack.var / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Worker:
        from worker.celery import app

        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "worker", "worker",
                "-Q", "inference", "-n", f"{self.name}@%h",
                "--concurrency", str(self.processes), "--pool", "prefork",
                "--without-mingle", "--without-gossip", "-O", "fair", "--loglevel", "WARNING",
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited:\n{self.log.read_text()[-3000:]}")
            replies = app.control.ping(timeout=0.5)
            if any(f"{self.name}@" in key for reply in replies for key in reply):
                # The pool processes are forked once the worker answers pings.
                while len(self.children()) < self.processes:
                    time.sleep(0.05)
                return self
        raise RuntimeError(f"worker not ready in 60 s; see {self.log}")

    def __exit__(self, *_: object) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def children(self) -> list[int]:
        assert self.proc is not None
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(pid) for pid in out.split()]

    def peak_rss(self) -> int:
        """The largest peak resident set (VmHWM) among the pool processes, in bytes."""
        peaks = []
        for pid in self.children():
            status = Path(f"/proc/{pid}/status").read_text()
            line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
            peaks.append(int(line.split()[1]) * 1024)
        return max(peaks)

    def cpu_seconds(self) -> float:
        """CPU time used so far by the worker: its main process and its pool processes."""
        assert self.proc is not None
        return sum(process_cpu_seconds(pid) for pid in [self.proc.pid, *self.children()])


_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used since boot (/proc/stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICK  # minus idle and iowait
