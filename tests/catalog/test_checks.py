"""The ML App registry is the one source: `manage.py check` fails while the MLApp rows and
the plugins disagree, and a plugin must say everything the platform needs."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from apps.catalog.management.commands.catalog_sync import Command as CatalogSync
from apps.catalog.models import MLApp
from worker.runners.plugin import MLAppPlugin
from worker.runners.registry import ML_APPS, PLUGINS


def _check() -> None:
    call_command("check", "--tag", "catalog")


def test_a_synced_catalog_passes_the_check(catalog):
    _check()
    assert set(MLApp.objects.values_list("key", flat=True)) == set(ML_APPS)


def test_a_plugin_without_its_row_fails_the_check(catalog):
    # A renamed row: its key has no plugin, and the plugin has no row.
    MLApp.objects.filter(key="named-entity-recognition").update(key="ner-old")
    with pytest.raises(SystemCheckError) as failed:
        _check()
    assert "catalog.E001" in str(failed.value) and "'ner-old'" in str(failed.value)
    assert "catalog.E002" in str(failed.value)
    assert "'named-entity-recognition' has no ML App row" in str(failed.value)


def test_catalog_sync_runs_while_the_check_fails_and_fixes_it(catalog):
    MLApp.objects.filter(key="sentiment-analysis").update(results_format="old")
    with pytest.raises(SystemCheckError, match=r"catalog\.E003"):
        _check()
    # The fix the hint names: from the shell it runs no checks, so the failing one cannot
    # stop it.
    assert CatalogSync.requires_system_checks == []
    call_command("catalog_sync")
    _check()


def test_a_row_without_a_plugin_fails_the_check(catalog):
    MLApp.objects.create(key="retired-app", name="Retired", input_kind="text")
    with pytest.raises(SystemCheckError, match=r"catalog\.E001.*'retired-app'"):
        _check()


def test_a_row_that_drifted_from_its_plugin_fails_the_check(catalog):
    MLApp.objects.filter(key="sentiment-analysis").update(settings_schema=[], name="Old")
    with pytest.raises(SystemCheckError, match=r"catalog\.E003.*in: name, settings_schema"):
        _check()


def test_every_plugin_is_complete_and_keys_are_unique():
    assert len(ML_APPS) == len(PLUGINS)
    for plugin in PLUGINS:
        assert isinstance(plugin, MLAppPlugin)
        names = [spec["name"] for spec in plugin.settings_schema]
        assert len(names) == len(set(names)), plugin.key
        assert set(plugin.load_settings) <= set(names), plugin.key
        assert plugin.min_shard_samples >= 1


def test_a_plugin_that_leaves_something_out_is_refused_when_defined():
    with pytest.raises(TypeError, match="must set results_filename, results_format"):

        class Incomplete(MLAppPlugin):  # noqa: F841 - defining it is the test
            key = "incomplete"
            name = "Incomplete"
            description = "No results file."
            input_kind = "text"

    with pytest.raises(TypeError, match="input_kind must be one of"):

        class Video(MLAppPlugin):  # noqa: F841
            key = "video"
            name = "Video"
            description = "Frames."
            input_kind = "video"
            results_filename = "v.txt"
            results_format = "one line a frame"

    with pytest.raises(TypeError, match="preview must be one of"):

        class Chart(MLAppPlugin):  # noqa: F841
            key = "chart"
            name = "Chart"
            description = "Charts."
            input_kind = "text"
            results_filename = "c.txt"
            results_format = "one line a chart"
            preview = "chart"


def test_every_preview_a_plugin_may_name_has_a_reader():
    from apps.jobs.preview import READERS
    from worker.runners.plugin import PREVIEWS

    assert set(READERS) == PREVIEWS
    assert {plugin.preview for plugin in PLUGINS} <= PREVIEWS
