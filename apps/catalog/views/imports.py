"""Datasets from S3: the import form, the progress card (polled while it copies), Resume."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.catalog.forms import DatasetImportForm, ImportResumeForm
from apps.catalog.models import DatasetImport
from apps.catalog.s3_import import dataset_import_resume, dataset_import_start
from apps.catalog.selectors import get_dataset_for_user
from apps.core.errors import add_errors_to_form


@require_http_methods(["GET", "POST"])
@sensitive_post_parameters("secret_access_key")
def dataset_import_view(request: HttpRequest) -> HttpResponse:
    form = DatasetImportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            dataset = dataset_import_start(
                user=request.user,
                name=data["name"],
                ml_apps=list(data["ml_apps"]),
                s3_uri=data["s3_uri"],
                access_key_id=data["access_key_id"],
                secret_access_key=data["secret_access_key"],
                region=data["region"],
                endpoint_url=data["endpoint_url"],
                visibility=data["visibility"],
                description=data["description"],
                default_path=data["default_path"],
                link=data["link"],
            )
        except ValidationError as exc:
            add_errors_to_form(form, exc)
        else:
            what = "the link is being checked" if data["link"] else "the import is queued"
            messages.success(request, f"Dataset '{dataset.name}': {what}.")
            return redirect("catalog:dataset_detail", pk=dataset.pk)
    return render(
        request,
        "catalog/dataset_import.html",
        {"form": form, "nav": "datasets"},
        status=400 if form.errors else 200,
    )


@require_GET
def dataset_import_card(request: HttpRequest, pk: int) -> HttpResponse:
    """The import's progress alone, polled by the dataset's page until it ends."""
    dataset = get_dataset_for_user(request.user, pk)
    imp = DatasetImport.objects.filter(dataset=dataset).first()
    context = {"item": dataset, "s3_import": imp, "resume_form": ImportResumeForm()}
    return render(request, "catalog/_import_card.html", context)


@require_POST
@sensitive_post_parameters("secret_access_key")
def dataset_import_resume_view(request: HttpRequest, pk: int) -> HttpResponse:
    dataset = get_dataset_for_user(request.user, pk)
    form = ImportResumeForm(request.POST)
    if dataset.owner_id != request.user.pk:
        messages.error(request, "Only the dataset's owner can resume its import.")
    elif not form.is_valid():
        messages.error(request, " ".join(str(m) for ms in form.errors.values() for m in ms))
    else:
        try:
            dataset_import_resume(
                dataset=dataset, secret_access_key=form.cleaned_data["secret_access_key"]
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "The credentials are taken; the import goes on.")
    return redirect("catalog:dataset_detail", pk=dataset.pk)
