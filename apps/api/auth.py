"""Who is asking: the API token of `Authorization: Bearer <token>`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja.security import HttpBearer

from apps.accounts.services import api_token_authenticate


class TokenAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> Any:
        user = api_token_authenticate(token)
        if user is not None:
            request.user = user  # type: ignore[assignment]
        return user


def request_user(request: HttpRequest) -> Any:
    """The token's user (every endpoint requires a token)."""
    return request.auth  # type: ignore[attr-defined]
