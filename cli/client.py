"""A thin HTTP client of the REST API. Every failure becomes a CliError of one readable line."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import requests

from cli.config import Config, host_problem
from cli.errors import CliError, UsageError
from cli.output import one_line

__all__ = ["Client", "CliError", "Downloaded", "UsageError", "one_line"]

# What a status means when the answer is a page (a proxy's, or a server's crash page)
# rather than the API's JSON error.
_HINTS = {
    401: "the server wants an API token it did not get",
    403: "the server (or a proxy in front of it) refused the request",
    404: "no such API address: is this a BatchStudio server, and is the host right?",
    405: "the server does not accept this request here: is the CLI newer than the server?",
    413: "the upload is larger than the server (or a proxy in front of it) accepts",
    429: "too many requests: wait a little and try again",
    500: "the server failed; its log says why",
    502: "the server is not answering its proxy: is it running?",
    503: "the server is not available right now: try again shortly",
    504: "the server did not answer its proxy in time: try again shortly",
}


@dataclass(frozen=True)
class Downloaded:
    size: int  # bytes of the finished file
    resumed_from: int  # bytes that were already there (0: downloaded from the start)


class Client:
    def __init__(self, config: Config, timeout: float = 30) -> None:
        if not config.host:
            raise CliError(
                "No server configured: run `batchstudio login --host URL` first "
                "(or set BATCHSTUDIO_HOST and BATCHSTUDIO_TOKEN)."
            )
        problem = host_problem(config.host)
        if problem:
            raise CliError(
                f"{config.host_source} is not a server address ({config.host!r}): {problem}."
            )
        if not config.token:
            raise CliError("No API token: run `batchstudio login --host URL`.")
        if not (config.token.isascii() and config.token.isprintable()) or " " in config.token:
            raise CliError(
                "The API token holds spaces or characters a token never has: copy it again "
                "from the server's API tokens page."
            )
        self.host = config.host
        self.base = f"{config.host}/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {config.token}"
        self.timeout = timeout

    # --- requests --------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self.session.request(method, self.base + path, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise CliError(self._connection_problem(exc)) from exc

    def _connection_problem(self, exc: requests.RequestException) -> str:
        causes = list(_causes(exc))
        if isinstance(exc, requests.exceptions.SSLError):
            return f"TLS problem with {self.host}: {one_line(str(causes[-1]), 150)}"
        if isinstance(exc, requests.Timeout):
            return f"{self.host} did not answer within {self.timeout:g} s: is the server busy?"
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return f"Cannot reach {self.host}: connection refused (is the server running?)"
        if any(isinstance(c, socket.gaierror) for c in causes):
            return f"Cannot reach {self.host}: the host name is unknown (a typo in the host?)"
        if isinstance(exc, requests.ConnectionError):
            return (
                f"The connection to {self.host} failed before an answer came "
                "(is the server running, and is the host right?)"
            )
        return f"Cannot send the request to {self.host}: {one_line(str(exc), 150)}"

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of the API; anything else is a CliError."""
        response = self._send(method, path, **kwargs)
        if response.status_code >= 400:
            raise CliError(_error_line(response))
        if response.status_code == 204:
            return None
        body = _json_body(response)
        if body is None:
            kind = response.headers.get("Content-Type", "").split(";")[0] or "no content type"
            raise CliError(
                f"{self.base}{path} answered {kind}, not the API's JSON "
                f"(HTTP {response.status_code}): is {self.host} a BatchStudio server?"
            )
        return body

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=_present(params))

    def post(self, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        return self.request("POST", path, json=body or {}, params=_present(params))

    def delete(self, path: str, **params: Any) -> Any:
        return self.request("DELETE", path, params=_present(params))

    # --- download --------------------------------------------------------------------

    def download(
        self,
        path: str,
        target: Path,
        *,
        params: dict[str, Any] | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
    ) -> Downloaded:
        """Stream to `target`; a partial `target.part` is resumed with an HTTP Range."""
        partial = target.with_name(target.name + ".part")
        start = partial.stat().st_size if partial.is_file() else 0
        headers = {"Range": f"bytes={start}-"} if start else {}
        with self._send("GET", path, params=params, headers=headers, stream=True) as response:
            if response.status_code == 416 and start:
                if _range_total(response) == start:  # the part file is already complete
                    _save(partial, target)
                    return Downloaded(start, start)
                # The part is longer than the file: not a piece of it. Start again.
                _remove(partial)
                return self.download(path, target, params=params, on_progress=on_progress)
            if response.status_code >= 400:
                raise CliError(_error_line(response))
            if response.status_code != 206:
                start = 0  # the server sent the whole file
            length = response.headers.get("Content-Length")
            total = start + int(length) if length and length.isdigit() else None
            done = start
            try:
                with partial.open("ab" if start else "wb") as out:
                    for chunk in response.iter_content(chunk_size=1 << 20):
                        out.write(chunk)
                        done += len(chunk)
                        if on_progress:
                            on_progress(done, total)
            except requests.RequestException as exc:
                raise CliError(
                    f"Download interrupted at {done:,} bytes: the connection to {self.host} "
                    "broke. Run the command again to resume."
                ) from exc
            except OSError as exc:
                resume = " Run the command again to resume." if done else ""
                raise CliError(f"Cannot save {target}: {exc.strerror or exc}.{resume}") from exc
        if total is not None and done != total:
            raise CliError(
                f"Download interrupted at {done:,} of {total:,} bytes; "
                "run the command again to resume."
            )
        _save(partial, target)
        return Downloaded(done, start)


def _present(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None and v != ""}


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps (urllib3 keeps the cause in `reason` and in `args`)."""
    seen: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or any(item is s for s in seen):
            continue
        seen.append(item)
        yield item
        todo += [getattr(item, "reason", None), item.__cause__, item.__context__, *item.args]


def _json_body(response: requests.Response) -> Any:
    """The decoded JSON body, or None when the answer is not JSON."""
    if "json" not in response.headers.get("Content-Type", ""):
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _error_line(response: requests.Response) -> str:
    code = response.status_code
    body = _json_body(response)
    if isinstance(body, dict):
        message = body.get("message") or body.get("detail")
        if isinstance(message, str) and message.strip():
            return f"{one_line(message)} (HTTP {code})"
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = one_line(response.reason or "Error", 60)
    if response.headers.get("Content-Type", "").startswith("text/plain"):
        text = one_line(response.text[:500], 200)  # a short plain reason is worth showing
        if text:
            return f"{phrase}: {text} (HTTP {code})"
    hint = _HINTS.get(code) or "the server answered a page, not the API's JSON"
    return f"{phrase}: {hint} (HTTP {code})"


def _range_total(response: requests.Response) -> int | None:
    match = re.match(r"bytes \*/(\d+)$", response.headers.get("Content-Range", ""))
    return int(match[1]) if match else None


def _save(partial: Path, target: Path) -> None:
    try:
        partial.replace(target)
    except OSError as exc:
        raise CliError(f"Cannot save {target}: {exc.strerror or exc}.") from exc


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError as exc:
        raise CliError(f"Cannot remove the old partial download {path}: {exc.strerror}.") from exc
