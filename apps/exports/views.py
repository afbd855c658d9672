"""Results access views: download, the S3 upload form, the export history.

Every view opens with `get_job_for_results_access`: the job's owner and the admins of its
organization pass, everyone else gets 404.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from apps.core.errors import add_errors_to_form
from apps.core.http import HtmxHttpRequest
from apps.core.text import shown
from apps.exports.downloads import (
    DOWNLOAD_FORMATS,
    ResultsUnavailableError,
    results_file_response,
    results_zip_response,
)
from apps.exports.forms import ExportForm
from apps.exports.panel import panel_context
from apps.exports.selectors import get_job_for_results_access, results_overview
from apps.exports.services import ExportBusyError, export_start
from apps.jobs.models import Job


def _results_home(user: Any, job: Job) -> str:
    # Organization admins have no job window for other people's jobs: their page is the
    # results page.
    if job.owner_id == user.pk:
        return reverse("jobs:detail", args=[job.pk])
    return reverse("exports:results", args=[job.pk])


@require_GET
def results_download(request: HttpRequest, pk: int) -> HttpResponseBase:
    job = get_job_for_results_access(request.user, pk)
    kind = request.GET.get("format") or "file"
    if kind not in DOWNLOAD_FORMATS:
        return HttpResponse(
            f"Unknown format '{shown(kind)}': use {', '.join(DOWNLOAD_FORMATS[:-1])} or "
            f"{DOWNLOAD_FORMATS[-1]}.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    try:
        if kind == "zip":
            return results_zip_response(request, job=job)
        return results_file_response(request, job=job, joined=kind == "joined")
    except ResultsUnavailableError as exc:
        return HttpResponse(str(exc), status=exc.status, content_type="text/plain; charset=utf-8")


@require_GET
def results_page(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job_for_results_access(request.user, pk)
    return render(request, "exports/results.html", panel_context(job, in_dialog=False))


@require_GET
def results_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The panel alone, polled by the job window until the job finishes."""
    job = get_job_for_results_access(request.user, pk)
    return render(request, "exports/_panel.html", panel_context(job))


@require_GET
def export_history(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_job_for_results_access(request.user, pk)
    return render(request, "exports/_history.html", results_overview(job))


@require_POST
@sensitive_post_parameters("secret_access_key")
def export_create(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    job = get_job_for_results_access(request.user, pk)
    form = ExportForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            export = export_start(job=job, user=request.user, **form.cleaned_data)
        except ExportBusyError as exc:
            form.add_error(None, str(exc))
            status = 409
        except ValidationError as exc:
            add_errors_to_form(form, exc)
        else:
            notice = f"Upload to {export.s3_uri} queued."
            if request.htmx:
                response = render(request, "exports/_panel.html", panel_context(job, notice=notice))
                return retarget(reswap(response, "outerHTML"), "#results-access")
            messages.success(request, notice)
            return redirect(_results_home(request.user, job))
    if request.htmx:
        # htmx swaps 2xx answers only: the form comes back with its errors as a 200 and
        # stays open in its dialog.
        return render(request, "exports/_form.html", {"job": job, "form": form, "in_dialog": True})
    context = panel_context(job, form=form, in_dialog=False)
    return render(request, "exports/results.html", context, status=status)
