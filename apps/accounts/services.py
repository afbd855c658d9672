"""Users and their organizations."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from apps.accounts.models import ApiToken, Membership, Organization
from apps.catalog.models import Dataset, MLModel
from apps.core.text import name_problem, shown
from apps.projects.models import Project

TOKEN_NAME_MAX_LENGTH = 100  # ApiToken.name
USERNAME_MAX_LENGTH = 150  # User.username


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    email: str = "",
    organization: Organization | None = None,
    role: str = Membership.Role.MEMBER,
    is_superuser: bool = False,
) -> Any:
    """Create a user in `organization`, or in a new organization of their own."""
    User = get_user_model()
    if is_superuser:
        user = User.objects.create_superuser(username=username, email=email, password=password)
    else:
        user = User.objects.create_user(username=username, email=email, password=password)
    if organization is None:
        organization = Organization.objects.create(name=_free_org_name(f"{username}'s team"))
        role = Membership.Role.ADMIN
    Membership.objects.create(user=user, organization=organization, role=role)
    return user


def membership_ensure(user: Any) -> Membership:
    """Users made outside user_create (createsuperuser, admin) still get an organization."""
    membership = Membership.objects.filter(user=user).first()
    if membership:
        return membership
    org = Organization.objects.create(name=_free_org_name(f"{user.get_username()}'s team"))
    return Membership.objects.create(user=user, organization=org, role=Membership.Role.ADMIN)


def _free_org_name(base: str) -> str:
    name = base
    while Organization.objects.filter(name=name).exists():
        name = f"{base} {secrets.token_hex(2)}"
    return name


def admin_ensure(*, username: str = "admin") -> tuple[Any | None, str | None]:
    """Create the first admin when no superuser exists; return (user, password) if made."""
    User = get_user_model()
    if User.objects.filter(is_superuser=True).exists():
        return None, None
    password = secrets.token_urlsafe(12)
    user = user_create(username=username, password=password, is_superuser=True)
    return user, password


TOKEN_PREFIX = "bst_"  # noqa: S105 - a public prefix, not a secret


def _token_hash(raw: str) -> str:
    import hashlib

    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def api_token_create(*, user: Any, name: str) -> tuple[ApiToken, str]:
    """Return the token row and the raw token, which is never stored and shown once."""
    from django.core.exceptions import ValidationError

    name = name.strip()
    if not name:
        raise ValidationError({"name": ["Give the token a name, e.g. the machine it is for."]})
    if problem := name_problem(name, what="token name", max_length=TOKEN_NAME_MAX_LENGTH):
        raise ValidationError({"name": [problem]})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[: len(TOKEN_PREFIX) + 6], token_hash=_token_hash(raw)
    )
    return token, raw


def api_token_revoke(*, token: ApiToken) -> None:
    from django.utils import timezone

    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_authenticate(raw: str) -> Any | None:
    from django.utils import timezone

    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=_token_hash(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token.user


def _require_admin(actor: Any) -> Membership:
    from django.core.exceptions import PermissionDenied

    membership = membership_ensure(actor)
    if membership.role != Membership.Role.ADMIN:
        raise PermissionDenied("Only organization admins can change members.")
    return membership


@transaction.atomic
def membership_add(*, actor: Any, username: str) -> tuple[Membership, str | None]:
    """Bring a user into the actor's organization; a new username gets an account.

    Returns the membership and, for a new account, its one-time password.
    """
    from django.contrib.auth.validators import UnicodeUsernameValidator
    from django.core.exceptions import ValidationError

    admin = _require_admin(actor)
    username = username.strip()
    if not username:
        raise ValidationError({"username": ["Give a username."]})
    if problem := name_problem(username, what="username", max_length=USERNAME_MAX_LENGTH):
        raise ValidationError({"username": [problem]})
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    if user is None:
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError as exc:
            raise ValidationError({"username": exc.messages}) from exc
        password = secrets.token_urlsafe(12)
        user = user_create(username=username, password=password, organization=admin.organization)
        return user.membership, password  # type: ignore[attr-defined]
    membership = membership_ensure(user)
    if membership.organization_id == admin.organization_id:
        raise ValidationError({"username": [f"{shown(username)} is already a member."]})
    old_org = membership.organization
    membership.organization = admin.organization
    membership.role = Membership.Role.MEMBER
    membership.save(update_fields=["organization", "role"])
    if not old_org.memberships.exists():
        old_org.delete()
    return membership, None


@transaction.atomic
def membership_limit_set(*, actor: Any, member: Membership, max_running_jobs: int | None) -> None:
    """An admin caps (or, with None, uncaps) how many of a member's jobs run at once."""
    from django.core.exceptions import ValidationError

    admin = _require_admin(actor)
    if member.organization_id != admin.organization_id:
        raise ValidationError("Not a member of your organization.")
    if max_running_jobs is not None and not 1 <= max_running_jobs <= 1000:
        raise ValidationError("A cap on running jobs is a whole number from 1 to 1000.")
    Membership.objects.filter(pk=member.pk).update(max_running_jobs=max_running_jobs)


def membership_remove(*, actor: Any, member: Membership) -> None:
    """The member leaves: they get an organization of their own, and no longer see ours."""
    from django.core.exceptions import ValidationError

    admin = _require_admin(actor)
    if member.organization_id != admin.organization_id:
        raise ValidationError("Not a member of your organization.")
    if member.user_id == actor.pk:
        raise ValidationError("You cannot remove yourself; ask another admin.")
    org = Organization.objects.create(name=_free_org_name(f"{member.user.get_username()}'s team"))
    member.organization = org
    member.role = Membership.Role.ADMIN
    member.save(update_fields=["organization", "role"])
    # Their own models, datasets and projects follow them to their new organization.
    for model_cls in (MLModel, Dataset, Project):
        model_cls.objects.filter(owner_id=member.user_id).update(organization=org)
