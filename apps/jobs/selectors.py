"""Reads of jobs, always scoped to the requesting user."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from apps.jobs.models import Job


def jobs_for_user(user: Any) -> QuerySet[Job]:
    return Job.objects.filter(owner_id=user.pk).select_related("project", "ml_app")


def jobs_for_project(project: Any) -> QuerySet[Job]:
    return Job.objects.filter(project=project).select_related("ml_app")


def get_job_for_user(user: Any, pk: int) -> Job:
    """404 for anything that is not the user's own job."""
    return get_object_or_404(
        Job.objects.select_related("project", "ml_app", "model", "dataset"),
        pk=pk,
        owner_id=user.pk,
    )
