"""`batchstudio`: the command-line client of a BatchStudio server (HTTP only, no Django).

    batchstudio login --host http://127.0.0.1:8000
    batchstudio job create --project P --job J --type batch_predict \\
        --model-checkpoint M --dataset D [--path P] [--settings k=v ...] [--wait]

Whatever goes wrong ends in one line on stderr and a non-zero exit status (see EXIT);
a traceback is a bug, and even then `main` prints one line.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import io
import os
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

from cli import catalog, jobs, results, webhooks
from cli.client import Client
from cli.common import Interrupted
from cli.config import Config, config_save, host_problem
from cli.errors import CliError, UsageError
from cli.output import one_line, print_line

EXIT = """exit status:
  0    done
  1    failed: one line on stderr says why (the server refused, cannot be reached, ...)
  2    the command line is wrong (nothing was sent to the server)
  130  interrupted (Ctrl-C)"""


# --- login ---------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    host = args.host.strip().rstrip("/")
    problem = host_problem(host)
    if problem:
        raise UsageError(f"--host {args.host!r} is not a server address: {problem}.")
    token = args.token or os.environ.get("BATCHSTUDIO_TOKEN") or ""
    if not token:
        if not sys.stdin.isatty():
            raise CliError("Give the token with --token or BATCHSTUDIO_TOKEN (no terminal).")
        try:
            token = getpass.getpass("API token (create one on the server's API tokens page): ")
        except EOFError as exc:
            raise CliError("No token given: not logged in.") from exc
    config = Config(host=host, token=token.strip(), host_source="--host")
    me = Client(config).get("/me")
    path = config_save(config)
    print_line(f"Logged in to {config.host} as {me.get('username')}; token saved in {path}.")
    return 0


# --- parser --------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, but a wrong command line is one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {one_line(message)} (see: {self.prog} --help)\n")


def _name(kind: str) -> Any:
    """An argparse type: a name or id that is not empty."""

    def check(value: str) -> str:
        if not value.strip():
            raise argparse.ArgumentTypeError(f"give a {kind} name or id, not an empty string")
        return value.strip()

    check.__name__ = f"{kind} name"
    return check


def _limit(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise argparse.ArgumentTypeError(f"give a whole number, 0 or more (got {value!r})")
    return number


def _setting(value: str) -> tuple[str, str]:
    key, sep, rest = value.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"give KEY=VALUE, e.g. batch_size=64 (got {value!r})")
    return key.strip(), rest


def _command(
    sub: Any, name: str, help_text: str, func: Any = None, **kwargs: Any
) -> argparse.ArgumentParser:
    """A subcommand whose one-line help shows in its group's --help and its own."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".", **kwargs
    )
    if func is not None:
        parser.set_defaults(func=func)
    return parser


def _group(sub: Any, name: str, help_text: str) -> Any:
    return _command(sub, name, help_text).add_subparsers(
        dest="cmd", required=True, metavar="COMMAND", title="commands"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="batchstudio",
        description="BatchStudio CLI: run batch inference jobs on a BatchStudio server.",
        epilog=EXIT,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub = parser.add_subparsers(dest="group", required=True, metavar="COMMAND", title="commands")

    login = _command(sub, "login", "save the server and an API token", cmd_login)
    login.add_argument("--host", required=True, help="e.g. http://127.0.0.1:8000")
    login.add_argument("--token", help="API token (else BATCHSTUDIO_TOKEN or a prompt)")

    _job_commands(_group(sub, "job", "batch inference jobs"), common)
    webhooks.add_commands(sub, common, _command, _group, _name("project"))

    project = _group(sub, "project", "projects, which hold jobs")
    p = _command(
        project, "create", "create a project", catalog.cmd_project_create, parents=[common]
    )
    p.add_argument("name", type=_name("project"))
    p.add_argument("--description", default="")
    _command(project, "list", "list your projects", catalog.cmd_project_list, parents=[common])
    p = _command(
        project,
        "delete",
        "delete a project with its jobs",
        catalog.cmd_project_delete,
        parents=[common],
    )
    p.add_argument("name", type=_name("project"), help="project name or id")
    p.add_argument("--yes", action="store_true", help="do not ask first")

    app = _group(sub, "app", "ML Apps (the kinds of task)")
    _command(app, "list", "list the ML Apps", catalog.cmd_app_list, parents=[common])

    for kind, what in (("model", "model checkpoints"), ("dataset", "datasets")):
        group = _group(sub, kind, what)
        p = _command(group, "list", f"list the {what} you can use", parents=[common])
        p.add_argument("--ml-app", help="only those for this ML App (see: batchstudio app list)")
        p.set_defaults(func=catalog.cmd_model_list if kind == "model" else catalog.cmd_dataset_list)
        p = _command(group, "add", f"upload or register a {kind}", parents=[common])
        p.add_argument("name", type=_name(kind))
        if kind == "model":
            p.add_argument("--ml-app", required=True, help="the ML App it is for")
            p.add_argument("--file", action="append", help="archive or checkpoint folder to upload")
            p.set_defaults(func=catalog.cmd_model_add)
        else:
            p.add_argument(
                "--ml-app", action="append", required=True, help="an ML App; repeat for several"
            )
            p.add_argument("--file", action="append", help="file, archive or folder to upload")
            p.add_argument("--path", help="default path inside the dataset, e.g. test.txt")
            p.add_argument(
                "--s3",
                metavar="S3_URI",
                help="import from s3://bucket/prefix (secret from AWS_SECRET_ACCESS_KEY)",
            )
            p.add_argument("--access-key-id", help="with --s3")
            p.add_argument("--region", default="", help="with --s3")
            p.add_argument("--endpoint-url", default="", help="with --s3: an S3-compatible store")
            p.add_argument("--wait", action="store_true", help="with --s3: until it is imported")
            p.add_argument(
                "--link",
                action="store_true",
                help="with --s3: read the objects in place instead of copying them",
            )
            p.set_defaults(func=catalog.cmd_dataset_add)
        p.add_argument(
            "--folder",
            help="a folder already on the server, relative to its storage root (not copied)",
        )
        p.add_argument("--visibility", default="private", choices=["private", "organization"])
        p = _command(
            group,
            "delete",
            f"delete a {kind} of yours",
            catalog.cmd_catalog_delete,
            parents=[common],
        )
        p.add_argument("name", type=_name(kind), help=f"{kind} name or id")
        p.add_argument("--yes", action="store_true", help="do not ask first")
        p.set_defaults(kind=kind)
        if kind == "dataset":
            p = _command(
                group,
                "resume",
                "resume a failed S3 import, or give a linked dataset its secret again",
                catalog.cmd_dataset_resume,
                parents=[common],
            )
            p.add_argument("name", type=_name(kind), help="dataset name or id")
    return parser


def _job_commands(job: Any, common: argparse.ArgumentParser) -> None:
    create = _command(
        job, "create", "create and queue a job", jobs.cmd_job_create, parents=[common]
    )
    create.add_argument("--project", required=True, type=_name("project"))
    create.add_argument("--job", required=True, type=_name("job"), help="name of the new job")
    create.add_argument("--type", default="batch_predict", choices=["batch_predict"])
    create.add_argument("--model-checkpoint", required=True, help="model name or id")
    create.add_argument("--dataset", required=True, help="dataset name or id")
    create.add_argument("--path", help="relative path inside the dataset")
    create.add_argument(
        "--settings",
        action="append",
        type=_setting,
        metavar="KEY=VALUE",
        help="an inference setting; repeat for several",
    )
    create.add_argument("--settings-file", help="JSON file of settings")
    create.add_argument("--input-column", help="a table's column the model reads")
    create.add_argument(
        "--id-column", help="a table's column of unique IDs, written beside each prediction"
    )
    create.add_argument(
        "--carry",
        metavar="COL1,COL2",
        help="table columns copied beside each prediction in the joined results",
    )
    create.add_argument(
        "--joined-output",
        choices=["auto", "none", "jsonl", "csv", "parquet"],
        help="also write results_joined.<ext> (auto: jsonl when an ID column is chosen)",
    )
    create.add_argument(
        "--priority",
        choices=["low", "normal", "high"],
        help="orders dispatch among your own jobs (the workers are shared fairly between "
        "users); default normal",
    )
    create.add_argument("--idempotency-key", help="a retried create returns the first job")
    create.add_argument(
        "--wait",
        action="store_true",
        help="follow the job until it ends (a bar on a terminal, else a line every 5 s); "
        "exit 1 unless it completes",
    )

    listing = _command(
        job, "list", "list your jobs, newest first", jobs.cmd_job_list, parents=[common]
    )
    listing.add_argument("--project", type=_name("project"), help="only this project's jobs")
    listing.add_argument("--status", help="only jobs in this state, e.g. RUNNING or FAILED")
    listing.add_argument("--ml-app", help="only jobs of this ML App")
    listing.add_argument("--search", help="only jobs whose name contains this")
    listing.add_argument(
        "--limit", type=_limit, default=50, help="list at most this many (default 50; 0: all)"
    )

    def job_cmd(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        p = _command(job, name, help_text, func, parents=[common])
        p.add_argument("job", type=_name("job"), help="job id or name")
        p.add_argument(
            "--project", type=_name("project"), help="project of the job (when naming it)"
        )
        return p

    job_cmd("info", jobs.cmd_job_info, "show a job")
    job_cmd("webhooks", webhooks.cmd_job_webhooks, "list a job's webhook deliveries")
    job_cmd(
        "stop", jobs.cmd_job_stop, "quit a job, keeping finished samples (says so if it had ended)"
    ).add_argument("--wait", action="store_true", help="wait until it has stopped")
    job_cmd("delete", jobs.cmd_job_delete, "quit and remove a job").add_argument(
        "--yes", action="store_true", help="do not ask first"
    )
    download = job_cmd("download", results.cmd_job_download, "download the results (resumable)")
    download.add_argument(
        "-o",
        "--output",
        help="file or folder to save to; a path ending in / is a folder, created if missing",
    )
    which = download.add_mutually_exclusive_group()
    which.add_argument("--zip", action="store_true", help="the whole results folder as zip")
    which.add_argument(
        "--joined", action="store_true", help="the joined results file (IDs, carried columns)"
    )
    upload = job_cmd(
        "upload",
        results.cmd_job_upload,
        "upload the results to S3 (secret from AWS_SECRET_ACCESS_KEY or a prompt)",
    )
    upload.add_argument("--bucket", required=True)
    upload.add_argument("--folder", default="", help="folder (key prefix) in the bucket")
    upload.add_argument("--access-key-id", required=True)
    upload.add_argument("--region", default="")
    upload.add_argument("--endpoint-url", default="", help="for S3-compatible stores")
    upload.add_argument("--wait", action="store_true", help="wait until the upload ends")
    upload.add_argument(
        "--joined", action="store_true", help="upload the joined results file instead"
    )
    job_cmd("exports", results.cmd_job_exports, "list a job's uploads to S3")


# --- entry point ---------------------------------------------------------------------


def _say(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr gone too: the status says it
        print(f"batchstudio: {one_line(line, 1000)}", file=sys.stderr, flush=True)


def _internal(exc: Exception) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return (
        f"internal error: {type(exc).__name__}: {exc}{where} (please report this; "
        "it is a bug in batchstudio)"
    )


def main(argv: list[str] | None = None) -> int:
    # A name the terminal's encoding cannot show must not end the command.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="replace")
    try:
        args = build_parser().parse_args(argv)
        status = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers below
        return status
    except CliError as exc:
        _say(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _say("Interrupted.")
        return Interrupted.exit_code
    except BrokenPipeError:
        # The reader went away (`batchstudio job list | head -1`): nothing to report.
        # Point stdout at /dev/null so the interpreter's last flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a process ended by SIGPIPE
    except Exception as exc:  # the last resort: a bug, still one line
        _say(_internal(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
