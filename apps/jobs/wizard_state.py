"""What the wizard shows after one of its fields changed (the HTMX round trip of
apps.jobs.views.wizard): the ML App, model, dataset and path kept consistent."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict

from apps.catalog.models import MLApp, MLModel
from apps.jobs.forms import HUB, LIST_SETTINGS, SETTING_PREFIX, BatchJobForm, pk_of
from worker.runners.registry import ML_APPS, plugin_for


def _default_model(app: MLApp, models: list[MLModel]) -> MLModel | None:
    """The platform model the ML App's plugin names as its default, if the user sees it."""
    key = plugin_for(app.key).default_model if app.key in ML_APPS else ""
    source = f"builtin:{key}"
    return next((m for m in models if key and m.ml_app_id == app.pk and m.source == source), None)


def wizard_initial(data: QueryDict, *, form: BatchJobForm, trigger: str) -> dict[str, Any]:
    """The wizard's values after one field changed: what the re-rendered form shows.

    - picking a model (from the dropdown or the hub) fills the ML App with the model's;
    - choosing an ML App drops a model or dataset that does not serve it;
    - with an ML App and no model, the ML App's default built-in model is picked (unless
      the model was just cleared on purpose);
    - choosing a dataset fills an empty path with the dataset's default path.
    """
    values: dict[str, Any] = {
        k: data.get(k, "") for k in ("name", "ml_app", "model", "dataset", "dataset_path")
    }
    for key in ("model", "dataset"):
        use = data.get(f"use_{key}")
        if use:  # a "Use model" / "Use dataset" button without JavaScript
            values[key], trigger = use, key
    app = next((a for a in form.ml_apps if a.pk == pk_of(values["ml_app"])), None)
    model = form.model_by_pk(pk_of(values["model"]))
    dataset = form.dataset_by_pk(pk_of(values["dataset"]))
    # Clearing the ML App (trigger "ml_app") keeps it clear, so every model shows.
    if model is not None and (trigger == "model" or (app is None and trigger != "ml_app")):
        app = next((a for a in form.ml_apps if a.pk == model.ml_app_id), None)
    if app is not None and model is not None and model.ml_app_id != app.pk:
        model = None
    if app is not None and model is None and trigger != "model" and values["model"] != HUB:
        model = _default_model(app, form.models)
    if app is not None and dataset is not None and app not in dataset.ml_apps.all():
        dataset = None
    if dataset is not None and trigger == "dataset" and not values["dataset_path"].strip():
        values["dataset_path"] = dataset.default_path
    values["ml_app"] = app.pk if app else ""
    values["model"] = model.pk if model else (HUB if values["model"] == HUB else "")
    values["dataset"] = dataset.pk if dataset else (HUB if values["dataset"] == HUB else "")
    schema_names = {s["name"] for s in (app.settings_schema if app else [])}
    for key, value in data.items():
        name = key.removeprefix(SETTING_PREFIX)
        if key.startswith(SETTING_PREFIX) and name in schema_names:
            # Settings shared by both ML Apps keep what was typed (all the ticked columns).
            values[key] = data.getlist(key) if name in LIST_SETTINGS else value
    return values
