"""Users and their organizations."""

from __future__ import annotations

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import transaction

from apps.accounts.models import Membership, Organization


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    email: str = "",
    organization: Organization | None = None,
    role: str = Membership.Role.MEMBER,
    is_superuser: bool = False,
) -> AbstractUser:
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


def membership_ensure(user: AbstractUser) -> Membership:
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


def admin_ensure(*, username: str = "admin") -> tuple[AbstractUser | None, str | None]:
    """Create the first admin when no superuser exists; return (user, password) if made."""
    User = get_user_model()
    if User.objects.filter(is_superuser=True).exists():
        return None, None
    password = secrets.token_urlsafe(12)
    user = user_create(username=username, password=password, is_superuser=True)
    return user, password
