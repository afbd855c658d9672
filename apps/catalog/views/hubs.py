"""Model Hub and Dataset Hub: a window inside the job wizard (HTMX) or a page of their own."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.catalog.forms import hub_context
from apps.core.http import HtmxHttpRequest


@require_GET
def model_hub(request: HtmxHttpRequest) -> HttpResponse:
    context = hub_context(
        request, kind="model", data=request.GET, pick=request.GET.get("pick") == "1"
    )
    template = "catalog/_model_hub.html" if request.htmx else "catalog/model_hub.html"
    return render(request, template, {**context, "nav": "models"})


@require_GET
def dataset_hub(request: HtmxHttpRequest) -> HttpResponse:
    context = hub_context(
        request, kind="dataset", data=request.GET, pick=request.GET.get("pick") == "1"
    )
    template = "catalog/_dataset_hub.html" if request.htmx else "catalog/dataset_hub.html"
    return render(request, template, {**context, "nav": "datasets"})
