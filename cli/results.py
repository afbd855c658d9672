"""`batchstudio job download|upload|exports`: a job's results, saved here or sent to S3."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from cli.client import Client
from cli.common import Interrupted, client, emit, s3_secret
from cli.errors import CliError
from cli.jobs import job_get, job_label
from cli.output import ProgressBar


def _download_target(output: str | None, name: str) -> Path:
    """Where `-o` saves: a path ending in / (or an existing folder) is a folder, created
    with its parents if missing, and the file goes inside it under `name`; any other path
    is the file, and its missing parent folders are created."""
    name = Path(name).name or "results"
    if not output:
        return Path(name)
    path = Path(output).expanduser()
    folder = path
    try:
        if output.endswith(("/", os.sep)) or path.is_dir():
            folder, target = path, path / name
        else:
            folder, target = path.parent, path
        if folder.exists() and not folder.is_dir():
            raise CliError(f"Cannot save into {folder}: it is a file, not a folder.")
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"Cannot create the folder {folder}: {exc.strerror or exc}.") from exc
    if target.is_dir():
        raise CliError(f"Cannot save {target}: a folder of that name is in the way.")
    return target


def cmd_job_download(args: argparse.Namespace) -> int:
    c = client()
    job = job_get(c, args)
    if args.joined and not job.get("joined_file"):
        raise CliError(
            f"Job '{job['name']}' has no joined results file: create a job with --id-column "
            "or --joined-output to get one."
        )
    name = f"job-{job['id']}-results.zip" if args.zip else job["results_file"]
    name = job["joined_file"] if args.joined else name
    target = _download_target(args.output, name)
    bar = ProgressBar(f"Downloading {target.name}", enabled=not args.json)
    try:
        got = c.download(
            f"/jobs/{job['id']}/download",
            target,
            params={"format": "zip"} if args.zip else {"format": "joined"} if args.joined else None,
            on_progress=lambda done, total: bar.update(done, total, f"{done / 1e6:.1f} MB"),
        )
    except KeyboardInterrupt as exc:
        raise Interrupted(
            f"Interrupted: the part downloaded so far is kept in {target}.part; "
            "run the same command again to resume."
        ) from exc
    finally:
        bar.close()
    resumed = f"; resumed after {got.resumed_from:,} bytes" if got.resumed_from else ""
    emit(
        args,
        {
            "message": f"Saved {target} ({got.size:,} bytes{resumed}).",
            "path": str(target),
            "bytes": got.size,
            "resumed_from": got.resumed_from,
        },
    )
    return 0


def cmd_job_upload(args: argparse.Namespace) -> int:
    secret = s3_secret("nothing was uploaded")
    c = client()
    job = job_get(c, args)
    body = {
        "bucket": args.bucket,
        "folder": args.folder or "",
        "access_key_id": args.access_key_id,
        "secret_access_key": secret,
        "region": args.region or "",
        "endpoint_url": args.endpoint_url or "",
        "file": "joined" if args.joined else "results",
    }
    export = c.post(f"/jobs/{job['id']}/exports", body)
    if args.wait:
        export = _wait_export(c, job, export, quiet=args.json)
    emit(args, export, fields=list(export))
    if export["status"] == "FAILED":
        raise CliError(f"The upload failed: {export.get('error_message') or 'no reason given'}")
    return 0


def _wait_export(
    c: Client, job: dict[str, Any], export: dict[str, Any], *, quiet: bool
) -> dict[str, Any]:
    bar = ProgressBar(f"Uploading {job['results_file']}", enabled=not quiet, at_once=True)
    try:
        while export["status"] in ("QUEUED", "RUNNING"):
            done, size = export.get("bytes_done") or 0, export.get("size_bytes")
            bar.update(done, size, f"{export['status']} {done / 1e6:.1f} MB")
            time.sleep(1)
            exports = c.get(f"/jobs/{job['id']}/exports")
            found = next((e for e in exports if e["id"] == export["id"]), None)
            if found is None:
                raise CliError(f"The upload {export['id']} is gone: was {job_label(job)} deleted?")
            export = found
        bar.update(export.get("bytes_done") or 0, export.get("size_bytes"), export["status"])
    except KeyboardInterrupt as exc:
        raise Interrupted(
            "Interrupted: the upload goes on on the server "
            f"(see: batchstudio job exports {job['id']})."
        ) from exc
    finally:
        bar.close()
    return export


def cmd_job_exports(args: argparse.Namespace) -> int:
    c = client()
    job = job_get(c, args)
    exports = c.get(f"/jobs/{job['id']}/exports")
    emit(
        args,
        exports,
        columns=[
            "id",
            "user",
            "created_at",
            "bucket",
            "folder",
            "object_key",
            "size_bytes",
            "status",
            "error_message",
        ],
    )
    return 0
