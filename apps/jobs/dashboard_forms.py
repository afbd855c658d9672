"""The dashboard's filter form: search, status, project, ML App, sort and page size."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.jobs.models import JobStatus

# --- dashboard ------------------------------------------------------------------------

# Column key → (header, ordering field), in the dashboard's column order.
SORTS = {
    "name": ("Name", "name"),
    "project": ("Project", "project__name"),
    "ml_app": ("ML App", "ml_app__name"),
    "model": ("Model", "model_name"),
    "dataset": ("Dataset", "dataset_name"),
    "status": ("Status", "status"),
    "created": ("Created", "created_at"),
}
PER_PAGE = (10, 25, 50, 100)


class DashboardFilterForm(forms.Form):
    q = forms.CharField(label="Search by name", required=False, max_length=100)
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any status"), ("active", "Active"), *JobStatus.choices],
    )
    project = forms.TypedChoiceField(label="Project", required=False, coerce=int, empty_value=None)
    ml_app = forms.TypedChoiceField(label="ML App", required=False, coerce=int, empty_value=None)
    sort = forms.ChoiceField(
        label="Sort by",
        required=False,
        choices=[
            (f"{d}{k}", f"{label} {'↓' if d else '↑'}")
            for k, (label, _) in SORTS.items()
            for d in ("-", "")
        ],
    )
    per_page = forms.TypedChoiceField(
        label="Per page",
        required=False,
        coerce=int,
        empty_value=None,
        choices=[(n, str(n)) for n in PER_PAGE],
    )

    def __init__(
        self, data: Any, *, projects: list[tuple[int, str]], ml_apps: list[tuple[int, str]]
    ) -> None:
        data = data.copy()
        data.setdefault("per_page", "25")  # so the dropdown shows the page size in use
        super().__init__(data)
        self.fields["project"].choices = [("", "All projects"), *projects]  # type: ignore[attr-defined]
        self.fields["ml_app"].choices = [("", "All ML Apps"), *ml_apps]  # type: ignore[attr-defined]

    def filters(self) -> dict[str, Any]:
        """The valid filters; a value that is not valid is ignored, never an error page."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        values = {
            "q": data.get("q") or "",
            "status": data.get("status") or "",
            "project": data.get("project"),
            "ml_app": data.get("ml_app"),
            "sort": data.get("sort") or "-created",
            "per_page": data.get("per_page") or 25,
        }
        for name in self.errors:  # keep only the fields that are fine
            values[name] = {"sort": "-created", "per_page": 25, "q": "", "status": ""}.get(name)
        return values
