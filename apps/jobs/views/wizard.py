"""Create a new job → Batch Inference: the wizard, its live checks and its refreshes.

One URL serves the whole window: GET shows *Create a new job* (and the form once a type
is chosen); POST with `_action=refresh` re-renders the dependent dropdowns from the posted
values (HTMX, or the "Update choices" button without JavaScript); any other POST runs the
job. HTMX requests get partials of the same template.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from apps.catalog.forms import hub_context
from apps.core.errors import add_errors_to_form
from apps.core.http import HtmxHttpRequest
from apps.core.text import name_problem, shown
from apps.jobs.forms import HUB, BatchJobForm
from apps.jobs.models import Job
from apps.jobs.selectors import job_name_taken, job_preflight
from apps.jobs.services import JOB_NAME_MAX_LENGTH, job_submit
from apps.jobs.wizard_state import wizard_initial
from apps.projects.models import Project
from apps.projects.selectors import get_project_for_user

BATCH = Job.JobType.BATCH_PREDICT.value


@require_http_methods(["GET", "POST"])
def job_new(request: HtmxHttpRequest, project_pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, project_pk)
    if request.method == "POST":
        return _job_new_post(request, project)
    if request.GET.get("type") != BATCH:
        return _render(request, project, None, partial="wizard")
    form = BatchJobForm(user=request.user, project=project)
    if request.htmx:  # the type was just chosen: start typing the name
        form.fields["name"].widget.attrs["autofocus"] = True
    return _render(request, project, form, partial="wizard")


def _job_new_post(request: HtmxHttpRequest, project: Project) -> HttpResponse:
    data = request.POST
    wants_hub = HUB in (data.get("model"), data.get("dataset"))
    if data.get("_action") == "refresh" or wants_hub:
        lists = BatchJobForm(data, user=request.user, project=project)
        trigger = data.get("_trigger") or (request.htmx.trigger_name if request.htmx else "")
        initial = wizard_initial(data, form=lists, trigger=trigger or "")
        form = BatchJobForm(user=request.user, project=project, initial=initial)
        return _render(request, project, form, partial="job-form")
    form = BatchJobForm(data, user=request.user, project=project)
    if form.is_valid() and form.check is not None and form.check.spec is not None:
        try:
            job = job_submit(
                user=request.user,
                spec=form.check.spec,
                priority=form.cleaned_data["priority"],
            )
        except ValidationError as exc:  # e.g. a concurrent job took the name
            add_errors_to_form(form, exc)
        else:
            messages.success(request, f"Job '{job.name}' queued.")
            if request.htmx:
                return HttpResponseClientRedirect(reverse("jobs:detail", args=[job.pk]))
            return redirect("jobs:detail", pk=job.pk)
    return _render(request, project, form, partial="job-form", status=400)


def _render(
    request: HtmxHttpRequest,
    project: Project,
    form: BatchJobForm | None,
    *,
    partial: str,
    status: int = 200,
) -> HttpResponse:
    context: dict[str, Any] = {"project": project, "form": form, "nav": "projects"}
    if form is not None:
        values = {k: form[k].value() for k in ("ml_app", "model", "dataset", "dataset_path")}
        context["preflight"] = job_preflight(
            user=request.user,
            ml_app=values["ml_app"] or (form.shown_ml_app.pk if form.shown_ml_app else None),
            model=values["model"],
            dataset=values["dataset"],
            dataset_path=values["dataset_path"] or "",
            checked=form.check,  # a submitted form already read the input: not again
        )
        name = (form["name"].value() or "").strip()
        if name and not form["name"].errors:  # the live name check, as of this render
            context.update(name=name, taken=job_name_taken(project=project, name=name))
        context["settings_open"] = (
            request.POST.get("settings_open") == "1" or form.settings_have_errors()
        )
        context.update(_embedded_hub(request, form, values))
    template = f"jobs/new.html#{partial}" if request.htmx else "jobs/new.html"
    return render(request, template, context, status=status)


def _embedded_hub(
    request: HtmxHttpRequest, form: BatchJobForm, values: dict[str, Any]
) -> dict[str, Any]:
    """Without JavaScript, "Select from model hub" shows the hub inside the form."""
    for kind in ("model", "dataset"):
        if str(values[kind]) != HUB:
            continue
        data = request.POST.copy()
        if not data.get("hub_filtered") and form.shown_ml_app is not None:
            data["hub_ml_app"] = str(form.shown_ml_app.pk)
        return {
            "embedded_hub": kind,
            "hub_ctx": hub_context(request, kind=kind, data=data, pick=True, embedded=True),
        }
    return {}


@require_GET
def job_name_check(request: HtmxHttpRequest, project_pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, project_pk)
    name = request.GET.get("name", "").strip()
    # The same check the form makes on submit, so the live line never calls a name "free"
    # that Run job would refuse (or echo its hidden characters raw).
    problem = name_problem(name, what="job name", max_length=JOB_NAME_MAX_LENGTH) if name else None
    taken = bool(name) and not problem and job_name_taken(project=project, name=name)
    context = {"name": shown(name), "problem": problem, "taken": taken}
    return render(request, "jobs/new.html#name-check", context)


@require_GET
def job_path_check(request: HtmxHttpRequest, project_pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, project_pk)
    preflight = job_preflight(
        user=request.user,
        ml_app=request.GET.get("ml_app"),
        model=request.GET.get("model"),
        dataset=request.GET.get("dataset"),
        dataset_path=request.GET.get("dataset_path", ""),
    )
    context = {"project": project, "preflight": preflight, "oob": True}
    return render(request, "jobs/new.html#path-check", context)
