from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.errors import add_errors_to_form
from apps.jobs.selectors import jobs_for_project
from apps.projects.forms import ProjectForm
from apps.projects.selectors import get_project_for_user, projects_for_user
from apps.projects.services import project_create, project_delete


@require_http_methods(["GET", "POST"])
def project_list(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            project = project_create(owner=request.user, **form.cleaned_data)
        except ValidationError as exc:
            add_errors_to_form(form, exc)
        else:
            messages.success(request, f"Project '{project.name}' created.")
            return redirect("projects:detail", pk=project.pk)
    projects = projects_for_user(request.user)
    status = 400 if form.errors else 200
    return render(
        request, "projects/list.html", {"projects": projects, "form": form}, status=status
    )


def project_detail(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    jobs = jobs_for_project(project)
    return render(request, "projects/detail.html", {"project": project, "jobs": jobs})


@require_POST
def project_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    name = project.name
    project_delete(project=project)
    messages.success(request, f"Project '{name}' and its jobs were deleted.")
    return redirect("projects:list")
