from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.models import ApiToken
from apps.accounts.services import api_token_create, api_token_revoke


@require_http_methods(["GET", "POST"])
def tokens(request: HttpRequest) -> HttpResponse:
    """API tokens: create (the raw token is shown once, on this response only) and list."""
    new_token = None
    error = None
    if request.method == "POST":
        try:
            _, new_token = api_token_create(user=request.user, name=request.POST.get("name", ""))
        except ValidationError as exc:
            error = exc.message_dict["name"][0]
    context = {
        "tokens": ApiToken.objects.filter(user=request.user),
        "new_token": new_token,
        "error": error,
        "nav": "account",
    }
    response = render(request, "accounts/tokens.html", context, status=400 if error else 200)
    response["Cache-Control"] = "no-store"  # the raw token must not sit in a cache
    return response


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    api_token_revoke(token=token)
    messages.success(request, f"Token '{token.name}' revoked.")
    return redirect("accounts:tokens")
