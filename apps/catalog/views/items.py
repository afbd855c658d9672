"""Model and dataset pages: add (upload or register), details, delete."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.catalog.forms import DatasetAddForm, ImportResumeForm, ModelAddForm
from apps.catalog.models import Dataset, DatasetImport, MLModel
from apps.catalog.selectors import dataset_preview, get_dataset_for_user, get_model_for_user
from apps.catalog.services import dataset_add, dataset_delete, model_add, model_delete
from apps.core.errors import add_errors_to_form
from apps.core.storage import display_path
from apps.jobs.selectors import jobs_for_user


@require_http_methods(["GET", "POST"])
def model_add_view(request: HttpRequest) -> HttpResponse:
    form = ModelAddForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            model = model_add(
                user=request.user,
                name=data["name"],
                ml_app=data["ml_app"],
                visibility=data["visibility"],
                description=data["description"],
                uploads=data["files"],
                folder=data["folder"] or None,
            )
        except ValidationError as exc:
            add_errors_to_form(form, exc)
        else:
            messages.success(request, f"Model '{model.name}' checked and added.")
            return redirect("catalog:model_detail", pk=model.pk)
    return render(
        request,
        "catalog/item_add.html",
        {"form": form, "kind": "model", "nav": "models"},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
def dataset_add_view(request: HttpRequest) -> HttpResponse:
    form = DatasetAddForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            dataset = dataset_add(
                user=request.user,
                name=data["name"],
                ml_apps=list(data["ml_apps"]),
                visibility=data["visibility"],
                description=data["description"],
                uploads=data["files"],
                folder=data["folder"] or None,
                default_path=data["default_path"],
            )
        except ValidationError as exc:
            add_errors_to_form(form, exc)
        else:
            messages.success(
                request, f"Dataset '{dataset.name}' added: {dataset.sample_count:,} samples."
            )
            return redirect("catalog:dataset_detail", pk=dataset.pk)
    return render(
        request,
        "catalog/item_add.html",
        {"form": form, "kind": "dataset", "nav": "datasets"},
        status=400 if form.errors else 200,
    )


def model_detail(request: HttpRequest, pk: int) -> HttpResponse:
    model = get_model_for_user(request.user, pk)
    context = {
        "item": model,
        "kind": "model",
        "tier": model.tier_for(request.user.pk),
        "jobs": jobs_for_user(request.user).filter(model=model)[:50],
        "location": "" if model.source.startswith("builtin:") else display_path(model.source),
        "nav": "models",
    }
    return render(request, "catalog/item_detail.html", context)


def dataset_detail(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset_for_user(request.user, pk)
    context = {
        "item": dataset,
        "kind": "dataset",
        "tier": dataset.tier_for(request.user.pk),
        "jobs": jobs_for_user(request.user).filter(dataset=dataset)[:50],
        "location": display_path(dataset.folder),
        "preview": dataset_preview(dataset),
        "nav": "datasets",
        "s3_import": DatasetImport.objects.filter(dataset=dataset).first(),
        "resume_form": ImportResumeForm(),
    }
    return render(request, "catalog/item_detail.html", context)


def _delete_owned(request: HttpRequest, pk: int, *, kind: str) -> HttpResponse:
    """Delete the user's own model or dataset; a refusal (in use) goes back to its page."""
    model_cls: Any = MLModel if kind == "model" else Dataset
    remove: Any = model_delete if kind == "model" else dataset_delete
    item = model_cls.objects.filter(pk=pk, owner_id=request.user.pk).first()
    if item is None:
        raise Http404("Not yours.")
    try:
        remove(**{kind: item})
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(f"catalog:{kind}_detail", pk=pk)
    messages.success(request, f"{kind.capitalize()} '{item.name}' deleted.")
    return redirect(f"catalog:{kind}_hub")


@require_POST
def model_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _delete_owned(request, pk, kind="model")


@require_POST
def dataset_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    return _delete_owned(request, pk, kind="dataset")
