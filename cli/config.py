"""Where the CLI keeps its host and token: $XDG_CONFIG_HOME/batchstudio/config.json (0600).

BATCHSTUDIO_HOST and BATCHSTUDIO_TOKEN in the environment take precedence.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cli.errors import CliError


@dataclass
class Config:
    host: str
    token: str
    # Where the host came from, named in messages about it ("BATCHSTUDIO_HOST", "--host").
    host_source: str = "the saved login"


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "batchstudio" / "config.json"


def host_problem(host: str) -> str | None:
    """Why `host` is not a server address the CLI can use, or None."""
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "give an http:// or https:// address, e.g. http://127.0.0.1:8000"
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError:
        return "its port is not a number"
    if parts.query or parts.fragment:
        return "it may not hold a query (?) or a fragment (#)"
    return None


def _stored(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not valid JSON"
        raise CliError(
            f"Cannot read the CLI config {path} ({reason}): run `batchstudio login` again "
            "to rewrite it."
        ) from exc
    if not isinstance(stored, dict):
        raise CliError(
            f"The CLI config {path} is not a JSON object: run `batchstudio login` again "
            "to rewrite it."
        )
    return {k: v for k, v in stored.items() if isinstance(v, str)}


def config_load() -> Config:
    env_host = os.environ.get("BATCHSTUDIO_HOST", "").strip()
    env_token = os.environ.get("BATCHSTUDIO_TOKEN", "").strip()
    path = config_path()
    # The file only matters for what the environment does not give.
    stored = _stored(path) if not (env_host and env_token) else {}
    if env_host:
        host, source = env_host, "BATCHSTUDIO_HOST"
    else:
        host, source = stored.get("host", "").strip(), f"the saved login ({path})"
    return Config(
        host=host.rstrip("/"),
        token=env_token or stored.get("token", "").strip(),
        host_source=source,
    )


def config_save(config: Config) -> Path:
    path = config_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Create with 0600 before writing, so the token is never readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"host": config.host, "token": config.token}, fh)
        os.chmod(path, 0o600)
    except OSError as exc:
        raise CliError(
            f"Cannot save the login in {path}: {exc.strerror or exc} "
            "(set XDG_CONFIG_HOME to a writable folder, or use BATCHSTUDIO_HOST and "
            "BATCHSTUDIO_TOKEN instead)."
        ) from exc
    return path
