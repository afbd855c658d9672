"""Where a webhook may point: an http(s) URL whose host resolves to public addresses only,
unless the operator allows private ones (WEBHOOK_ALLOW_PRIVATE). Checked when an endpoint
is registered and again before every attempt, and the attempt connects to the very
address that was checked (a name that resolves to a public address for the check and to
a private one for the connection gets nowhere)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

from apps.core.text import shown


@dataclass(frozen=True)
class Target:
    """A checked URL: connect to `address`, present `hostname` (Host, TLS name)."""

    parts: SplitResult
    hostname: str
    port: int
    address: str

    @property
    def host_header(self) -> str:
        explicit = self.parts.port is not None
        name = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{name}:{self.port}" if explicit else name

    @property
    def path(self) -> str:
        return (self.parts.path or "/") + (f"?{self.parts.query}" if self.parts.query else "")


def check_url(url: str) -> tuple[Target | None, str]:
    """(the target, "") when the platform may call `url`; (None, why not) otherwise."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None, f"'{shown(url)}' is not a URL."
    if not parts.scheme:
        return None, f"'{shown(url)}' is not a URL: give one that starts with https:// or http://."
    if parts.scheme not in ("http", "https"):
        return None, (
            f"A webhook URL starts with https:// or http:// (not '{shown(parts.scheme)}:')."
        )
    if not parts.hostname:
        return None, f"'{shown(url)}' names no host."
    if parts.username or parts.password:
        return None, "Put no user name or password in a webhook URL: deliveries are signed."
    try:
        found = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None, f"The host '{shown(parts.hostname)}' cannot be resolved from the server."
    addresses = [str(info[4][0]) for info in found]
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if not ip.is_global or ip.is_multicast:
                return None, (
                    f"'{shown(parts.hostname)}' points at {ip}, a private, loopback or "
                    "reserved address: the server does not call those (its operator can "
                    "allow them with WEBHOOK_ALLOW_PRIVATE=1)."
                )
    return Target(parts, parts.hostname, port, addresses[0]), ""


def url_problem(url: str) -> str | None:
    """Why the platform will not call `url`, in a sentence; None when it may."""
    return check_url(url)[1] or None
