"""Forms of the Add a model / Add a dataset pages (shapes only: the registry checks)."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.catalog.models import MLApp
from apps.catalog.registry import ITEM_NAME_MAX_LENGTH
from apps.catalog.selectors import ml_apps_list
from apps.core.storage import MAX_PATH_LENGTH, PATH_TOO_LONG
from apps.core.text import NameField

VISIBILITY_CHOICES = [("private", "Private (only me)"), ("organization", "My organization")]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        if not data:
            return []
        items = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in items]


class _AddForm(forms.Form):
    name = NameField(max_length=ITEM_NAME_MAX_LENGTH)
    visibility = forms.ChoiceField(choices=VISIBILITY_CHOICES, initial="private")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    files = MultipleFileField(  # type: ignore[assignment]  # the declared field, not Form.files
        label="Upload files or an archive",
        required=False,
        help_text="zip or tar.gz archives are unpacked safely; an archive of one folder means "
        "its contents.",
    )
    folder = forms.CharField(
        label="…or register a folder under the storage root",
        required=False,
        max_length=MAX_PATH_LENGTH,
        error_messages={"max_length": PATH_TOO_LONG},
        help_text="A path relative to the storage root (the NFS mount); nothing is copied.",
    )


class ModelAddForm(_AddForm):
    ml_app = forms.ModelChoiceField(label="ML App", queryset=MLApp.objects.none())
    field_order = ["name", "ml_app", "visibility", "description", "files", "folder"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ml_app"].queryset = ml_apps_list()  # type: ignore[attr-defined]


class DatasetAddForm(_AddForm):
    ml_apps = forms.ModelMultipleChoiceField(
        label="ML Apps it serves",
        queryset=MLApp.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    default_path = forms.CharField(
        label="Default path inside the dataset",
        required=False,
        max_length=MAX_PATH_LENGTH,
        error_messages={"max_length": PATH_TOO_LONG},
        help_text="e.g. test.txt; empty means the whole folder.",
    )
    field_order = [
        "name",
        "ml_apps",
        "visibility",
        "description",
        "files",
        "folder",
        "default_path",
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ml_apps"].queryset = ml_apps_list()  # type: ignore[attr-defined]
