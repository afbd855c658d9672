"""Writes for results exports: start an upload (web side), run it (worker side), reap.

Lifecycle of a ResultsExport: QUEUED (row + encrypted secret in Redis + task on the
`exports` queue) → RUNNING (a worker claimed it with a conditional UPDATE and took the
secret) → COMPLETED | FAILED. At most one QUEUED/RUNNING export per job: the database's
partial unique constraint `one_active_export_per_job` decides, so two requests racing
cannot both start one.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from apps.exports import s3, secret_store
from apps.exports.models import ExportStatus, ResultsExport
from apps.exports.selectors import active_export_for_job, results_file_path
from apps.jobs.models import Job
from worker import dispatch
from worker.joined import joined_name

logger = logging.getLogger(__name__)

MAX_KEY_BYTES = 1024
ACTIVE = (ExportStatus.QUEUED, ExportStatus.RUNNING)


class ExportBusyError(Exception):
    """Another upload of the same job is queued or running (HTTP 409)."""


def object_key_for(*, folder: str, filename: str) -> str:
    return f"{folder}/{filename}" if folder else filename


@sensitive_variables("secret_access_key")
def export_start(
    *,
    job: Job,
    user: Any,
    bucket: str,
    folder: str,
    access_key_id: str,
    secret_access_key: str,
    region: str = "",
    endpoint_url: str = "",
    file: str = "results",
) -> ResultsExport:
    """Queue an upload of the job's results file (`file="joined"`: its joined results
    file); ExportBusyError if one is active."""
    if job.is_active:
        raise ValidationError(
            f"Job '{job.name}' is still {job.get_status_display().lower()}: upload its "
            "results once it has finished."
        )
    path = results_file_path(job, joined=file == "joined")
    if path is None and file == "joined":
        raise ValidationError({"file": f"Job '{job.name}' has no joined results file."})
    if path is None:
        raise ValidationError(f"Job '{job.name}' has no results file to upload.")
    key = object_key_for(folder=folder, filename=path.name)
    if len(key.encode()) > MAX_KEY_BYTES:
        raise ValidationError({"folder": "The folder name is too long for an S3 key."})
    exports_reap_stale(job=job)
    try:
        with transaction.atomic():
            export = ResultsExport.objects.create(
                job=job,
                user=user,
                bucket=bucket,
                folder=folder,
                region=region,
                endpoint_url=endpoint_url,
                access_key_id=access_key_id,
                object_key=key,
                size_bytes=path.stat().st_size,
            )
    except IntegrityError as exc:
        raise ExportBusyError(_busy_message(job)) from exc
    try:
        secret_store.secret_put(export_id=export.pk, secret=secret_access_key)
    except Exception as exc:
        logger.exception("export %s: could not store the credentials in Redis", export.pk)
        message = (
            "The upload could not be queued: the task queue (Redis) did not answer. "
            "Try again; if it persists, tell your administrator."
        )
        _finish(export.pk, ExportStatus.FAILED, message)
        raise ValidationError(message) from exc
    # Only the id travels through the broker; the worker fetches the rest.
    dispatch.send_on_commit(dispatch.EXPORT_UPLOAD, export.pk)
    logger.info("export %s of job %s queued to s3://%s/%s", export.pk, job.pk, bucket, key)
    return export


def _busy_message(job: Job) -> str:
    active = active_export_for_job(job)
    if active is None:  # it finished between the refusal and this read
        return "Another upload of this job's results was starting. Try again."
    who = active.user.get_username() if active.user else "someone"
    return (
        f"An upload of this job's results is already {active.get_status_display().lower()} "
        f"(to {active.s3_uri}, started by {who}). Only one upload runs at a time: wait for "
        "it to finish, then start the next one."
    )


def exports_reap_stale(*, job: Job) -> int:
    """Fail active exports of `job` that can no longer finish, so the job is not locked.

    RUNNING with a silent worker (killed, machine lost) for EXPORT_STALE_SECONDS; QUEUED
    whose secret is gone from Redis (expired unclaimed, or Redis restarted) for more than a
    minute (younger ones may be between their INSERT and the secret's SET).
    """
    now = timezone.now()
    reaped = ResultsExport.objects.filter(
        job=job,
        status=ExportStatus.RUNNING,
        heartbeat_at__lt=now - timedelta(seconds=settings.EXPORT_STALE_SECONDS),
    ).update(
        status=ExportStatus.FAILED,
        finished_at=now,
        error_message="The upload stopped: its worker stopped answering. Start it again.",
    )
    for export in ResultsExport.objects.filter(
        job=job, status=ExportStatus.QUEUED, created_at__lt=now - timedelta(seconds=60)
    ):
        if not secret_store.secret_waiting(export_id=export.pk):
            reaped += ResultsExport.objects.filter(pk=export.pk, status=ExportStatus.QUEUED).update(
                status=ExportStatus.FAILED,
                finished_at=now,
                error_message="The upload never started (no worker took it in time), and "
                "its credentials were discarded. Start it again.",
            )
    return reaped


def _finish(export_id: int, status: str, message: str = "", **fields: Any) -> None:
    ResultsExport.objects.filter(pk=export_id, status__in=ACTIVE).update(
        status=status, error_message=message, finished_at=timezone.now(), **fields
    )


class _Reporter:
    """Writes progress and the heartbeat; False (cancel) once the export row is gone."""

    def __init__(self, export_id: int) -> None:
        self.export_id = export_id

    def __call__(self, sent: int) -> bool:
        return bool(
            ResultsExport.objects.filter(pk=self.export_id, status=ExportStatus.RUNNING).update(
                bytes_done=max(sent, 0), heartbeat_at=timezone.now()
            )
        )


@sensitive_variables("secret")
def export_run(*, export_id: int) -> str:
    """Worker side: claim the export, take the secret, upload, record the outcome."""
    now = timezone.now()
    claimed = ResultsExport.objects.filter(pk=export_id, status=ExportStatus.QUEUED).update(
        status=ExportStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    try:
        # Taken even when not claimed, so a secret never outlives its export in Redis.
        secret = secret_store.secret_take(export_id=export_id)
    except secret_store.SecretUnreadableError:
        _finish(
            export_id,
            ExportStatus.FAILED,
            "The worker could not decrypt the credentials: "
            "the web server and the workers must run with the same SECRET_KEY.",
        )
        return ExportStatus.FAILED
    if not claimed:
        return "not-queued"
    export = ResultsExport.objects.select_related("job").filter(pk=export_id).first()
    if export is None:  # deleted with its job meanwhile
        return "gone"
    if secret is None:
        _finish(
            export_id,
            ExportStatus.FAILED,
            "The credentials expired before a worker "
            "started the upload (it waited too long in the queue). Start it again.",
        )
        return ExportStatus.FAILED
    # The key ends in the name of the file uploaded: the results file or the joined one.
    joined = export.object_key.rsplit("/", 1)[-1] == joined_name(export.job.settings)
    path = results_file_path(export.job, joined=joined)
    if path is None:
        _finish(export_id, ExportStatus.FAILED, "The results file is gone from the storage.")
        return ExportStatus.FAILED
    target = s3.S3Target(
        bucket=export.bucket,
        key=export.object_key,
        access_key_id=export.access_key_id,
        region=export.region,
        endpoint_url=export.endpoint_url,
    )
    size = path.stat().st_size
    ResultsExport.objects.filter(pk=export_id).update(size_bytes=size)
    logger.info("export %s: uploading %s bytes to %s", export_id, size, target.where)
    try:
        s3.upload_file(
            path=path,
            target=target,
            secret_access_key=secret,
            progress=_Reporter(export_id),
            multipart_threshold=settings.EXPORT_MULTIPART_THRESHOLD,
            multipart_chunksize=settings.EXPORT_MULTIPART_CHUNKSIZE,
        )
    except s3.UploadCancelledError:
        logger.info("export %s: cancelled (its job was deleted)", export_id)
        return "gone"
    except s3.S3ExportError as exc:
        # Belt and braces: our messages never contain the secret, and this makes sure.
        message = str(exc).replace(secret, "***") if secret else str(exc)
        logger.info("export %s failed: %s", export_id, message)
        _finish(export_id, ExportStatus.FAILED, message)
        return ExportStatus.FAILED
    except Exception:
        logger.exception("export %s: internal error during the upload", export_id)
        _finish(
            export_id,
            ExportStatus.FAILED,
            f"Internal error during the upload (export "
            f"{export_id}); the administrator will find the details in the worker log.",
        )
        return ExportStatus.FAILED
    finally:
        del secret
    _finish(export_id, ExportStatus.COMPLETED, bytes_done=size, size_bytes=size)
    logger.info("export %s completed", export_id)
    return ExportStatus.COMPLETED
