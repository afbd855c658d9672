"""With DEBUG off (the default, and what `make run` serves) errors show the app's own pages:
no traceback, no settings, no exception text; static files still load from the manifest."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from django.test import Client

from tests.conftest import ROOT, wait_until
from tests.factories import make_project

SECRET = "planted-secret-key-that-must-never-show"
LEAKS = ("Traceback", "SECRET_KEY", "DATABASE", "Request Method", "RuntimeError", "settings")


@pytest.fixture
def no_debug(settings):
    settings.DEBUG = False
    return settings


def _assert_no_leak(body: str) -> None:
    for leak in LEAKS:
        assert leak not in body, leak


def test_a_server_error_shows_the_apps_500_page_without_a_traceback(no_debug, owner, catalog):
    client = Client(raise_request_exception=False)
    client.force_login(owner)
    with mock.patch(
        "apps.jobs.views.dashboard.dashboard_filter_options",
        side_effect=RuntimeError(f"boom with {SECRET}"),
    ):
        response = client.get("/dashboard/")
    assert response.status_code == 500
    body = response.content.decode()
    assert 'data-testid="error-page"' in body
    assert "Something went wrong on our side" in body
    assert SECRET not in body and "boom" not in body
    _assert_no_leak(body)


def test_an_unknown_address_shows_the_apps_404_page_in_the_layout(no_debug, owner_client):
    response = owner_client.get("/no-such-page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert 'data-testid="error-page"' in body and "Page not found" in body
    assert 'aria-label="Main menu"' in body and ">Dashboard</a>" in body  # the app's layout
    assert "css/app" in body
    _assert_no_leak(body)


def test_outsider_gets_the_apps_404_page_for_someone_elses_project(
    no_debug, owner, outsider_client
):
    project = make_project(owner, "Private plans")
    response = outsider_client.get(f"/projects/{project.pk}/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body and "Private plans" not in body
    _assert_no_leak(body)


def test_a_logged_out_visitor_gets_the_404_page_with_a_way_to_log_in(no_debug, db):
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "Page not found" in body and 'href="/accounts/login/"' in body


# --- served as `make run` serves it: gunicorn, DEBUG unset, collectstatic's manifest ------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def production_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """gunicorn with the environment left at its defaults (no DEBUG, hashed static files)
    and a database that cannot be opened, so /healthz fails the way a lost database does."""
    broken_db = tmp_path / "database-is-a-folder"
    broken_db.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "PLAIN_STATIC")}
    env.update(
        SECRET_KEY=SECRET,
        STATIC_ROOT=str(tmp_path / "static"),
        DATABASE_URL=f"sqlite:///{broken_db}",
        PYTHONUNBUFFERED="1",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run(
        [*manage, "collectstatic", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    port, log = _free_port(), tmp_path / "gunicorn.log"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "apps.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        import requests

        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{log.read_text()[-3000:]}")
            return requests.get(f"{url}/accounts/login/", timeout=10).status_code == 200

        wait_until(
            answers, timeout=180, what="gunicorn to answer", not_ready=(requests.RequestException,)
        )
        yield url, log
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)


def test_the_served_app_keeps_debug_off_serves_hashed_static_and_its_error_pages(
    production_server,
):
    import requests

    url, log = production_server
    login = requests.get(f"{url}/accounts/login/", timeout=30)
    css = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', login.text)
    assert css, "the page does not name the hashed stylesheet (manifest storage)"
    sheet = requests.get(url + css.group(1), timeout=30)
    assert sheet.status_code == 200 and sheet.headers["Content-Type"].startswith("text/css")
    assert ".error-page" in sheet.text

    missing = requests.get(f"{url}/no-such-page/", timeout=30)
    assert missing.status_code == 404
    assert "Page not found" in missing.text and css.group(1) in missing.text
    _assert_no_leak(missing.text)

    broken = requests.get(f"{url}/healthz", timeout=30)  # the database cannot be opened
    assert broken.status_code == 500
    assert "Something went wrong on our side" in broken.text
    assert SECRET not in broken.text and "unable to open" not in broken.text
    _assert_no_leak(broken.text)
    # ...while the server's log has the traceback for the administrator.
    wait_until(lambda: "OperationalError" in log.read_text(), timeout=60, what="the error log")
