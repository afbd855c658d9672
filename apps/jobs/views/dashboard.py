"""Dashboard: every job of the user, with filters, search, sorting and pagination."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.core.http import HtmxHttpRequest
from apps.jobs.dashboard_forms import SORTS, DashboardFilterForm
from apps.jobs.selectors import dashboard_filter_options, get_job_for_user, jobs_for_dashboard


@require_GET
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    projects, ml_apps = dashboard_filter_options(request.user)
    filters = DashboardFilterForm(request.GET, projects=projects, ml_apps=ml_apps)
    f = filters.filters()
    descending, key = f["sort"].startswith("-"), f["sort"].lstrip("-")
    jobs = jobs_for_dashboard(
        user=request.user,
        q=f["q"],
        status=f["status"],
        project_id=f["project"],
        ml_app_id=f["ml_app"],
        sort=("-" if descending else "") + SORTS[key][1],
    )
    page = Paginator(jobs, f["per_page"]).get_page(request.GET.get("page"))
    context = {
        "filters": filters,
        "page": page,
        "jobs": page.object_list,
        "sort": f["sort"],
        "columns": _sort_columns(request, key, descending),
        "show_project": True,
        "filtered": any(f[k] for k in ("q", "status", "project", "ml_app")),
        "nav": "dashboard",
    }
    template = "jobs/dashboard.html#job-list" if request.htmx else "jobs/dashboard.html"
    return render(request, template, context)


def _sort_columns(
    request: HtmxHttpRequest, key: str, descending: bool
) -> list[tuple[str, str, str, str]]:
    """(key, header, link, aria-sort) per sortable column; a second click reverses."""
    columns = []
    for column, (label, _) in SORTS.items():
        params = request.GET.copy()
        params.pop("page", None)
        current = column == key
        params["sort"] = f"-{column}" if (current and not descending) else column
        if column == "created" and not current:
            params["sort"] = "-created"  # newest first is what people want first
        state = ("descending" if descending else "ascending") if current else ""
        columns.append((column, label, f"?{params.urlencode()}", state))
    return columns


@require_GET
def job_row(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """One job-list row, polled while the job is active (the reply stops the polling)."""
    job = get_job_for_user(request.user, pk)
    context = {"job": job, "show_project": request.GET.get("compact") != "1"}
    return render(request, "jobs/_job_table.html#job-row", context)
