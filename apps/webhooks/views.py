"""A project's webhooks on its page: register one (its secret shown once), delete one."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from apps.projects.selectors import get_project_for_user
from apps.webhooks.forms import WebhookForm
from apps.webhooks.models import WebhookEndpoint
from apps.webhooks.services import webhook_add, webhook_delete

# The session key under which a new endpoint's secret waits for the next page (shown once).
NEW_SECRET = "webhooks:new-secret"  # noqa: S105 - a key's name, not a secret
# What a refused form held, so the page shows it again beside the reason (nothing retyped).
REFUSED = "webhooks:refused-form"


@require_POST
def webhook_add_view(request: HttpRequest, pk: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    form = WebhookForm(request.POST)
    refused = {"url": request.POST.get("url", "")[:2000], "events": request.POST.getlist("events")}
    if not form.is_valid():
        request.session[REFUSED] = refused
        for errors in form.errors.values():
            messages.error(request, " ".join(str(e) for e in errors))
    else:
        try:
            endpoint = webhook_add(
                user=request.user,
                project=project,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"],
            )
        except ValidationError as exc:
            request.session[REFUSED] = refused
            messages.error(request, " ".join(exc.messages))
        else:
            request.session[NEW_SECRET] = {"id": endpoint.pk, "secret": endpoint.secret}
            messages.success(request, f"Webhook added: {endpoint.url}")
    return redirect("projects:detail", pk=project.pk)


@require_POST
def webhook_delete_view(request: HttpRequest, pk: int, webhook_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, pk)
    endpoint = get_object_or_404(WebhookEndpoint, pk=webhook_id, project=project)
    url = endpoint.url
    webhook_delete(endpoint=endpoint)
    messages.success(request, f"Webhook removed: {url}")
    return redirect("projects:detail", pk=project.pk)
