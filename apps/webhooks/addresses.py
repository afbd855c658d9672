"""Where a webhook may point: an http(s) URL whose host resolves to public addresses only,
unless the operator allows private ones (WEBHOOK_ALLOW_PRIVATE). Checked when an endpoint
is registered and again before every attempt (a name may resolve elsewhere later)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

from apps.core.text import shown


def url_problem(url: str) -> str | None:
    """Why the platform will not call `url`, in a sentence; None when it may."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return f"'{shown(url)}' is not a URL."
    if not parts.scheme:
        return f"'{shown(url)}' is not a URL: give one that starts with https:// or http://."
    if parts.scheme not in ("http", "https"):
        return f"A webhook URL starts with https:// or http:// (not '{shown(parts.scheme)}:')."
    if not parts.hostname:
        return f"'{shown(url)}' names no host."
    if parts.username or parts.password:
        return "Put no user name or password in a webhook URL: deliveries are signed instead."
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return f"The host '{shown(parts.hostname)}' cannot be resolved from the server."
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return None
    for *_, address in found:
        ip = ipaddress.ip_address(address[0])
        if not ip.is_global or ip.is_multicast:
            return (
                f"'{shown(parts.hostname)}' points at {ip}, a private, loopback or reserved "
                "address: the server does not call those (its operator can allow them with "
                "WEBHOOK_ALLOW_PRIVATE=1)."
            )
    return None
