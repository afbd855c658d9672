from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    # Debian's chromium: Playwright cannot download its own browser here.
    return {
        "executable_path": "/usr/bin/chromium",
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1360, "height": 900}}


def login(page: Any, live_server: Any, user: Any) -> Any:
    from tests.conftest import PASSWORD

    page.goto(f"{live_server.url}/projects/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/projects/")
    return page


@pytest.fixture
def logged_in_page(page: Any, live_server: Any, owner: Any) -> Any:
    page.set_default_timeout(15_000)
    return login(page, live_server, owner)


def shot(page: Any, name: str) -> None:
    """Save a screenshot when BATCHSTUDIO_SCREENSHOTS names a folder (to look at the pages)."""
    folder = os.environ.get("BATCHSTUDIO_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
