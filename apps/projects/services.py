from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.accounts.services import membership_ensure
from apps.core.errors import name_taken
from apps.core.text import name_problem, shown
from apps.jobs.services import job_delete
from apps.projects.models import Project

PROJECT_NAME_MAX_LENGTH = 100  # Project.name


def project_create(*, owner: Any, name: str, description: str = "") -> Project:
    name = name.strip()
    if not name:
        raise ValidationError({"name": ["Give the project a name."]})
    if problem := name_problem(name, what="project name", max_length=PROJECT_NAME_MAX_LENGTH):
        raise ValidationError({"name": [problem]})
    if Project.objects.filter(owner=owner, name=name).exists():
        raise name_taken(f"You already have a project named '{shown(name)}'.")
    membership = membership_ensure(owner)
    try:
        with transaction.atomic():
            return Project.objects.create(
                owner=owner,
                organization=membership.organization,
                name=name,
                description=description.strip(),
            )
    except IntegrityError as exc:
        raise name_taken(f"You already have a project named '{shown(name)}'.") from exc


def project_delete(*, project: Project) -> None:
    """Quit the project's running jobs first, then remove it with its jobs and results."""
    for job in project.jobs.all():
        job_delete(job=job)
    project.delete()
