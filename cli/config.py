"""Where the CLI keeps its host and token: $XDG_CONFIG_HOME/batchstudio/config.json (0600).

BATCHSTUDIO_HOST and BATCHSTUDIO_TOKEN in the environment take precedence.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Config:
    host: str
    token: str


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "batchstudio" / "config.json"


def config_load() -> Config:
    stored: dict[str, str] = {}
    path = config_path()
    if path.exists():
        try:
            stored = json.loads(path.read_text())
        except (OSError, ValueError):
            stored = {}
    return Config(
        host=(os.environ.get("BATCHSTUDIO_HOST") or stored.get("host") or "").rstrip("/"),
        token=os.environ.get("BATCHSTUDIO_TOKEN") or stored.get("token") or "",
    )


def config_save(config: Config) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Create with 0600 before writing, so the token is never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"host": config.host, "token": config.token}, fh)
    os.chmod(path, 0o600)
    return path
