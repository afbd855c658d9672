"""The wizard's column picker: the table settings (`"table": True` in the settings schema)
as dropdowns and checkboxes of the chosen table's columns."""

from __future__ import annotations

from django import forms

from apps.catalog.settings_schema import FieldSpec
from apps.jobs.selectors import TablePreview


def column_field(spec: FieldSpec, table: TablePreview | None) -> forms.Field | None:
    """The form field of one table setting, or None when the path is not a table."""
    if table is None:
        return None
    choices = [(name, name) for name in table.schema.columns]
    common = {
        "label": spec["label"],
        "required": False,
        "help_text": spec.get("help", ""),
        "error_messages": {"invalid_choice": f"'%(value)s' is not a column of {table.name}."},
    }
    if spec["type"] == "columns":
        return forms.MultipleChoiceField(
            choices=choices, widget=forms.CheckboxSelectMultiple, **common
        )
    empty = f"Default: {table.schema.default_input}" if spec["name"] == "input_column" else "None"
    return forms.ChoiceField(choices=[("", empty), *choices], **common)
