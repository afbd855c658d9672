"""`batchstudio webhook …`: a project's webhook endpoints; `job webhooks`: a job's deliveries."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from cli.common import client, emit, path_ref

EVENTS = ["job.completed", "job.failed", "job.stopped"]


def cmd_webhook_list(args: argparse.Namespace) -> int:
    c = client()
    rows = c.get(f"/projects/{path_ref(c, 'project', args.project)}/webhooks")
    emit(args, rows, columns=["id", "url", "events", "created_at"])
    return 0


def cmd_webhook_add(args: argparse.Namespace) -> int:
    c = client()
    body: dict[str, Any] = {"url": args.url}
    if args.event:
        body["events"] = args.event
    created = c.post(f"/projects/{path_ref(c, 'project', args.project)}/webhooks", body)
    emit(args, created, fields=["id", "url", "events", "secret"])
    if not args.json:
        print("Keep the secret: it is not shown again.", file=sys.stderr)
    return 0


def cmd_webhook_remove(args: argparse.Namespace) -> int:
    c = client()
    project = path_ref(c, "project", args.project)
    emit(args, c.delete(f"/projects/{project}/webhooks/{args.id}"))
    return 0


def cmd_job_webhooks(args: argparse.Namespace) -> int:
    c = client()
    ref = path_ref(c, "job", args.job, project=args.project)
    rows = c.get(f"/jobs/{ref}/webhooks", project=args.project)
    if args.json:
        emit(args, rows)
        return 0
    flat = [
        {
            **row,
            "tries": len(row["attempts"]),
            "last": (row["attempts"][-1]["status_code"] or row["attempts"][-1]["error"])
            if row["attempts"]
            else "",
        }  # fmt: skip
        for row in rows
    ]
    emit(args, flat, columns=["id", "event", "url", "status", "tries", "last"])
    return 0


def add_commands(
    sub: Any,
    common: argparse.ArgumentParser,
    command: Callable[..., argparse.ArgumentParser],
    group: Callable[..., Any],
    project_name: Callable[[str], str],
) -> None:
    hooks = group(sub, "webhook", "a project's webhooks (signed POSTs when its jobs end)")
    p = command(hooks, "list", "list a project's webhooks", cmd_webhook_list, parents=[common])
    p.add_argument("project", type=project_name, help="project name or id")
    p = command(hooks, "add", "register a webhook URL", cmd_webhook_add, parents=[common])
    p.add_argument("project", type=project_name, help="project name or id")
    p.add_argument("url", help="an http(s) URL the server can reach")
    p.add_argument("--event", action="append", choices=EVENTS, help="repeat; default: all")
    p = command(hooks, "remove", "remove a webhook", cmd_webhook_remove, parents=[common])
    p.add_argument("project", type=project_name, help="project name or id")
    p.add_argument("id", type=int, help="the webhook's id (see: webhook list)")
