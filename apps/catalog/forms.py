"""Forms of the catalog: the Model Hub and Dataset Hub filters (the wizard's windows and the
hub pages), and the Add a model / Add a dataset pages (shapes only: the services check)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q, QuerySet

from apps.catalog.models import Dataset, MLApp, MLModel, Visibility
from apps.catalog.selectors import datasets_visible_to, ml_apps_list, models_visible_to
from apps.catalog.services import ITEM_NAME_MAX_LENGTH
from apps.core.storage import MAX_PATH_LENGTH, PATH_TOO_LONG
from apps.core.text import NameField
from apps.exports.forms import S3CredentialsForm

TIERS = ("mine", "platform", "organization")
VISIBILITY_CHOICES = [("private", "Private (only me)"), ("organization", "My organization")]


def _tier_q(tier: str, user_pk: int | None) -> Q:
    """The dropdown groups as filters; visibility itself is already checked by the selector."""
    if tier == "platform":
        return Q(visibility=Visibility.PLATFORM)
    if tier == "mine":
        return Q(owner_id=user_pk) & ~Q(visibility=Visibility.PLATFORM)
    return Q(visibility=Visibility.ORGANIZATION) & ~Q(owner_id=user_pk)


class HubFilterForm(forms.Form):
    """My / Platform / Organization checkboxes and an ML App dropdown.

    `hub_filtered` tells an unticked box from a first visit (all groups shown).
    """

    hub_mine = forms.BooleanField(required=False)
    hub_platform = forms.BooleanField(label="Platform", required=False)
    hub_organization = forms.BooleanField(label="Organization", required=False)
    hub_ml_app = forms.TypedChoiceField(
        label="ML App", required=False, coerce=int, empty_value=None
    )
    hub_filtered = forms.CharField(required=False, widget=forms.HiddenInput)
    hub_q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "name or description"}),
    )

    def __init__(self, data: Any, *, kind: str) -> None:
        data = data.copy() if data is not None else {}
        if not data.get("hub_filtered"):
            for tier in TIERS:
                data[f"hub_{tier}"] = "on"
        data["hub_filtered"] = "1"
        # Both hubs can sit in one page (the wizard's two windows): distinct element ids.
        super().__init__(data, auto_id=f"id_{kind}_%s")
        noun = "models" if kind == "model" else "datasets"
        self.kind = kind
        self.fields["hub_mine"].label = f"My {noun}"
        self.fields["hub_ml_app"].choices = [  # type: ignore[attr-defined]
            ("", "All ML Apps"),
            *((a.pk, a.name) for a in ml_apps_list()),
        ]

    def _cleaned(self) -> dict[str, Any]:
        self.is_valid()
        return {k: v for k, v in getattr(self, "cleaned_data", {}).items() if k not in self.errors}

    def tiers(self) -> list[str]:
        data = self._cleaned()
        return [t for t in TIERS if data.get(f"hub_{t}")]

    def ml_app_pk(self) -> int | None:
        return self._cleaned().get("hub_ml_app")

    def _filter(self, qs: QuerySet[Any], user_pk: int | None, app_lookup: str) -> QuerySet[Any]:
        tiers = self.tiers()
        q = Q(pk__in=[])
        for tier in tiers:
            q |= _tier_q(tier, user_pk)
        qs = qs.filter(q)
        if self.ml_app_pk() is not None:
            qs = qs.filter(**{app_lookup: self.ml_app_pk()})
        query = (self._cleaned().get("hub_q") or "").strip()
        if query:
            qs = qs.filter(Q(name__icontains=query) | Q(description__icontains=query))
        return qs

    def models(self, user: Any) -> QuerySet[MLModel]:
        return self._filter(models_visible_to(user), user.pk, "ml_app_id")

    def datasets(self, user: Any) -> QuerySet[Dataset]:
        return self._filter(datasets_visible_to(user).select_related("owner"), user.pk, "ml_apps")


def hub_context(
    request: Any, *, kind: str, data: Any, pick: bool = False, embedded: bool = False
) -> dict[str, Any]:
    """What `catalog/_model_hub.html` / `_dataset_hub.html` need, for a window or a page."""
    hub = HubFilterForm(data, kind=kind)
    items = hub.models(request.user) if kind == "model" else hub.datasets(request.user)
    return {
        "hub": hub,
        "items": [(item, item.tier_for(request.user.pk)) for item in items],
        "pick": pick,
        "picked": str(data.get(f"use_{kind}", "")) if data is not None else "",
        "embedded": embedded,
    }


# --- Add a model / Add a dataset ----------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        if not data:
            return []
        items = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(item, initial) for item in items]


# Under a list of checkboxes Django's "This field is required." does not say which.
CHOOSE_ML_APPS = "Choose at least one ML App the dataset serves."


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
    ml_app = forms.ModelChoiceField(
        label="ML App",
        queryset=MLApp.objects.none(),
        error_messages={"required": "Choose the ML App the model serves."},
    )
    field_order = ["name", "ml_app", "visibility", "description", "files", "folder"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ml_app"].queryset = ml_apps_list()  # type: ignore[attr-defined]


class DatasetAddForm(_AddForm):
    ml_apps = forms.ModelMultipleChoiceField(
        label="ML Apps it serves",
        queryset=MLApp.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": CHOOSE_ML_APPS},
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
        "link",
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ml_apps"].queryset = ml_apps_list()  # type: ignore[attr-defined]


class DatasetImportForm(S3CredentialsForm):
    """Add a dataset from S3: the objects under a prefix are copied into its folder, or
    linked and read in place."""

    name = NameField(max_length=ITEM_NAME_MAX_LENGTH)
    ml_apps = forms.ModelMultipleChoiceField(
        label="ML Apps it serves",
        queryset=MLApp.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": CHOOSE_ML_APPS},
    )
    visibility = forms.ChoiceField(choices=VISIBILITY_CHOICES, initial="private")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    s3_uri = forms.CharField(
        label="S3 location",
        max_length=1100,
        help_text="s3://bucket/prefix: every object under it is copied, keeping the names "
        "after the prefix's folder (s3://b/data/ gives reviews.csv, s3://b/data/reviews "
        "gives reviews.csv and reviews/…).",
    )
    default_path = forms.CharField(
        label="Default path inside the dataset",
        required=False,
        max_length=MAX_PATH_LENGTH,
        error_messages={"max_length": PATH_TOO_LONG},
        help_text="e.g. reviews.csv; empty means the whole folder.",
    )
    link = forms.BooleanField(
        label="Read in place (link) instead of copying",
        required=False,
        help_text="Workers read the objects from S3 with ranged reads whenever a job runs; "
        "nothing is copied, and the secret is kept (encrypted) until the dataset is deleted. "
        "Text and tables only: audio is imported.",
    )
    field_order = [
        "name",
        "ml_apps",
        "visibility",
        "description",
        "s3_uri",
        "endpoint_url",
        "region",
        "access_key_id",
        "secret_access_key",
        "default_path",
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["ml_apps"].queryset = ml_apps_list()  # type: ignore[attr-defined]
        self.order_fields(self.field_order)


class ImportResumeForm(S3CredentialsForm):
    """Resume a failed import: only the secret is asked again (the rest is kept)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("access_key_id", "region", "endpoint_url"):
            del self.fields[name]
