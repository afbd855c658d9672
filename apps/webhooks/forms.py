from __future__ import annotations

from django import forms

from apps.webhooks.models import EVENTS


class WebhookForm(forms.Form):
    url = forms.CharField(
        label="Endpoint URL",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://example.com/hooks/batchstudio"}),
    )
    events = forms.MultipleChoiceField(
        label="Events",
        choices=[(e, e) for e in EVENTS],
        initial=list(EVENTS),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one event."},
    )
