from __future__ import annotations

from typing import Any

from django import forms

from apps.catalog.models import Dataset, MLApp, MLModel
from apps.catalog.selectors import datasets_visible_to, ml_apps_list, models_visible_to


class JobForm(forms.Form):
    """Field shapes only; every rule (access, ML App match, path, settings) is re-checked
    by apps.jobs.services.job_validate, so nothing here is trusted on its own."""

    name = forms.CharField(label="Job Name", max_length=100)
    ml_app = forms.ModelChoiceField(
        label="ML App", queryset=MLApp.objects.none(), empty_label="Clear", required=False
    )
    model = forms.ModelChoiceField(
        label="Select model", queryset=MLModel.objects.none(), required=False
    )
    dataset = forms.ModelChoiceField(
        label="Select dataset", queryset=Dataset.objects.none(), required=False
    )
    dataset_path = forms.CharField(
        label="Relative dataset folder/file path", max_length=1024, required=False
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ml_app"].queryset = ml_apps_list()  # type: ignore[attr-defined]
        self.fields["model"].queryset = models_visible_to(user)  # type: ignore[attr-defined]
        self.fields["dataset"].queryset = datasets_visible_to(user)  # type: ignore[attr-defined]
