"""Job views, one module per screen: the wizard, the dashboard and the job window."""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """For the type checker: django_htmx's middleware sets `request.htmx`."""

    htmx: HtmxDetails
