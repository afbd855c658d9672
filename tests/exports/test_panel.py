"""The results panel says what the zip holds, from the ML App's plugin (not its name)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core.storage import storage_path
from tests.factories import job_row
from worker.runners.registry import ML_APPS


@pytest.mark.parametrize("app_key", list(ML_APPS))
def test_the_panel_lists_the_folders_the_plugin_writes(catalog, owner_client, owner, app_key):
    job = job_row(owner, name=f"panel-{app_key}", app_key=app_key)
    path = storage_path(job.results_relpath)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x\n")
    try:
        page = owner_client.get(reverse("exports:panel", args=[job.pk])).content.decode()
    finally:
        path.unlink()
    assert "summary.json, errors.jsonl" in page
    folders = ML_APPS[app_key].results_folders
    assert ("segments/" in page) == ("segments/" in folders)
    for folder in folders:
        assert f", {folder}" in page
