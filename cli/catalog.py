"""`batchstudio project|app|model|dataset ...`: what jobs are made of."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cli.common import client, confirm, emit, path_ref, s3_secret
from cli.errors import CliError, UsageError
from cli.output import one_line


def cmd_project_create(args: argparse.Namespace) -> int:
    project = client().post("/projects", {"name": args.name, "description": args.description})
    emit(args, project, fields=["id", "name", "description", "created_at"])
    return 0


def cmd_project_list(args: argparse.Namespace) -> int:
    emit(args, client().get("/projects"), columns=["id", "name", "job_count", "created_at"])
    return 0


def cmd_project_delete(args: argparse.Namespace) -> int:
    confirm(args, f"Delete project '{args.name}' with all its jobs and results?")
    c = client()
    emit(args, c.delete(f"/projects/{path_ref(c, 'project', args.name)}"))
    return 0


LIST_COLUMNS = {
    "apps": ["key", "name", "input_kind", "results_filename"],
    "models": ["id", "name", "ml_app", "tier", "source_type", "owner", "speed", "quality"],
    "datasets": ["id", "name", "ml_apps", "tier", "default_path", "sample_count"],
}


def _list(args: argparse.Namespace, what: str) -> int:
    query = {"ml_app": args.ml_app} if what != "apps" else {}
    rows = client().get(f"/{what}", **query)
    if what == "models" and not args.json:
        rows = [{**row, **_card_columns(row.get("card"))} for row in rows]
    emit(args, rows, columns=LIST_COLUMNS[what])
    return 0


def _card_columns(card: dict[str, Any] | None) -> dict[str, str]:
    """A platform model's card as two short columns (`--json` has the whole card)."""
    if not card:
        return {"speed": "", "quality": ""}
    speed = card.get("speed") or {}
    quality = card.get("quality") or {}
    return {
        "speed": f"{speed.get('samples_per_second', 0):,} {speed.get('unit', '')}/s",
        "quality": f"{quality['metric']} {quality['value']}" if quality else "",
    }


def cmd_app_list(args: argparse.Namespace) -> int:
    return _list(args, "apps")


def cmd_model_list(args: argparse.Namespace) -> int:
    return _list(args, "models")


def cmd_dataset_list(args: argparse.Namespace) -> int:
    return _list(args, "datasets")


def _upload_files(paths: list[str], stack: ExitStack) -> list[tuple[str, tuple[str, Any]]]:
    """Open each path for upload; a folder is zipped on the fly (the server unpacks it)."""
    files = []
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            if not path.exists():
                raise CliError(f"No such file or folder: {raw}")
            if path.is_dir():
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                path = Path(shutil.make_archive(str(tmp / path.name), "zip", root_dir=path))
            files.append(("files", (path.name, stack.enter_context(path.open("rb")))))
        except OSError as exc:
            raise CliError(f"Cannot read {raw}: {exc.strerror or exc}.") from exc
    return files


def _source_problem(args: argparse.Namespace) -> str | None:
    """Why --file/--folder (/--s3) do not name exactly one source, or None."""
    folder = (args.folder or "").strip()
    s3 = getattr(args, "s3", None)
    if s3 and (args.file or folder):
        return "Give --s3 alone: it imports from S3 instead of --file or --folder."
    if getattr(args, "link", False) and not s3:
        return "--link goes with --s3: it reads the objects there in place."
    if s3:
        return None if s3.startswith("s3://") else f"--s3 takes s3://bucket/prefix (got {s3!r})."
    if args.file and folder:
        return (
            "Give --file or --folder, not both: --file uploads from this machine, --folder "
            "registers a folder that is already under the server's storage root."
        )
    if not args.file and not folder:
        return (
            "Give --file (files, an archive or a folder to upload from this machine) or "
            "--folder (a folder already on the server, relative to its storage root)."
        )
    if folder.startswith(("/", "\\", "~")) or folder[1:2] == ":":
        return (
            f"--folder is a path relative to the server's storage root, not an absolute "
            f"path (got {args.folder!r}); to upload a folder from this machine, use --file."
        )
    return None


def _add(args: argparse.Namespace, kind: str, data: dict[str, Any]) -> Any:
    problem = _source_problem(args)
    if problem:
        raise UsageError(problem)
    c = client()
    c.timeout = max(c.timeout, 3600)  # uploads of big checkpoints take a while
    with ExitStack() as stack:
        files = _upload_files(args.file or [], stack)
        return c.request("POST", f"/{kind}", data=data, files=files or None)


def cmd_model_add(args: argparse.Namespace) -> int:
    model = _add(
        args,
        "models",
        {
            "name": args.name,
            "ml_app": args.ml_app,
            "visibility": args.visibility,
            "folder": args.folder or "",
        },
    )
    emit(args, model, fields=["id", "name", "ml_app", "tier", "source_type", "size_bytes"])
    return 0


def _import(args: argparse.Namespace) -> Any:
    if not args.access_key_id:
        raise UsageError(
            "--s3 needs --access-key-id (the secret comes from AWS_SECRET_ACCESS_KEY)."
        )
    secret = s3_secret("nothing was imported")
    c = client()
    dataset = c.post(
        "/datasets/import",
        {
            "name": args.name,
            "ml_apps": args.ml_app,
            "visibility": args.visibility,
            "default_path": args.path or "",
            "s3_uri": args.s3,
            "endpoint_url": args.endpoint_url or "",
            "region": args.region or "",
            "access_key_id": args.access_key_id,
            "secret_access_key": secret,
            "link": bool(args.link),
        },
    )
    if not args.wait:
        return dataset
    last = ""
    while (dataset.get("s3_import") or {}).get("status") in ("QUEUED", "RUNNING"):
        state = dataset["s3_import"]
        line = (
            f"Checking the link to {state['uri']}"
            if args.link
            else f"Importing {state['uri']}: {state['objects_done']}/{state['objects_total']} "
            f"objects, {state['progress_percent']} %"
        )
        if line != last and not args.json:
            print(one_line(line, 1000), file=sys.stderr)
            last = line
        time.sleep(2)
        dataset = c.get(f"/datasets/{dataset['id']}")
    state = dataset.get("s3_import") or {}
    if state.get("status") == "FAILED":
        what = "The link" if args.link else "The import"
        raise CliError(f"{what} failed: {state.get('message')}")
    return dataset


def cmd_dataset_add(args: argparse.Namespace) -> int:
    if args.s3:
        problem = _source_problem(args)
        if problem:
            raise UsageError(problem)
        dataset = _import(args)
        emit(
            args,
            dataset,
            fields=["id", "name", "ml_apps", "default_path", "data_format", "sample_count"],
        )
        return 0
    dataset = _add(
        args,
        "datasets",
        {
            "name": args.name,
            "ml_apps": args.ml_app,
            "visibility": args.visibility,
            "folder": args.folder or "",
            "default_path": args.path or "",
        },
    )
    emit(
        args,
        dataset,
        fields=["id", "name", "ml_apps", "tier", "default_path", "data_format", "sample_count"],
    )
    return 0


def cmd_dataset_resume(args: argparse.Namespace) -> int:
    secret = s3_secret("nothing was changed")
    c = client()
    ref = path_ref(c, "dataset", args.name)
    dataset = c.post(f"/datasets/{ref}/import/resume", {"secret_access_key": secret})
    emit(args, dataset, fields=["id", "name", "data_format", "sample_count", "s3_import"])
    return 0


def cmd_catalog_delete(args: argparse.Namespace) -> int:
    confirm(args, f"Delete {args.kind} '{args.name}'?")
    c = client()
    emit(args, c.delete(f"/{args.kind}s/{path_ref(c, args.kind, args.name)}"))
    return 0
