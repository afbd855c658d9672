"""`batchstudio`: the command-line client of a BatchStudio server (HTTP only, no Django).

    batchstudio login --host http://127.0.0.1:8000
    batchstudio job create --project P --job J --type batch_predict \\
        --model-checkpoint M --dataset D [--path P] [--settings k=v ...] [--wait]
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from cli.client import Client, CliError
from cli.config import Config, config_load, config_save
from cli.output import ProgressBar, print_json, print_record, print_table

JOB_COLUMNS = [
    "id",
    "name",
    "project",
    "ml_app",
    "model",
    "dataset",
    "status",
    "done_samples",
    "failed_samples",
    "total_samples",
]
JOB_FIELDS = [
    "id",
    "name",
    "project",
    "type",
    "ml_app",
    "model",
    "dataset",
    "dataset_path",
    "settings",
    "status",
    "total_samples",
    "done_samples",
    "failed_samples",
    "progress_percent",
    "samples_per_second",
    "eta_seconds",
    "error_message",
    "results_file",
    "results_path",
    "created_at",
    "started_at",
    "finished_at",
]
TERMINAL = {"COMPLETED", "FAILED", "STOPPED"}


def _client() -> Client:
    return Client(config_load())


def _emit(
    args: argparse.Namespace,
    data: Any,
    columns: list[str] | None = None,
    fields: list[str] | None = None,
) -> None:
    if args.json:
        print_json(data)
    elif columns is not None:
        print_table(data, columns)
    elif fields is not None:
        print_record(data, fields)
    else:
        print(data.get("message", data) if isinstance(data, dict) else data)


def _confirm(args: argparse.Namespace, question: str) -> None:
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise CliError(f"{question} Refusing without confirmation: add --yes.")
    if input(f"{question} [y/N] ").strip().lower() not in ("y", "yes"):
        raise CliError("Cancelled.")


# --- login ---------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("BATCHSTUDIO_TOKEN") or ""
    if not token:
        if not sys.stdin.isatty():
            raise CliError("Give the token with --token or BATCHSTUDIO_TOKEN (no terminal).")
        token = getpass.getpass("API token (create one on the server's API tokens page): ")
    config = Config(host=args.host.rstrip("/"), token=token.strip())
    me = Client(config).get("/me")
    path = config_save(config)
    print(f"Logged in to {config.host} as {me['username']}; token saved in {path}.")
    return 0


# --- jobs ----------------------------------------------------------------------------


def _parse_settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if args.settings_file:
        try:
            settings.update(json.loads(Path(args.settings_file).read_text()))
        except (OSError, ValueError) as exc:
            raise CliError(f"Cannot read --settings-file {args.settings_file}: {exc}") from exc
    for item in args.settings or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--settings takes key=value (got {item!r}).")
        settings[key.strip()] = value
    return settings


def cmd_job_create(args: argparse.Namespace) -> int:
    body = {
        "project": args.project,
        "job": args.job,
        "type": args.type,
        "model_checkpoint": args.model_checkpoint,
        "dataset": args.dataset,
        "path": args.path or "",
        "settings": _parse_settings(args),
    }
    if args.idempotency_key:
        body["idempotency_key"] = args.idempotency_key
    client = _client()
    job = client.post("/jobs", body)
    if args.wait:
        job = _wait(client, job, quiet=args.json)
    _emit(args, job, fields=JOB_FIELDS)
    return 0 if not args.wait or job["status"] == "COMPLETED" else 1


def _wait(client: Client, job: dict[str, Any], quiet: bool = False) -> dict[str, Any]:
    bar = ProgressBar(f"{job['name']}", enabled=None if not quiet else False)
    try:
        while job["status"] not in TERMINAL:
            eta = job.get("eta_seconds")
            suffix = f"{job['status']} {job['done_samples']}/{job['total_samples'] or '?'}"
            if job.get("failed_samples"):
                suffix += f" ({job['failed_samples']} failed)"
            if eta is not None:
                suffix += f" ETA {eta:.0f}s"
            bar.update(job["done_samples"] + job["failed_samples"], job["total_samples"], suffix)
            time.sleep(1)
            job = client.get(f"/jobs/{job['id']}")
        bar.update(1, 1, job["status"])
    finally:
        bar.close()
    return job


def cmd_job_list(args: argparse.Namespace) -> int:
    jobs = _client().get(
        "/jobs",
        project=args.project,
        status=args.status,
        ml_app=args.ml_app,
        search=args.search,
        limit=args.limit,
    )
    _emit(args, jobs, columns=JOB_COLUMNS)
    return 0


def cmd_job_info(args: argparse.Namespace) -> int:
    _emit(args, _client().get(f"/jobs/{args.job}", project=args.project), fields=JOB_FIELDS)
    return 0


def cmd_job_stop(args: argparse.Namespace) -> int:
    client = _client()
    job = client.post(
        f"/jobs/{args.job}/quit" + (f"?project={args.project}" if args.project else "")
    )
    if args.wait:
        job = _wait(client, job, quiet=args.json)
    _emit(args, job, fields=JOB_FIELDS)
    return 0


def cmd_job_delete(args: argparse.Namespace) -> int:
    client = _client()
    job = client.get(f"/jobs/{args.job}", project=args.project)
    _confirm(args, f"Delete job '{job['name']}' ({job['status']}), its results and export history?")
    _emit(args, client.delete(f"/jobs/{job['id']}"))
    return 0


def cmd_job_download(args: argparse.Namespace) -> int:
    client = _client()
    job = client.get(f"/jobs/{args.job}", project=args.project)
    name = f"job-{job['id']}-results.zip" if args.zip else job["results_file"]
    target = Path(args.output or name)
    if target.is_dir():
        target = target / name
    bar = ProgressBar(f"Downloading {target.name}", enabled=None if not args.json else False)
    try:
        size = client.download(
            f"/jobs/{job['id']}/download",
            target,
            params={"format": "zip"} if args.zip else None,
            on_progress=lambda done, total: bar.update(done, total, f"{done / 1e6:.1f} MB"),
        )
    finally:
        bar.close()
    _emit(
        args, {"message": f"Saved {target} ({size:,} bytes).", "path": str(target), "bytes": size}
    )
    return 0


def cmd_job_upload(args: argparse.Namespace) -> int:
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY") or os.environ.get("BATCHSTUDIO_S3_SECRET")
    if not secret:
        if not sys.stdin.isatty():
            raise CliError(
                "Set AWS_SECRET_ACCESS_KEY (the secret is never taken from the "
                "command line, so it stays out of your shell history)."
            )
        secret = getpass.getpass("Secret Access Key: ")
    client = _client()
    job = client.get(f"/jobs/{args.job}", project=args.project)
    body = {
        "bucket": args.bucket,
        "folder": args.folder or "",
        "access_key_id": args.access_key_id,
        "secret_access_key": secret,
        "region": args.region or "",
        "endpoint_url": args.endpoint_url or "",
    }
    export = client.post(f"/jobs/{job['id']}/exports", body)
    if args.wait:
        while export["status"] in ("QUEUED", "RUNNING"):
            time.sleep(1)
            export = next(
                e for e in client.get(f"/jobs/{job['id']}/exports") if e["id"] == export["id"]
            )
    _emit(args, export, fields=list(export))
    return 0 if export["status"] != "FAILED" else 1


def cmd_job_exports(args: argparse.Namespace) -> int:
    client = _client()
    job = client.get(f"/jobs/{args.job}", project=args.project)
    exports = client.get(f"/jobs/{job['id']}/exports")
    _emit(
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


# --- projects, catalog ---------------------------------------------------------------


def cmd_project_create(args: argparse.Namespace) -> int:
    project = _client().post("/projects", {"name": args.name, "description": args.description})
    _emit(args, project, fields=["id", "name", "description", "created_at"])
    return 0


def cmd_project_list(args: argparse.Namespace) -> int:
    _emit(args, _client().get("/projects"), columns=["id", "name", "job_count", "created_at"])
    return 0


def cmd_project_delete(args: argparse.Namespace) -> int:
    _confirm(args, f"Delete project '{args.name}' with all its jobs and results?")
    _emit(args, _client().delete(f"/projects/{args.name}"))
    return 0


def cmd_app_list(args: argparse.Namespace) -> int:
    _emit(args, _client().get("/apps"), columns=["key", "name", "input_kind", "results_filename"])
    return 0


def cmd_model_list(args: argparse.Namespace) -> int:
    _emit(
        args,
        _client().get("/models", ml_app=args.ml_app),
        columns=["id", "name", "ml_app", "tier", "source_type", "owner"],
    )
    return 0


def cmd_dataset_list(args: argparse.Namespace) -> int:
    _emit(
        args,
        _client().get("/datasets", ml_app=args.ml_app),
        columns=["id", "name", "ml_apps", "tier", "default_path", "sample_count"],
    )
    return 0


def _upload_files(paths: list[str], stack: Any) -> list[tuple[str, tuple[str, Any]]]:
    """Open each path for upload; a folder is zipped on the fly (the server unpacks it)."""
    import shutil
    import tempfile

    files = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            raise CliError(f"No such file or folder: {raw}")
        if path.is_dir():
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            archive = shutil.make_archive(str(tmp / path.name), "zip", root_dir=path)
            path = Path(archive)
        files.append(("files", (path.name, stack.enter_context(path.open("rb")))))
    return files


def _add(args: argparse.Namespace, kind: str, data: dict[str, Any]) -> Any:
    from contextlib import ExitStack

    if bool(args.file) == bool(args.folder):
        raise CliError(
            "Give --file (files, archives or a folder to upload) or --folder "
            "(a folder under the server's storage root), not both."
        )
    client = _client()
    client.timeout = max(client.timeout, 3600)  # uploads of big checkpoints take a while
    with ExitStack() as stack:
        files = _upload_files(args.file or [], stack)
        return client.request("POST", f"/{kind}", data=data, files=files or None)


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
    _emit(args, model, fields=["id", "name", "ml_app", "tier", "source_type", "size_bytes"])
    return 0


def cmd_dataset_add(args: argparse.Namespace) -> int:
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
    _emit(
        args,
        dataset,
        fields=["id", "name", "ml_apps", "tier", "default_path", "data_format", "sample_count"],
    )
    return 0


def cmd_catalog_delete(args: argparse.Namespace) -> int:
    _confirm(args, f"Delete {args.kind} '{args.name}'?")
    _emit(args, _client().delete(f"/{args.kind}s/{args.name}"))
    return 0


# --- parser --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="batchstudio", description="BatchStudio CLI")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub = parser.add_subparsers(dest="group", required=True)

    login = sub.add_parser("login", help="save the server and an API token")
    login.add_argument("--host", required=True, help="e.g. http://127.0.0.1:8000")
    login.add_argument("--token", help="API token (else BATCHSTUDIO_TOKEN or a prompt)")
    login.set_defaults(func=cmd_login)

    job = sub.add_parser("job", help="batch inference jobs").add_subparsers(
        dest="cmd", required=True
    )
    create = job.add_parser("create", parents=[common], help="create and queue a job")
    create.add_argument("--project", required=True)
    create.add_argument("--job", required=True, help="name of the new job")
    create.add_argument("--type", default="batch_predict", choices=["batch_predict"])
    create.add_argument("--model-checkpoint", required=True, help="model name or id")
    create.add_argument("--dataset", required=True, help="dataset name or id")
    create.add_argument("--path", help="relative path inside the dataset")
    create.add_argument("--settings", action="append", metavar="KEY=VALUE")
    create.add_argument("--settings-file", help="JSON file of settings")
    create.add_argument("--idempotency-key", help="a retried create returns the first job")
    create.add_argument("--wait", action="store_true", help="follow the job with a progress bar")
    create.set_defaults(func=cmd_job_create)

    listing = job.add_parser("list", parents=[common])
    listing.add_argument("--project")
    listing.add_argument("--status")
    listing.add_argument("--ml-app")
    listing.add_argument("--search")
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(func=cmd_job_list)

    def job_cmd(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        p = job.add_parser(name, parents=[common], help=help_text)
        p.add_argument("job", help="job id or name")
        p.add_argument("--project", help="project of the job (when naming it)")
        p.set_defaults(func=func)
        return p

    job_cmd("info", cmd_job_info, "show a job")
    job_cmd("stop", cmd_job_stop, "quit a job (keeps finished samples)").add_argument(
        "--wait", action="store_true"
    )
    job_cmd("delete", cmd_job_delete, "quit and remove a job").add_argument(
        "--yes", action="store_true"
    )
    download = job_cmd("download", cmd_job_download, "download the results file")
    download.add_argument("-o", "--output", help="file or folder to save to")
    download.add_argument("--zip", action="store_true", help="the whole results folder as zip")
    upload = job_cmd(
        "upload",
        cmd_job_upload,
        "upload results to S3 (secret from AWS_SECRET_ACCESS_KEY or a prompt)",
    )
    upload.add_argument("--bucket", required=True)
    upload.add_argument("--folder", default="")
    upload.add_argument("--access-key-id", required=True)
    upload.add_argument("--region", default="")
    upload.add_argument("--endpoint-url", default="")
    upload.add_argument("--wait", action="store_true")
    job_cmd("exports", cmd_job_exports, "export history")

    project = sub.add_parser("project").add_subparsers(dest="cmd", required=True)
    p = project.add_parser("create", parents=[common])
    p.add_argument("name")
    p.add_argument("--description", default="")
    p.set_defaults(func=cmd_project_create)
    project.add_parser("list", parents=[common]).set_defaults(func=cmd_project_list)
    p = project.add_parser("delete", parents=[common])
    p.add_argument("name", help="project name or id")
    p.add_argument("--yes", action="store_true")
    p.set_defaults(func=cmd_project_delete)

    app = sub.add_parser("app").add_subparsers(dest="cmd", required=True)
    app.add_parser("list", parents=[common]).set_defaults(func=cmd_app_list)
    model = sub.add_parser("model").add_subparsers(dest="cmd", required=True)
    p = model.add_parser("list", parents=[common])
    p.add_argument("--ml-app")
    p.set_defaults(func=cmd_model_list)
    p = model.add_parser("add", parents=[common], help="upload or register a checkpoint")
    p.add_argument("name")
    p.add_argument("--ml-app", required=True)
    p.add_argument("--file", action="append", help="archive or checkpoint folder to upload")
    p.add_argument("--folder", help="folder under the server's storage root (not copied)")
    p.add_argument("--visibility", default="private", choices=["private", "organization"])
    p.set_defaults(func=cmd_model_add)
    p = model.add_parser("delete", parents=[common])
    p.add_argument("name", help="model name or id")
    p.add_argument("--yes", action="store_true")
    p.set_defaults(func=cmd_catalog_delete, kind="model")
    dataset = sub.add_parser("dataset").add_subparsers(dest="cmd", required=True)
    p = dataset.add_parser("list", parents=[common])
    p.add_argument("--ml-app")
    p.set_defaults(func=cmd_dataset_list)
    p = dataset.add_parser("add", parents=[common], help="upload or register a dataset")
    p.add_argument("name")
    p.add_argument("--ml-app", action="append", required=True, help="repeat for several")
    p.add_argument("--file", action="append", help="file, archive or folder to upload")
    p.add_argument("--folder", help="folder under the server's storage root (not copied)")
    p.add_argument("--path", help="default path inside the dataset, e.g. test.txt")
    p.add_argument("--visibility", default="private", choices=["private", "organization"])
    p.set_defaults(func=cmd_dataset_add)
    p = dataset.add_parser("delete", parents=[common])
    p.add_argument("name", help="dataset name or id")
    p.add_argument("--yes", action="store_true")
    p.set_defaults(func=cmd_catalog_delete, kind="dataset")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"batchstudio: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("batchstudio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
