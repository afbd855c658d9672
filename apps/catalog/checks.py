"""`manage.py check`: the MLApp rows and the ML App registry (worker.runners.registry) hold
the same apps with the same values, so no job is created for an app no worker can run, no
app is missing from the wizard, and the settings the web validates are the plugin's."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, register
from django.db import DatabaseError

from apps.catalog.models import MLApp
from apps.catalog.services import ml_app_row_values
from worker.runners.registry import ML_APPS, PLUGINS

SYNC_HINT = (
    "Run `manage.py catalog_sync` (make run does; on a database whose migrations are not "
    "applied yet, `manage.py migrate --skip-checks` first)."
)


@register("catalog")
def ml_apps_match_the_registry(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    try:
        rows = {app.key: app for app in MLApp.objects.all()}
    except DatabaseError:
        return []  # not migrated yet: `migrate` and then catalog_sync write the rows
    if not rows:
        return []  # a fresh database before its first catalog_sync: nothing to disagree
    problems: list[CheckMessage] = [
        Error(
            f"The ML App '{key}' is in the database but no runner plugin serves it.",
            hint="Add its plugin to worker.runners.registry.PLUGINS, or delete the row "
            "(with its models, datasets and jobs) in the admin.",
            obj="catalog.MLApp",
            id="catalog.E001",
        )
        for key in sorted(rows.keys() - ML_APPS.keys())
    ]
    for position, plugin in enumerate(PLUGINS):
        row = rows.get(plugin.key)
        if row is None:
            problems.append(
                Error(
                    f"The runner plugin '{plugin.key}' has no ML App row in the database.",
                    hint=SYNC_HINT,
                    obj="worker.runners.registry",
                    id="catalog.E002",
                )
            )
            continue
        stale = sorted(
            name
            for name, value in ml_app_row_values(plugin, position).items()
            if getattr(row, name) != value
        )
        if stale:
            problems.append(
                Error(
                    f"The ML App row '{plugin.key}' differs from its plugin in: "
                    f"{', '.join(stale)}.",
                    hint=SYNC_HINT,
                    obj="catalog.MLApp",
                    id="catalog.E003",
                )
            )
    return problems
