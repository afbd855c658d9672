from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apps.accounts.models import ApiToken, Membership
from apps.accounts.services import (
    api_token_create,
    api_token_revoke,
    membership_add,
    membership_ensure,
    membership_limit_set,
    membership_remove,
)


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
        "tokens": ApiToken.objects.filter(user=membership_ensure(request.user).user),
        "new_token": new_token,
        "error": error,
        "nav": "account",
    }
    response = render(request, "accounts/tokens.html", context, status=400 if error else 200)
    response["Cache-Control"] = "no-store"  # the raw token must not sit in a cache
    return response


@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=pk, user_id=request.user.pk)
    api_token_revoke(token=token)
    messages.success(request, f"Token '{token.name}' revoked.")
    return redirect("accounts:tokens")


@require_http_methods(["GET", "POST"])
def organization(request: HttpRequest) -> HttpResponse:
    """Members of the user's organization; admins add and remove them."""
    mine = membership_ensure(request.user)
    error, created_password, status = None, None, 200
    if request.method == "POST":
        try:
            membership, created_password = membership_add(
                actor=request.user, username=request.POST.get("username", "")
            )
            messages.success(request, f"{membership.user.get_username()} joined the organization.")
        except ValidationError as exc:
            error, status = " ".join(exc.messages), 400
        except PermissionDenied as exc:
            error, status = str(exc), 403
    members = Membership.objects.filter(organization=mine.organization).select_related("user")
    response = render(
        request,
        "accounts/organization.html",
        {
            "membership": mine,
            "members": members.order_by("user__username"),
            "is_admin": mine.role == Membership.Role.ADMIN,
            "error": error,
            "created_password": created_password,
            "nav": "organization",
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
def member_limit(request: HttpRequest, pk: int) -> HttpResponse:
    """An admin sets (or clears, with an empty field) a member's cap on running jobs."""
    mine = membership_ensure(request.user)
    member = get_object_or_404(Membership, pk=pk, organization=mine.organization)
    raw = request.POST.get("max_running_jobs", "").strip()
    name = member.user.get_username()
    try:
        limit = int(raw) if raw else None
        membership_limit_set(actor=request.user, member=member, max_running_jobs=limit)
    except ValueError:
        messages.error(request, "A cap on running jobs is a whole number from 1 to 1000.")
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        what = f"at most {limit} running job{'s' if limit != 1 else ''}" if limit else "no cap"
        messages.success(request, f"{name}: {what}. Waiting jobs start within 30 s.")
    return redirect("accounts:organization")


@require_POST
def member_remove(request: HttpRequest, pk: int) -> HttpResponse:
    mine = membership_ensure(request.user)
    member = get_object_or_404(Membership, pk=pk, organization=mine.organization)
    try:
        membership_remove(actor=request.user, member=member)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{member.user.get_username()} left the organization.")
    return redirect("accounts:organization")
