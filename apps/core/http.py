"""Request and response helpers shared by the views of every area."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    """For the type checker: django_htmx's middleware sets `request.htmx`."""

    htmx: HtmxDetails


def redirect_back(request: HttpRequest, fallback: str, **kwargs: Any) -> HttpResponseRedirect:
    """Go to the form's `next` (same site only), else to `fallback`."""
    target = request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return HttpResponseRedirect(target)
    return redirect(fallback, **kwargs)
