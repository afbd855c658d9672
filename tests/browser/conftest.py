"""Playwright driving Debian's chromium: launch options, one login, generous waits, and a
screenshot of every page a test walks through (to look at the layout, not to compare)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import ROOT

# Upper bounds, not expected durations: two cores are shared with the worker processes and
# other suites, and a passing wait returns as soon as its condition holds.
EXPECT_TIMEOUT_MS = 30_000
PAGE_TIMEOUT_MS = 60_000
expect.set_options(timeout=EXPECT_TIMEOUT_MS)


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


@pytest.fixture
def context(context: Any) -> Any:
    """pytest-playwright's context, with the generous default for clicks, fills and gotos."""
    return with_timeouts(context)


def with_timeouts(context: Any) -> Any:
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    context.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
    return context


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
    return login(page, live_server, owner)


def screenshots_folder() -> Path:
    """BROWSER_SCREENSHOTS, else var/screenshots/ in the checkout (git ignores var/)."""
    return Path(os.environ.get("BROWSER_SCREENSHOTS") or ROOT / "var" / "screenshots")


def shot(page: Any, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot of what the test sees, to be looked at by a person.

    With a modal dialog open take the viewport only (`full_page=False`): the backdrop is
    fixed to the viewport, so a full-page capture shows it covering half the page.
    """
    folder = screenshots_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{re.sub(r'[^a-z0-9-]+', '-', name.lower())}.png"
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path
