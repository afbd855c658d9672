"""Results access: the download (with HTTP Range) and the S3 uploads of a job's results.

The job's owner reaches it by id or name; the admins of its organization by id, as on the
results page."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from ninja import Router, Status

from apps.api import errors
from apps.api.auth import request_user
from apps.api.resolve import job_by_ref, ref_id
from apps.api.schemas import BODY_ERRORS, ERRORS, DownloadFormat, ExportIn, ExportOut, Message
from apps.core.text import shown
from apps.exports.downloads import (
    ResultsUnavailableError,
    results_file_response,
    results_zip_response,
)
from apps.exports.forms import ExportForm
from apps.exports.models import ResultsExport
from apps.exports.selectors import exports_for_job, get_job_for_results_access
from apps.exports.services import ExportBusyError, export_start
from apps.jobs.models import Job

router = Router(tags=["results"])


def _results_job(user: Any, ref: str, project: str | None) -> Job:
    """Owner by id or name; organization admins by id (as on the results page)."""
    try:
        return job_by_ref(user, ref, project)
    except Http404:
        if (pk := ref_id(ref)) is None:
            raise
        try:
            return get_job_for_results_access(user, pk)
        except Http404:
            raise Http404(f"No job '{shown(ref)}' of yours or of your organization.") from None


def export_out(export: ResultsExport) -> dict[str, Any]:
    return {
        "id": export.pk,
        "user": export.user.get_username() if export.user else None,
        "created_at": export.created_at,
        "finished_at": export.finished_at,
        "bucket": export.bucket,
        "folder": export.folder,
        "region": export.region,
        "endpoint_url": export.endpoint_url,
        "object_key": export.object_key,
        "size_bytes": export.size_bytes,
        "bytes_done": export.bytes_done,
        "progress_percent": export.progress_percent,
        "status": export.status,
        "error_message": export.error_message,
    }


@router.get(
    "/jobs/{ref}/download", response={200: None, 206: None, 409: Message, 416: None, **ERRORS}
)
def job_download(
    request: HttpRequest,
    ref: str,
    project: str | None = None,
    format: DownloadFormat = "file",
) -> Any:
    """The results file (`format=zip`: the whole results folder; `format=joined`: the
    joined results file with IDs and carried columns), with HTTP Range."""
    job = _results_job(request_user(request), ref, project)
    try:
        if format == "zip":
            return results_zip_response(request, job=job)
        return results_file_response(request, job=job, joined=format == "joined")
    except ResultsUnavailableError as exc:
        raise errors.ApiError(exc.status, str(exc)) from exc


@router.post("/jobs/{ref}/exports", response={201: ExportOut, **BODY_ERRORS, 409: Message})
def job_export_create(
    request: HttpRequest, ref: str, payload: ExportIn, project: str | None = None
) -> Any:
    """Upload the results file to S3 (one upload at a time per job)."""
    user = request_user(request)
    job = _results_job(user, ref, project)
    form = ExportForm(payload.dict())  # the same checks as the upload form's
    if not form.is_valid():
        field, messages = next(iter(form.errors.get_json_data().items()))
        raise errors.bad_request(" ".join(m["message"] for m in messages), field)
    try:
        export = export_start(job=job, user=user, **form.export_arguments())
    except ExportBusyError as exc:
        raise errors.conflict(str(exc)) from exc
    return Status(201, export_out(export))


@router.get("/jobs/{ref}/exports", response={200: list[ExportOut], **ERRORS})
def job_export_list(request: HttpRequest, ref: str, project: str | None = None) -> Any:
    job = _results_job(request_user(request), ref, project)
    return [export_out(e) for e in exports_for_job(job)]
