"""The batch-inference wizard form (the dashboard's filters: apps.jobs.dashboard_forms).

The wizard's dependent dropdowns are re-rendered by the server from the form's values
(netbox `HTMXSelect` style): `wizard_initial` decides what the ML App, model, dataset and
path become after one of them changed, and the form narrows the options it displays.
`clean()` then re-checks everything through `apps.jobs.services.job_check`, so nothing
the browser sends is trusted; its verdict (`check`) is what the view submits and shows.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.catalog.models import Dataset, MLApp, MLModel
from apps.catalog.selectors import datasets_visible_to, ml_apps_list, models_visible_to
from apps.catalog.settings_schema import FieldSpec
from apps.core.storage import MAX_PATH_LENGTH, PATH_TOO_LONG
from apps.core.text import NameField
from apps.jobs.models import JobPriority
from apps.jobs.selectors import model_speeds, table_preview
from apps.jobs.services import JOB_NAME_MAX_LENGTH, JobCheck, job_check, job_settings_check
from apps.jobs.table_fields import column_field
from apps.projects.models import Project

HUB = "hub"  # the "Select from model hub" / "Select from datasets" option
NONE = "none-"  # a disabled placeholder in an empty group
SETTING_PREFIX = "setting_"
LIST_SETTINGS = {"carry_columns"}  # posted as one value a ticked box
MODEL_GROUPS = (
    ("mine", "My models"),
    ("platform", "Platform models"),
    ("organization", "Organization models"),
)
DATASET_GROUPS = (
    ("mine", "My datasets"),
    ("platform", "Platform datasets"),
    ("organization", "Organization datasets"),
)


def pk_of(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _setting_field(spec: FieldSpec) -> forms.Field:
    help_parts = [spec.get("help", "")]
    if "min" in spec and "max" in spec:
        help_parts.append(f"From {spec['min']:,} to {spec['max']:,}.")
    default = spec.get("default")
    help_parts.append(f"Default: {default if default not in ('', None, []) else 'empty'}.")
    common = {"label": spec["label"], "required": False, "help_text": " ".join(help_parts)}
    kind = spec["type"]
    if kind == "choice":
        return forms.ChoiceField(choices=[tuple(c) for c in spec["choices"]], **common)
    if kind in ("int", "float"):
        attrs = {
            "inputmode": "numeric" if kind == "int" else "decimal",
            "step": "1" if kind == "int" else "any",
        }
        for bound in ("min", "max"):
            if bound in spec:
                attrs[bound] = str(spec[bound])
        # A CharField: the limits are enforced by settings_validate, with its messages.
        return forms.CharField(widget=forms.NumberInput(attrs=attrs), **common)
    placeholder = {"auto_int": "auto", "threshold": "e.g. 10 or 5%", "stop": "e.g. \\n\\n|###"}.get(
        kind, ""
    )
    limit = spec.get("max_length", 500)
    return forms.CharField(
        max_length=limit,
        # settings_validate's words, not Django's "Ensure this value has at most…"; a file
        # of the dataset is refused as a too long dataset path is.
        error_messages={
            "max_length": PATH_TOO_LONG
            if spec.get("dataset_file")
            else f"At most {limit:,} characters."
        },
        widget=forms.TextInput(attrs={"placeholder": placeholder} if placeholder else {}),
        **common,
    )


def speeds_text(models: list[MLModel]) -> str:
    """Each model's measured speed here, so people can choose between fast and careful."""
    speeds = model_speeds([m.pk for m in models])
    parts = [
        f"{m.name} {speeds[m.pk]:,.1f}/s" if m.pk in speeds else f"{m.name} not yet measured"
        for m in models
    ]
    return "Samples a second on this platform (latest jobs): " + "; ".join(parts) + "."


class GroupedSelect(forms.Select):
    """A select whose empty-group placeholders cannot be chosen."""

    def create_option(
        self,
        name: str,
        value: Any,
        label: Any,
        selected: Any,
        index: int,
        subindex: int | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if str(value).startswith(NONE):
            option["attrs"]["disabled"] = True
        return option


class BatchJobForm(forms.Form):
    name = NameField(label="Job Name", what="job name", max_length=JOB_NAME_MAX_LENGTH)
    ml_app = forms.ModelChoiceField(
        label="ML App", queryset=MLApp.objects.none(), empty_label="Clear", required=False
    )
    model = forms.ModelChoiceField(
        label="Select model",
        queryset=MLModel.objects.none(),
        required=False,
        widget=GroupedSelect,
        error_messages={"invalid_choice": "Choose a model you may use."},
    )
    dataset = forms.ModelChoiceField(
        label="Select dataset",
        queryset=Dataset.objects.none(),
        required=False,
        widget=GroupedSelect,
        error_messages={"invalid_choice": "Choose a dataset you may use."},
    )
    dataset_path = forms.CharField(
        label="Relative dataset folder/file path",
        max_length=MAX_PATH_LENGTH,
        error_messages={"max_length": PATH_TOO_LONG},
        required=False,
        help_text="A file or folder inside the dataset, e.g. test.txt; empty means the "
        "whole dataset.",
    )
    priority = forms.TypedChoiceField(
        label="Priority",
        choices=JobPriority.choices,
        coerce=int,
        initial=JobPriority.NORMAL,
        required=False,  # a form posted by a script without it means normal
        empty_value=None,
        help_text="Orders your own jobs; the workers are shared fairly between users.",
    )

    def __init__(
        self,
        data: Any = None,
        *,
        user: Any,
        project: Project,
        initial: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(data, initial=initial)
        self.user, self.project = user, project
        self.check: JobCheck | None = None  # clean()'s verdict, with the samples it counted
        # One query each; displayed options are narrowed in Python from these lists.
        self.ml_apps = list(ml_apps_list())
        self.models = list(models_visible_to(user))
        self.datasets = list(datasets_visible_to(user))
        self.fields["ml_app"].queryset = ml_apps_list()  # type: ignore[attr-defined]
        # Validation accepts every model/dataset the user may use, so a mismatch gets its
        # own message from job_check instead of "not one of the choices".
        self.fields["model"].queryset = models_visible_to(user)  # type: ignore[attr-defined]
        self.fields["dataset"].queryset = datasets_visible_to(user)  # type: ignore[attr-defined]
        self.shown_ml_app = self._shown_ml_app()
        self.settings_schema: list[FieldSpec] = (
            self.shown_ml_app.settings_schema if self.shown_ml_app else []
        )
        dataset = self.dataset_by_pk(pk_of(self._value("dataset")))
        self.table = table_preview(dataset, str(self._value("dataset_path") or "").strip())
        for spec in self.settings_schema:
            if spec.get("table"):
                picker = column_field(spec, self.table)
                if picker is not None:
                    self.fields[SETTING_PREFIX + spec["name"]] = picker
                continue
            field = _setting_field(spec)
            default = spec.get("default")
            field.initial = "" if isinstance(default, list) else default
            self.fields[SETTING_PREFIX + spec["name"]] = field
        self._narrow_choices()
        self._live_attrs()

    def clean_priority(self) -> int:
        value = self.cleaned_data.get("priority")
        return JobPriority.NORMAL if value is None else int(value)

    def _live_attrs(self) -> None:
        """HTMX wiring (netbox HTMXSelect style); without JavaScript these attrs do nothing."""
        # The wizard's wrapper posts a refresh on "change" from these (see jobs/new.html).
        self.fields["ml_app"].widget.attrs["data-refresh"] = ""
        self.fields["model"].widget.attrs.update(
            {"data-refresh": "", "data-hub-url": reverse("catalog:model_hub"), "data-hub": "model"}
        )
        self.fields["dataset"].widget.attrs.update(
            {
                "data-refresh": "",
                "data-hub-url": reverse("catalog:dataset_hub"),
                "data-hub": "dataset",
            }
        )
        self.fields["name"].widget.attrs.update(
            {
                "hx-get": reverse("jobs:check_name", args=[self.project.pk]),
                "hx-trigger": "input changed delay:300ms",
                "hx-target": "#name-check",
                "hx-swap": "outerHTML",
                "hx-sync": "this:replace",
                "autocomplete": "off",
                "aria-describedby": "name-check",
            }
        )
        self.fields["dataset_path"].widget.attrs.update(
            {
                "hx-get": reverse("jobs:check_path", args=[self.project.pk]),
                "hx-trigger": "input changed delay:300ms",
                "hx-include": "#id_dataset, #id_ml_app, #id_model",
                "hx-target": "#path-check",
                "hx-swap": "outerHTML",
                "hx-sync": "this:replace",
                "autocomplete": "off",
                "spellcheck": "false",
                "placeholder": "e.g. test.txt",
                # Leaving the field refreshes the form: a table's columns appear.
                "data-refresh": "",
                "aria-describedby": "path-check id_dataset_path_helptext",
            }
        )

    # --- what the form shows ----------------------------------------------------------

    def _value(self, name: str) -> Any:
        if self.is_bound:
            return self.data.get(self.add_prefix(name))
        return self.initial.get(name)

    def _shown_ml_app(self) -> MLApp | None:
        """The ML App chosen, else the chosen model's (picking a model fills the ML App)."""
        by_pk: dict[int | None, MLApp] = {app.pk: app for app in self.ml_apps}
        app = by_pk.get(pk_of(self._value("ml_app")))
        if app is None:
            model = self.model_by_pk(pk_of(self._value("model")))
            app = by_pk.get(model.ml_app_id) if model else None
        return app

    def model_by_pk(self, pk: int | None) -> MLModel | None:
        return next((m for m in self.models if m.pk == pk), None)

    def dataset_by_pk(self, pk: int | None) -> Dataset | None:
        return next((d for d in self.datasets if d.pk == pk), None)

    def _narrow_choices(self) -> None:
        app_pk = pk_of(self._value("ml_app"))
        user_pk = self.user.pk
        models = [m for m in self.models if app_pk is None or m.ml_app_id == app_pk]
        datasets = [
            d
            for d in self.datasets
            if app_pk is None or any(a.pk == app_pk for a in d.ml_apps.all())
        ]
        self.fields["model"].widget.choices = self._grouped(
            models,
            MODEL_GROUPS,
            user_pk,
            "Select from model hub…",
            label=lambda m: m.name if app_pk else f"{m.name} ({m.ml_app.name})",
            narrowed=app_pk is not None,
        )
        if app_pk is not None and models:
            self.fields["model"].help_text = speeds_text(models)
        self.fields["dataset"].widget.choices = self._grouped(
            datasets,
            DATASET_GROUPS,
            user_pk,
            "Select from datasets…",
            label=lambda d: d.name,
            narrowed=app_pk is not None,
            skip_empty={"organization"},
        )

    @staticmethod
    def _grouped(
        items: list[Any],
        groups: tuple[tuple[str, str], ...],
        user_pk: int,
        hub_label: str,
        *,
        label: Any,
        narrowed: bool,
        skip_empty: frozenset[str] | set[str] = frozenset(),
    ) -> list[Any]:
        choices: list[Any] = [("", "---------")]
        for tier, title in groups:
            options = [(str(i.pk), label(i)) for i in items if i.tier_for(user_pk) == tier]
            if not options and tier in skip_empty:
                continue
            # An empty group still shows, so people see where their models would be.
            empty = "(none for this ML App)" if narrowed else "(none yet)"
            choices.append((title, options or [(f"{NONE}{tier}", empty)]))
        choices.append((HUB, hub_label))
        return choices

    def settings_fields(self) -> list[forms.BoundField]:
        return [
            self[SETTING_PREFIX + spec["name"]]
            for spec in self.settings_schema
            if not spec.get("table")
        ]

    def table_fields(self) -> list[forms.BoundField]:
        names = [SETTING_PREFIX + s["name"] for s in self.settings_schema if s.get("table")]
        return [self[name] for name in names if name in self.fields]

    def settings_have_errors(self) -> bool:
        return any(f.errors for f in self.settings_fields())

    # --- what the server re-checks ----------------------------------------------------

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        model, ml_app = cleaned.get("model"), cleaned.get("ml_app")
        if ml_app is None and model is not None:
            ml_app = cleaned["ml_app"] = model.ml_app
        raw_settings = {
            spec["name"]: cleaned.get(SETTING_PREFIX + spec["name"])
            for spec in self.settings_schema
        }
        if ml_app is not None and (self.shown_ml_app is None or ml_app.pk != self.shown_ml_app.pk):
            raw_settings = {}  # fields of another ML App: take the chosen app's defaults
        if ml_app is not None:
            try:
                # Checked here, not through job_check, so each refusal sits next to its
                # setting (a labels file outside the dataset too).
                cleaned["settings"] = job_settings_check(
                    ml_app=ml_app,
                    model=model,
                    dataset=cleaned.get("dataset"),
                    settings=raw_settings,
                )
            except ValidationError as exc:
                for key, messages in exc.message_dict.items():
                    name = SETTING_PREFIX + key
                    for message in messages:
                        self.add_error(name if name in self.fields else None, message)
        self.check = job_check(
            user=self.user,
            project=self.project,
            name=cleaned.get("name", ""),
            ml_app=ml_app,
            model=model,
            dataset=cleaned.get("dataset"),
            dataset_path=cleaned.get("dataset_path", ""),
            settings=raw_settings,
        )
        for key, messages in self.check.errors.items():
            if key == "settings":
                continue  # already shown next to each setting (job_settings_check)
            target: str | None = key if key in self.fields else None
            if target is None and SETTING_PREFIX + key in self.fields:
                target = SETTING_PREFIX + key  # a table column, refused against the table
            if target and self.has_error(target):
                continue  # e.g. "not one of the choices" already says it
            for message in messages:
                self.add_error(target, message)
        return cleaned
