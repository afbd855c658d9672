"""Find a project, model, dataset or job by id or by name, among what the user may use."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from apps.api.errors import bad_request
from apps.catalog.models import Dataset, MLModel
from apps.catalog.selectors import datasets_visible_to, models_visible_to
from apps.core.text import shown
from apps.jobs.models import Job
from apps.jobs.selectors import jobs_for_user
from apps.projects.models import Project
from apps.projects.selectors import projects_for_user

_TIER_ORDER = {"mine": 0, "organization": 1, "platform": 2}


def _by_ref(qs: QuerySet[Any], ref: str, kind: str, field: str) -> Any:
    ref = str(ref).strip()
    if not ref:
        raise bad_request(f"Give the {kind} name or id.", field)
    if "\x00" in ref:
        raise bad_request(f"The {kind} name may not contain a NUL byte.", field)
    if ref.isdigit():
        found = qs.filter(pk=int(ref)).first()
        if found is not None:
            return found
    return qs.filter(name=ref)


def project_by_ref(user: Any, ref: str, field: str = "project") -> Project:
    found = _by_ref(projects_for_user(user), ref, "project", field)
    if isinstance(found, Project):
        return found
    project = found.first()
    if project is None:
        raise Http404(f"No project named '{shown(ref)}'. List yours with: batchstudio project list")
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
            f"No model named '{shown(ref)}' that you can use. See: batchstudio model list", field
        )
    return _pick_tier(user, items, "model", ref, field)


def dataset_by_ref(user: Any, ref: str, field: str = "dataset") -> Dataset:
    found = _by_ref(datasets_visible_to(user), ref, "dataset", field)
    if isinstance(found, Dataset):
        return found
    items = list(found)
    if not items:
        raise bad_request(
            f"No dataset named '{shown(ref)}' that you can use. See: batchstudio dataset list",
            field,
        )
    return _pick_tier(user, items, "dataset", ref, field)


def job_by_ref(user: Any, ref: str, project: str | None = None) -> Job:
    qs = jobs_for_user(user).select_related("model", "dataset")
    if project:
        qs = qs.filter(project=project_by_ref(user, project))
    ref = str(ref).strip()
    if ref.isdigit() and not project:
        job = qs.filter(pk=int(ref)).first()
        if job is not None:
            return job
    matches = list(qs.filter(name=ref)[:2])
    if not matches and ref.isdigit():
        matches = list(qs.filter(pk=int(ref)))
    if not matches:
        raise Http404(f"No job '{shown(ref)}'. List yours with: batchstudio job list")
    if len(matches) > 1:
        raise bad_request(
            f"Several jobs are named '{shown(ref)}'; give --project or the job id.", "job"
        )
    return matches[0]
