from __future__ import annotations

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


@pytest.fixture
def logged_in_page(page: Any, live_server: Any, owner: Any) -> Any:
    from tests.conftest import PASSWORD

    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/projects/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/projects/")
    return page
