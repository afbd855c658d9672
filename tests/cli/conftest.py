"""Small HTTP servers the CLI tests point `batchstudio` at where a real server cannot give
the answer: an HTML page (a proxy's, a crashed server's), or canned JSON for states a real
job passes through too fast or too racily to catch (a job sitting QUEUED, a given rate)."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest

from tests.conftest import ROOT


@contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """The URL of a server answering with `handler` on a free local port, while open."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        # The request body is read first, so the client always gets the answer.
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _HtmlPages(_Quiet):
    """Answers /<status>/... with that status and an HTML page, as a proxy or a crashed
    server does."""

    def _answer(self) -> None:
        status = int(self.path.strip("/").split("/")[0])
        body = b"<!DOCTYPE html><html><body><h1>Oops</h1>" + b"<p>x</p>" * 500 + b"</body></html>"
        self._send(status, "text/html; charset=utf-8", body)

    do_GET = do_POST = do_DELETE = _answer


@pytest.fixture
def html_server() -> Iterator[str]:
    with serving(_HtmlPages) as url:
        yield url


class FakeApi:
    """Canned JSON answers of the REST API, by route ("GET /jobs/7": method and path below
    /api/v1, without the query). Each request to a route takes the next of its answers,
    and the last one repeats, so a job can be QUEUED for a few polls and then end."""

    def __init__(self, config_home: Path) -> None:
        self.url = ""
        self.config_home = config_home
        self.requests: list[str] = []  # the routes asked for, in order
        self._answers: dict[str, list[tuple[int, Any]]] = {}
        self._lock = threading.Lock()

    def answer(self, route: str, *bodies: Any, status: int = 200) -> None:
        self._answers[route] = [(status, body) for body in bodies]

    def take(self, route: str) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(route)
            answers = self._answers.get(route)
            if not answers:
                return 404, {"message": f"the fake API has no answer for {route}"}
            return answers.pop(0) if len(answers) > 1 else answers[0]

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "BATCHSTUDIO_HOST": self.url,
            "BATCHSTUDIO_TOKEN": "bst_fake",
            "XDG_CONFIG_HOME": str(self.config_home),
        }

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `batchstudio` against this server; its stdout and stderr are not terminals."""
        result = subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if check:
            assert result.returncode == 0, (result.stdout, result.stderr)
        return result


class _CannedJson(_Quiet):
    api: ClassVar[FakeApi]

    def _answer(self) -> None:
        path = urlsplit(self.path).path.removeprefix("/api/v1")
        status, body = self.api.take(f"{self.command} {path}")
        self._send(status, "application/json", json.dumps(body).encode())

    do_GET = do_POST = do_DELETE = _answer


@pytest.fixture
def fake_api(tmp_path: Path) -> Iterator[FakeApi]:
    api = FakeApi(tmp_path / "config")
    handler = type("_Answers", (_CannedJson,), {"api": api})
    with serving(handler) as url:
        api.url = url
        yield api
