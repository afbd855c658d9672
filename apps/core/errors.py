"""A service's refusals: a taken name coded as such, and a ValidationError mapped onto a
Django form field by field."""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError


def add_errors_to_form(form: forms.Form, exc: ValidationError) -> None:
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, messages in exc.message_dict.items():
        target = field if field in form.fields else None
        for message in messages:
            form.add_error(target if field != NON_FIELD_ERRORS else None, message)


# The code of a refusal because a name is already used: the API answers it with 409, every
# other refusal of a name (empty, too long, hidden characters) with 400.
NAME_TAKEN = "name_taken"


def name_taken(message: str) -> ValidationError:
    return ValidationError({"name": ValidationError(message, code=NAME_TAKEN)})


def is_name_taken(exc: ValidationError) -> bool:
    if not hasattr(exc, "error_dict"):
        return False
    return any(error.code == NAME_TAKEN for error in exc.error_dict.get("name", []))
