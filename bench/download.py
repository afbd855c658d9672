"""Download benchmark: a 5 GB results file through the real download view, served by
gunicorn on loopback, with the server process's memory sampled all along.

Not a test: `.venv/bin/python -m bench.download [--size-gb 5] [--modes file,readloop,zip]`.

Modes: `file` is the results file as deployed (gunicorn hands it to sendfile()), `readloop`
the same with gunicorn's --no-sendfile (every byte goes through Python, as under a server
without sendfile), `zip` the whole results folder as a zip built on the fly (CRC-32 of
every byte in Python). The file is sparse, so the disk is not the bottleneck and nothing
is written but the file's metadata. Everything lives in a temporary folder, removed after.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


class Sampler(threading.Thread):
    def __init__(self, pid: int, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, _rss_kib(self.pid))
            self.samples += 1
            time.sleep(self.every)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _setup(tmp: Path, size: int, real: bool) -> tuple[int, str, Path]:
    """A user, a COMPLETED job whose results file is `size` sparse bytes, a session."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    from apps.accounts.services import user_create
    from apps.catalog.models import MLApp
    from apps.jobs.models import Job, JobStatus
    from apps.projects.services import project_create

    call_command("migrate", verbosity=0)
    user = user_create(username="bench", password=secrets.token_urlsafe(16))
    project = project_create(owner=user, name="bench")
    app, _ = MLApp.objects.get_or_create(
        key="bench-download",
        defaults={"name": "Bench", "input_kind": "text", "results_filename": "predictions.txt"},
    )
    job = Job.objects.create(
        project=project,
        owner=user,
        name="big-results",
        ml_app=app,
        model_name="none",
        dataset_name="none",
        results_filename="predictions.txt",
        status=JobStatus.COMPLETED,
    )
    folder = tmp / "storage" / "results" / str(job.pk)
    folder.mkdir(parents=True)
    results = folder / "predictions.txt"
    with results.open("wb") as fh:
        if real:  # written bytes, as a real results file (costs `size` of disk)
            block = os.urandom(MIB)
            for _ in range(size // MIB):
                fh.write(block)
        fh.truncate(size)  # else sparse: reads as zeros, costs no disk
    (folder / "summary.json").write_text('{"counts": {}}')
    client = Client()
    client.force_login(user)
    return job.pk, client.cookies["sessionid"].value, results


def _serve(env: dict[str, str], port: int, sendfile: bool) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable, "-m", "gunicorn", "apps.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "sync",
        "--timeout", "900", "--log-level", "warning",
    ]  # fmt: skip
    if not sendfile:
        cmd.append("--no-sendfile")
    return subprocess.Popen(cmd, cwd=ROOT, env=env)


def _wait_up(port: int, proc: subprocess.Popen[bytes]) -> int:
    import requests

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            workers = _children(proc.pid)
            if workers:
                return workers[0]
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def _download(url: str, cookie: str, headers: dict[str, str] | None = None) -> tuple[int, int, int]:
    import requests

    with requests.get(
        url, cookies={"sessionid": cookie}, headers=headers or {}, stream=True, timeout=60
    ) as response:
        length = int(response.headers["Content-Length"])
        got = 0
        for chunk in response.iter_content(chunk_size=MIB):
            got += len(chunk)
        return response.status_code, length, got


def run_mode(mode: str, env: dict[str, str], job_id: int, cookie: str, size: int) -> dict:
    port = _free_port()
    proc = _serve(env, port, sendfile=(mode != "readloop"))
    try:
        worker = _wait_up(port, proc)
        base = f"http://127.0.0.1:{port}/jobs/{job_id}/results/download/"
        url = base + ("?format=zip" if mode == "zip" else "")
        # Warm up: Django loaded, first request served, before the baseline.
        _download(base, cookie, {"Range": "bytes=0-1023"})
        before = _rss_kib(worker)
        sampler = Sampler(worker)
        sampler.start()
        start = time.monotonic()
        status, length, got = _download(url, cookie)
        seconds = time.monotonic() - start
        sampler.stop()
        assert status == 200 and got == length, (status, length, got)
        if mode != "zip":
            assert length == size
            # And a resume: the last 64 MiB with a Range.
            status, length, got = _download(base, cookie, {"Range": f"bytes={size - 64 * MIB}-"})
            assert status == 206 and got == length == 64 * MIB
        return {
            "mode": mode,
            "bytes": got if mode == "zip" else size,
            "seconds": seconds,
            "rss_before_mib": before / 1024,
            "rss_peak_mib": sampler.peak / 1024,
            "samples": sampler.samples,
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.download", description=__doc__)
    parser.add_argument("--size-gb", type=float, default=5.0)
    parser.add_argument("--modes", default="file,readloop,zip")
    parser.add_argument(
        "--real", action="store_true", help="write the file's bytes instead of a sparse file"
    )
    args = parser.parse_args(argv)
    size = int(args.size_gb * 1024**3)
    tmp = Path(tempfile.mkdtemp(prefix="bs-bench-dl-"))
    env = {
        **os.environ,
        "VAR_DIR": str(tmp),
        "RUN_DIR": str(tmp / "run"),
        "STORAGE_ROOT": str(tmp / "storage"),
        "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1",
        "PLAIN_STATIC": "1",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "apps.settings",
    }
    os.environ.update(env)
    (tmp / "staticfiles").mkdir()  # whitenoise warns about a missing STATIC_ROOT otherwise
    try:
        job_id, cookie, _ = _setup(tmp, size, args.real)
        kind = "written" if args.real else "sparse"
        print(f"results file: {size / 1024**3:.2f} GiB ({kind}), gunicorn sync worker, loopback")
        print(f"{'mode':<9} {'GiB':>6} {'s':>7} {'MB/s':>8} {'RSS before':>11} {'RSS peak':>9}")
        for mode in args.modes.split(","):
            r = run_mode(mode, env, job_id, cookie, size)
            print(
                f"{r['mode']:<9} {r['bytes'] / 1024**3:6.2f} {r['seconds']:7.1f} "
                f"{r['bytes'] / r['seconds'] / 1e6:8.0f} {r['rss_before_mib']:9.1f} M "
                f"{r['rss_peak_mib']:7.1f} M"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
