"""`batchstudio job ...`: create, follow, list, stop and delete jobs (their results: results.py)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from cli.client import Client
from cli.common import Interrupted, client, confirm, emit, path_ref
from cli.errors import CliError
from cli.output import ProgressBar, duration, number, print_line

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
    "priority",
    "status",
    "waiting_reason",
    "total_samples",
    "done_samples",
    "failed_samples",
    "progress_percent",
    "samples_per_second",
    "generated_tokens",
    "tokens_per_second",
    "eta_seconds",
    "queue_position",
    "predicted_start",
    "predicted_finish",
    "prediction_slipped",
    "error_message",
    "results_file",
    "joined_file",
    "results_path",
    "created_at",
    "started_at",
    "finished_at",
]
AS_GIVEN = {"settings"}  # printed as the user gave them; the other numbers are rounded
TERMINAL = {"COMPLETED", "FAILED", "STOPPED"}
PAGE = 500  # the most jobs the API returns at once


def job_get(c: Client, args: argparse.Namespace) -> dict[str, Any]:
    ref = path_ref(c, "job", args.job, project=args.project)
    job: dict[str, Any] = c.get(f"/jobs/{ref}", project=args.project)
    return job


def job_label(job: dict[str, Any]) -> str:
    return f"Job {job['id']} ({job['name']})"


# --- create and follow ---------------------------------------------------------------


def _parse_settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if args.settings_file:
        try:
            loaded = json.loads(Path(args.settings_file).expanduser().read_text())
        except OSError as exc:
            raise CliError(
                f"Cannot read --settings-file {args.settings_file}: {exc.strerror or exc}."
            ) from exc
        except ValueError as exc:
            raise CliError(
                f"--settings-file {args.settings_file} is not valid JSON: {exc}."
            ) from exc
        if not isinstance(loaded, dict):
            raise CliError(
                f"--settings-file {args.settings_file} must hold a JSON object "
                '(e.g. {"batch_size": 64}).'
            )
        settings.update(loaded)
    for key, value in args.settings or []:
        settings[key] = value
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
    if args.input_column is not None:
        body["input_column"] = args.input_column
    if args.id_column is not None:
        body["id_column"] = args.id_column
    if args.carry is not None:
        body["carry_columns"] = [c.strip() for c in args.carry.split(",") if c.strip()]
    if args.joined_output is not None:
        body["settings"]["joined_output"] = args.joined_output
    if args.priority:
        body["priority"] = args.priority
    if args.idempotency_key:
        body["idempotency_key"] = args.idempotency_key
    c = client()
    job = c.post("/jobs", body)
    if args.wait:
        job = _wait(c, job, quiet=args.json)
    emit(args, job, fields=JOB_FIELDS, exact=AS_GIVEN)
    if args.wait and job["status"] != "COMPLETED":
        raise CliError(_ended(job))
    return 0


def _progress(job: dict[str, Any]) -> tuple[int, int | None, str]:
    """(samples processed, total, the words after the bar) of a job as the API shows it."""
    failed = job.get("failed_samples") or 0
    done = (job.get("done_samples") or 0) + failed
    total = job.get("total_samples")
    parts = [
        f"{job['status']} " + (f"{done:,}/{total:,} samples" if total else f"{done:,} samples")
    ]
    if failed:
        parts.append(f"{failed:,} failed")
    rate = job.get("samples_per_second")
    if rate:
        parts.append(f"{number(rate)} samples/s")
    tokens = job.get("tokens_per_second")
    if tokens:
        parts.append(f"{number(tokens)} tokens/s")
    eta = job.get("eta_seconds")
    if eta is not None and job["status"] not in TERMINAL:
        parts.append(f"ETA {duration(eta)}")
    return done, total, ", ".join(parts)


def _share(job: dict[str, Any]) -> str:
    done, total, _ = _progress(job)
    if not total:
        return f"{done:,} samples"
    return f"{min(100 * done / total, 100.0):.1f}% ({done:,}/{total:,} samples)"


def _ended(job: dict[str, Any]) -> str:
    """One line on how a job that did not complete ended."""
    if job["status"] == "FAILED":
        reason = job.get("error_message") or "no reason given"
        return f"{job_label(job)} FAILED at {_share(job)}: {reason}"
    return f"{job_label(job)} ended {job['status']} at {_share(job)}; finished samples are kept."


def _wait(c: Client, job: dict[str, Any], *, quiet: bool) -> dict[str, Any]:
    """Follow `job` until it ends: a bar on a terminal, a plain line every 5 s without one."""
    bar = ProgressBar(job_label(job), enabled=not quiet, at_once=True)
    try:
        while True:
            bar.update(*_progress(job))
            if job["status"] in TERMINAL:
                return job
            time.sleep(1)
            try:
                job = c.get(f"/jobs/{job['id']}")
            except CliError as exc:
                raise CliError(
                    f"{exc} {job_label(job)} was {job['status']} when the CLI lost it "
                    f"(see: batchstudio job info {job['id']})."
                ) from exc
    except KeyboardInterrupt as exc:
        raise Interrupted(
            f"Interrupted: {job_label(job)} goes on running on the server "
            f"(stop it with: batchstudio job stop {job['id']})."
        ) from exc
    finally:
        bar.close()


# --- list, info, stop, delete --------------------------------------------------------


def cmd_job_list(args: argparse.Namespace) -> int:
    """The newest `--limit` jobs (0: all of them), a page of the API at a time."""
    c = client()
    jobs: list[dict[str, Any]] = []
    seen: set[int] = set()
    offset = 0
    while True:
        size = PAGE if args.limit == 0 else min(PAGE, args.limit - len(jobs))
        page = c.get(
            "/jobs",
            project=args.project,
            status=args.status,
            ml_app=args.ml_app,
            search=args.search,
            limit=size,
            offset=offset,
        )
        # A job created while paging shifts the pages by one: skip what was listed.
        jobs += [j for j in page if j["id"] not in seen]
        seen.update(j["id"] for j in page)
        offset += len(page)
        if len(page) < size or len(jobs) == args.limit:
            break
    emit(args, jobs, columns=JOB_COLUMNS)
    return 0


def cmd_job_info(args: argparse.Namespace) -> int:
    emit(args, job_get(client(), args), fields=JOB_FIELDS, exact=AS_GIVEN)
    return 0


def cmd_job_stop(args: argparse.Namespace) -> int:
    """Quit a job. Stopping one that has already ended is not an error (exit 0): the job
    is in the state asked for, and the sentence says which end it had."""
    c = client()
    job = job_get(c, args)
    if job["status"] in TERMINAL:
        sentence = f"{job_label(job)} had already ended: {job['status']}."
    else:
        job = c.post(f"/jobs/{job['id']}/quit")
        if args.wait:
            job = _wait(c, job, quiet=args.json)
        sentence = _stop_sentence(job)
    if args.json:
        emit(args, job)
    else:
        print_line(sentence)
    return 0


def _stop_sentence(job: dict[str, Any]) -> str:
    if job["status"] == "STOPPED":
        return f"{job_label(job)} stopped at {_share(job)}; finished samples are kept."
    if job["status"] in TERMINAL:  # it ended on its own before the quit reached it
        return f"{job_label(job)} had already ended: {job['status']}."
    return f"{job_label(job)} is stopping; finished samples are kept (add --wait to follow)."


def cmd_job_delete(args: argparse.Namespace) -> int:
    c = client()
    job = job_get(c, args)
    confirm(args, f"Delete job '{job['name']}' ({job['status']}), its results and export history?")
    emit(args, c.delete(f"/jobs/{job['id']}"))
    return 0
