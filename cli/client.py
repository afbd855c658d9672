"""A thin HTTP client of the REST API. Errors become CliError with one readable line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from cli.config import Config


class CliError(Exception):
    pass


class Client:
    def __init__(self, config: Config, timeout: float = 30) -> None:
        if not config.host:
            raise CliError("No server configured: run `batchstudio login --host URL` first.")
        if not config.token:
            raise CliError("No API token: run `batchstudio login --host URL`.")
        self.base = f"{config.host}/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {config.token}"
        self.timeout = timeout

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.session.request(
                method, self.base + path, timeout=self.timeout, **kwargs
            )
        except requests.ConnectionError as exc:
            raise CliError(f"Cannot reach {self.base}: is the server running?") from exc
        except requests.Timeout as exc:
            raise CliError(f"{self.base} did not answer within {self.timeout:.0f} s.") from exc
        if response.status_code >= 400:
            raise CliError(_error_line(response))
        if response.headers.get("Content-Type", "").startswith("application/json"):
            return response.json()
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v})

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:  # JSON body
        return self.request("POST", path, json=body or {})

    def delete(self, path: str, **params: Any) -> Any:
        return self.request("DELETE", path, params={k: v for k, v in params.items() if v})

    def download(
        self,
        path: str,
        target: Path,
        *,
        params: dict[str, Any] | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> int:
        """Stream to `target`; a partial `target.part` is resumed with an HTTP Range."""
        partial = target.with_name(target.name + ".part")
        start = partial.stat().st_size if partial.exists() else 0
        headers = {"Range": f"bytes={start}-"} if start else {}
        try:
            response = self.session.get(
                self.base + path, params=params, headers=headers, stream=True, timeout=self.timeout
            )
        except requests.ConnectionError as exc:
            raise CliError(f"Cannot reach {self.base}: is the server running?") from exc
        if response.status_code == 416:  # the part file is already complete
            partial.rename(target)
            return target.stat().st_size
        if response.status_code >= 400:
            raise CliError(_error_line(response))
        if response.status_code != 206:
            start = 0  # the server sent the whole file
        length = response.headers.get("Content-Length")
        total = start + int(length) if length else None
        done = start
        with partial.open("ab" if start else "wb") as out:
            for chunk in response.iter_content(chunk_size=1 << 20):
                out.write(chunk)
                done += len(chunk)
                if on_progress:
                    on_progress(done, total)
        if total is not None and done != total:
            raise CliError(
                f"Download interrupted at {done} of {total} bytes; run the command again to resume."
            )
        partial.rename(target)
        return done


def _error_line(response: requests.Response) -> str:
    try:
        body = response.json()
        message = body.get("message") or str(body)
    except ValueError:
        message = response.text.strip()[:200] or response.reason
    return f"{message} (HTTP {response.status_code})"
