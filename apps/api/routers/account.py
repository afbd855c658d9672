"""Who the token belongs to."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router

from apps.accounts.selectors import membership_for
from apps.api.auth import request_user
from apps.api.schemas import ERRORS, MeOut

router = Router(tags=["account"])


@router.get("/me", response={200: MeOut, **ERRORS})
def me(request: HttpRequest) -> dict[str, Any]:
    user = request_user(request)
    membership = membership_for(user)
    return {
        "username": user.get_username(),
        "organization": membership.organization.name if membership else None,
    }
