"""Projects: list, create, delete (with their jobs)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest
from ninja import Router, Status

from apps.api import errors
from apps.api.auth import request_user
from apps.api.resolve import project_by_ref
from apps.api.schemas import BODY_ERRORS, ERRORS, Message, ProjectIn, ProjectOut
from apps.core.text import name_problem, shown
from apps.projects.selectors import projects_for_user
from apps.projects.services import PROJECT_NAME_MAX_LENGTH, project_create, project_delete

router = Router(tags=["projects"])


@router.get("/projects", response={200: list[ProjectOut], **ERRORS})
def project_list(request: HttpRequest) -> Any:
    return list(projects_for_user(request_user(request)))


@router.post("/projects", response={201: ProjectOut, **BODY_ERRORS, 409: Message})
def project_create_view(request: HttpRequest, payload: ProjectIn) -> Any:
    name = payload.name.strip()
    # Said in the API's words (no "errors" list) before the service is asked.
    if problem := name_problem(name, what="project name", max_length=PROJECT_NAME_MAX_LENGTH):
        raise errors.bad_request(problem, "name")
    try:
        project = project_create(
            owner=request_user(request), name=payload.name, description=payload.description
        )
    except DjangoValidationError as exc:
        taken = f"You already have a project named '{shown(name)}'."
        raise errors.service_refusal(exc, taken=taken) from exc
    return Status(201, project)


@router.delete("/projects/{ref}", response={200: Message, **ERRORS})
def project_delete_view(request: HttpRequest, ref: str) -> Any:
    project = project_by_ref(request_user(request), ref)
    name = project.name
    project_delete(project=project)
    return {"message": f"Project '{shown(name)}' and its jobs were deleted."}
