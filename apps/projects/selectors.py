from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404

from apps.projects.models import Project


def projects_for_user(user: Any) -> QuerySet[Project]:
    return Project.objects.filter(owner_id=user.pk).annotate(job_count=Count("jobs"))


def get_project_for_user(user: Any, pk: int) -> Project:
    return get_object_or_404(Project, pk=pk, owner_id=user.pk)
