"""The job window: details card (polled while active), results preview, Quit and Delete."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from apps.core.http import HtmxHttpRequest, redirect_back
from apps.core.storage import display_path
from apps.jobs.joined_preview import joined_preview
from apps.jobs.models import Job
from apps.jobs.preview import results_preview
from apps.jobs.selectors import get_job_for_user, job_error_reasons
from apps.jobs.services import job_delete, job_quit


def _window_context(job: Job) -> dict[str, Any]:
    return {
        "job": job,
        "nav": "projects",
        "results_display_path": display_path(job.results_relpath),
        "error_reasons": job_error_reasons(job) if job.is_terminal else [],
    }


@require_GET
def job_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = get_job_for_user(request.user, pk)
    context = _window_context(job)
    if request.htmx:  # the polled live part; once terminal it loads the preview too
        return render(request, "jobs/detail.html#job-live", context)
    if job.is_terminal:
        context["preview"] = results_preview(job)
        context["joined"] = joined_preview(job)
    return render(request, "jobs/detail.html", context)


@require_GET
def job_preview(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = get_job_for_user(request.user, pk)
    context = {"job": job, "preview": results_preview(job), "joined": joined_preview(job)}
    return render(request, "jobs/detail.html#preview", context)


@require_POST
def job_quit_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = get_job_for_user(request.user, pk)
    if not job.is_active:
        messages.info(request, f"Job '{job.name}' is already {job.get_status_display().lower()}.")
    else:
        job_quit(job=job)
        messages.success(request, f"Job '{job.name}' is stopping; finished samples are kept.")
    return redirect_back(request, "jobs:detail", pk=job.pk)


@require_POST
def job_delete_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = get_job_for_user(request.user, pk)
    project_pk, name = job.project_id, job.name
    job_delete(job=job)
    messages.success(request, f"Job '{name}', its results and its export history were deleted.")
    # The job window posts no `next` (it is gone): back to the project's job list.
    return redirect_back(request, "projects:detail", pk=project_pk)
