"""Find a project, model, dataset or job by id or by name, among what the user may use, and
an ML App by its key."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from apps.api.errors import bad_request
from apps.catalog.models import Dataset, MLApp, MLModel
from apps.catalog.selectors import datasets_visible_to, ml_apps_list, models_visible_to
from apps.core.text import shown
from apps.jobs.models import Job
from apps.jobs.selectors import jobs_for_user
from apps.projects.models import Project
from apps.projects.selectors import projects_for_user

_TIER_ORDER = {"mine": 0, "organization": 1, "platform": 2}


def ref_id(ref: str) -> int | None:
    """The id a reference names, if it is one: ASCII digits only ("²".isdigit() is true,
    but int("²") fails)."""
    return int(ref) if ref.isascii() and ref.isdigit() else None


def ml_app_by_key(key: str) -> MLApp:
    app = ml_apps_list().filter(key=key).first()
    if app is None:
        keys = ", ".join(ml_apps_list().values_list("key", flat=True))
        raise bad_request(f"Unknown ML App '{shown(key)}'. Known: {keys}.", "ml_app")
    return app


def _by_ref(qs: QuerySet[Any], ref: str, kind: str, field: str) -> Any:
    ref = str(ref).strip()
    if not ref:
        raise bad_request(f"Give the {kind} name or id.", field)
    if "\x00" in ref:
        raise bad_request(f"The {kind} name may not contain a NUL byte.", field)
    if (pk := ref_id(ref)) is not None:
        found = qs.filter(pk=pk).first()
        if found is not None:
            return found
    return qs.filter(name=ref)


def project_by_ref(user: Any, ref: str, field: str = "project") -> Project:
    found = _by_ref(projects_for_user(user), ref, "project", field)
    if isinstance(found, Project):
        return found
    project = found.first()
    if project is None:
        raise Http404(
            f"No project named '{shown(ref)}' of yours (batchstudio project list shows them)."
        )
    return project


def _pick_tier(user: Any, items: list[Any], kind: str, ref: str, field: str) -> Any:
    items.sort(key=lambda m: _TIER_ORDER[m.tier_for(user.pk)])
    if len(items) > 1 and items[0].tier_for(user.pk) == items[1].tier_for(user.pk):
        ids = ", ".join(str(m.pk) for m in items)
        raise bad_request(
            f"Several {kind}s are named '{shown(ref)}' (ids {ids}); give the id.", field
        )
    return items[0]


def model_by_ref(user: Any, ref: str, field: str = "model_checkpoint") -> MLModel:
    found = _by_ref(models_visible_to(user), ref, "model", field)
    if isinstance(found, MLModel):
        return found
    items = list(found)
    if not items:
        raise bad_request(
            f"No model named '{shown(ref)}' that you can use (batchstudio model list shows them).",
            field,
        )
    return _pick_tier(user, items, "model", ref, field)


def dataset_by_ref(user: Any, ref: str, field: str = "dataset") -> Dataset:
    found = _by_ref(datasets_visible_to(user), ref, "dataset", field)
    if isinstance(found, Dataset):
        return found
    items = list(found)
    if not items:
        raise bad_request(
            f"No dataset named '{shown(ref)}' that you can use (batchstudio dataset list "
            "shows them).",
            field,
        )
    return _pick_tier(user, items, "dataset", ref, field)


def job_by_ref(user: Any, ref: str, project: str | None = None) -> Job:
    qs = jobs_for_user(user).select_related("model", "dataset")
    if project:
        qs = qs.filter(project=project_by_ref(user, project))
    ref = str(ref).strip()
    pk = ref_id(ref)
    if pk is not None and not project:
        job = qs.filter(pk=pk).first()
        if job is not None:
            return job
    matches = list(qs.filter(name=ref)[:2])
    if not matches and pk is not None:
        matches = list(qs.filter(pk=pk))
    if not matches:
        raise Http404(f"No job '{shown(ref)}' of yours (batchstudio job list shows them).")
    if len(matches) > 1:
        raise bad_request(
            f"Several jobs are named '{shown(ref)}'; give --project or the job id.", "job"
        )
    return matches[0]
