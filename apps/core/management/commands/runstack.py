"""Serve the whole app on one machine: Redis (unless REDIS_URL is set), a Celery worker
with its beat, and gunicorn. Ctrl-C stops all of them; if one dies, all stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.management import call_command
from django.core.management.base import BaseCommand

from apps.core.env import env_str
from apps.core.redis_embedded import redis_start


class Command(BaseCommand):
    help = "Start Redis (embedded), a Celery worker and the web server; Ctrl-C stops them."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=env_str("BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        self._static_ready()
        if settings.DEBUG:
            self.stdout.write(
                self.style.WARNING(
                    "DEBUG is on: a server error shows its traceback and settings to whoever "
                    "reaches the port. Use it for development only."
                )
            )
        run_dir = settings.RUN_DIR
        run_dir.mkdir(parents=True, exist_ok=True)
        procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        if not env_str("REDIS_URL"):
            redis, sock = redis_start(run_dir)
            procs.append(("redis", redis))
            self.stdout.write(f"redis-server (embedded) on {sock}")
        python = sys.executable
        procs.append(
            (
                "worker",
                subprocess.Popen(
                    [
                        python,
                        "-m",
                        "celery",
                        "-A",
                        "worker",
                        "worker",
                        "-Q",
                        "inference,exports",
                        "-B",
                        "-s",
                        str(run_dir / "celerybeat-schedule"),
                        "--concurrency",
                        str(settings.CELERY_WORKER_CONCURRENCY),
                        "--without-mingle",
                        "--without-gossip",
                        "-O",
                        "fair",
                        "--loglevel",
                        settings.LOG_LEVEL,
                    ],
                    env=env,
                ),
            )
        )
        procs.append(
            (
                "web",
                subprocess.Popen(
                    [
                        python,
                        "-m",
                        "gunicorn",
                        "apps.wsgi:application",
                        "--bind",
                        options["bind"],
                        "--workers",
                        str(options["web_workers"]),
                        "--threads",
                        "4",
                        "--timeout",
                        "120",
                        "--access-logfile",
                        "-",
                    ],
                    env=env,
                ),
            )
        )
        self.stdout.write(self.style.SUCCESS(f"BatchStudio is up on http://{options['bind']}/"))
        self.stdout.write("Press Ctrl-C to stop the web server, the worker and Redis.")
        stopping = False

        def _stop(*_: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        exit_code = 0
        while not stopping:
            for name, proc in procs:
                if proc.poll() is not None:
                    self.stderr.write(f"{name} exited with status {proc.returncode}; stopping.")
                    exit_code, stopping = 1, True
                    break
            time.sleep(0.5)
        # Web first (no new jobs), then the worker (warm shutdown), Redis last.
        for name, proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
            self.stdout.write(f"stopped {name}")
        if exit_code:
            raise SystemExit(exit_code)

    def _static_ready(self) -> None:
        """With DEBUG off, pages name the hashed files of collectstatic's manifest; without
        the manifest every page would be a server error, so collect them first."""
        storage = staticfiles_storage  # a lazy proxy: isinstance sees the configured class
        if not isinstance(storage, ManifestFilesMixin):
            return  # DEBUG or PLAIN_STATIC: plain names, served from the source folders
        if not storage.manifest_storage.exists(storage.manifest_name):
            self.stdout.write(f"Collecting static files into {settings.STATIC_ROOT}...")
            call_command("collectstatic", interactive=False, verbosity=0)
