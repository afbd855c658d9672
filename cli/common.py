"""What every command uses: the client, printing the answer, asking before deleting."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Collection
from typing import Any
from urllib.parse import quote

from cli.client import Client
from cli.config import config_load
from cli.errors import CliError
from cli.output import one_line, print_json, print_line, print_record, print_table


class Interrupted(CliError):
    """Ctrl-C, with what it left behind (exit status 130, as a shell gives)."""

    exit_code = 130


def client() -> Client:
    return Client(config_load())


def segment(ref: str) -> str:
    """`ref` as one URL path segment. Dots alone are encoded, or the HTTP library would
    read `..` as "the folder above" and send the request elsewhere."""
    if ref and set(ref) == {"."}:
        return "%2E" * len(ref)
    return quote(ref, safe="")


def path_ref(c: Client, kind: str, ref: str, **filters: Any) -> str:
    """`ref` (a name or an id) as the URL path segment of a `kind` ("job", "project",
    "model", "dataset").

    A web server decodes %2F back into "/" before routing, so a name holding "/" (a
    Hugging Face style model name, say) cannot travel in the path: it is looked up in
    the listing and sent as its id. `filters` narrow the listing (a job's project)."""
    if "/" not in ref:
        return segment(ref)
    listing = c.get(
        f"/{kind}s", **({"search": ref, "limit": 500} if kind == "job" else {}), **filters
    )
    found = [item for item in listing if item.get("name") == ref]
    if kind in ("model", "dataset"):  # one may only delete one's own
        found = [item for item in found if item.get("tier") == "mine"] or found
    if not found:
        raise CliError(f"No {kind} named '{ref}'. List them with: batchstudio {kind} list")
    if len(found) > 1:
        ids = ", ".join(str(item["id"]) for item in found)
        hint = "give --project or the id" if kind == "job" else "give the id"
        raise CliError(f"Several {kind}s are named '{ref}' (ids {ids}): {hint}.")
    return str(found[0]["id"])


def emit(
    args: argparse.Namespace,
    data: Any,
    columns: list[str] | None = None,
    fields: list[str] | None = None,
    exact: Collection[str] = (),
) -> None:
    """`data` as JSON (--json), a table (`columns`), a record (`fields`, those of `exact`
    not rounded) or its message."""
    if args.json:
        print_json(data)
    elif columns is not None:
        print_table(data, columns)
    elif fields is not None:
        print_record(data, fields, exact)
    else:
        print_line(str(data.get("message", data) if isinstance(data, dict) else data))


def confirm(args: argparse.Namespace, question: str) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise CliError(f"{question} Refusing without confirmation: add --yes.")
    try:
        answer = input(f"{one_line(question, 1000)} [y/N] ")
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise CliError("Cancelled: nothing was deleted.")


def s3_secret(nothing_done: str) -> str:
    """The S3 secret access key: from the environment or a prompt, never the command line
    (so it stays out of shell history)."""
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY") or os.environ.get("BATCHSTUDIO_S3_SECRET")
    if secret:
        return secret
    if not sys.stdin.isatty():
        raise CliError(
            "Set AWS_SECRET_ACCESS_KEY (the secret is never taken from the "
            "command line, so it stays out of your shell history)."
        )
    try:
        return getpass.getpass("Secret Access Key: ")
    except EOFError as exc:
        raise CliError(f"No Secret Access Key given: {nothing_done}.") from exc
