from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.core.errors import add_errors_to_form
from apps.core.http import redirect_back
from apps.core.storage import display_path
from apps.jobs.forms import JobForm
from apps.jobs.selectors import get_job_for_user, jobs_for_user
from apps.jobs.services import job_create, job_delete, job_quit
from apps.projects.selectors import get_project_for_user


@require_http_methods(["GET", "POST"])
def job_new(request: HttpRequest, project_pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, project_pk)
    form = JobForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            job = job_create(user=request.user, project=project, **form.cleaned_data)
        except ValidationError as exc:
            add_errors_to_form(form, exc)
        else:
            messages.success(request, f"Job '{job.name}' queued.")
            return redirect("jobs:detail", pk=job.pk)
    return render(
        request,
        "jobs/new.html",
        {"project": project, "form": form},
        status=400 if form.errors else 200,
    )


def dashboard(request: HttpRequest) -> HttpResponse:
    jobs = jobs_for_user(request.user)[:200]
    return render(request, "jobs/dashboard.html", {"jobs": jobs})


def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job_for_user(request.user, pk)
    context = {"job": job, "results_display_path": display_path(job.results_relpath)}
    template = "jobs/detail.html#status-card" if request.htmx else "jobs/detail.html"
    return render(request, template, context)


@require_POST
def job_quit_view(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job_for_user(request.user, pk)
    if not job.is_active:
        messages.info(request, f"Job '{job.name}' is already {job.get_status_display().lower()}.")
    else:
        job_quit(job=job)
        messages.success(request, f"Job '{job.name}' is stopping; finished samples are kept.")
    return redirect_back(request, "jobs:detail", pk=job.pk)


@require_POST
def job_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job_for_user(request.user, pk)
    project_pk, name = job.project_id, job.name
    job_delete(job=job)
    messages.success(request, f"Job '{name}' and its results were deleted.")
    return redirect("projects:detail", pk=project_pk)
