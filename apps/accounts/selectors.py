from __future__ import annotations

from typing import Any

from apps.accounts.models import Membership


def organization_id_for(user: Any) -> int | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return (
        Membership.objects.filter(user_id=user.pk).values_list("organization_id", flat=True).first()
    )


def membership_for(user: Any) -> Membership | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.select_related("organization").filter(user_id=user.pk).first()
