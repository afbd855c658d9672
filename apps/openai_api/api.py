"""The OpenAI-compatible Batch API under /openai/v1/: files, batches and models.

Point any OpenAI client at it: `OpenAI(base_url="http://HOST:8000/openai/v1",
api_key=<a BatchStudio API token>)`. Errors have OpenAI's shape,
`{"error": {"message", "type", "param", "code"}}`, with a sentence a person can act on.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from ninja import File, Form, NinjaAPI, Query, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.files import UploadedFile

from apps.api.auth import TokenAuth, request_user
from apps.catalog.selectors import models_visible_to
from apps.core.storage import storage_root
from apps.openai_api import files, services
from apps.openai_api.errors import Refused
from apps.openai_api.models import OpenAIBatch, OpenAIFile
from apps.openai_api.objects import batch_object, file_object, model_object, outputs_due
from apps.openai_api.validation import ENDPOINTS

log = logging.getLogger(__name__)

api = NinjaAPI(
    title="BatchStudio OpenAI-compatible Batch API",
    version="1",
    description="Files and batches as in OpenAI's Batch API, run on BatchStudio's workers.",
    auth=TokenAuth(),
    urls_namespace="openai",
    docs_url="/docs",
)


def _error(
    request: HttpRequest,
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
) -> HttpResponse:
    kind = {
        401: "authentication_error",
        404: "invalid_request_error",
        413: "invalid_request_error",
    }.get(status, "invalid_request_error" if status < 500 else "server_error")
    return api.create_response(
        request,
        {"error": {"message": message, "type": kind, "param": param, "code": code}},
        status=status,
    )


@api.exception_handler(Refused)
def _refused(request: HttpRequest, exc: Refused) -> HttpResponse:
    return _error(request, exc.status, exc.message, param=exc.param)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(
        request,
        401,
        "Missing or invalid API key: send a BatchStudio API token as 'Authorization: Bearer "
        "<token>' (Account → API tokens).",
        code="invalid_api_key",
    )


@api.exception_handler(NinjaValidationError)
def _invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    first = exc.errors[0] if exc.errors else {}
    where = [
        str(part)
        for part in first.get("loc", ())
        if part not in ("body", "query", "form", "file", "path")
    ]
    param = where[0] if where else None
    reason = str(first.get("msg", "is not valid")).rstrip(".")
    named = f"'{param}'" if param else "The request"
    return _error(request, 400, f"{named}: {reason[:1].lower()}{reason[1:]}.", param=param)


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(request, 404, str(exc) or "Not found.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(request, 413, "The request body is too large.")


@api.exception_handler(Exception)
def _crash(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("OpenAI API error on %s", request.path)
    return _error(request, 500, "The server failed on this request; it is logged.")


# --- files ---------------------------------------------------------------------------


def _file(request: HttpRequest, file_id: str) -> OpenAIFile:
    found = OpenAIFile.objects.filter(owner=request_user(request), public_id=file_id).first()
    if found is None:
        raise Http404(f"No file '{file_id[:100]}'.")
    return found


@api.post("/files")
def file_upload(
    request: HttpRequest, file: File[UploadedFile], purpose: Form[str]
) -> dict[str, Any]:
    return file_object(files.file_create(user=request_user(request), upload=file, purpose=purpose))


class FileList(Schema):
    after: str | None = None
    limit: int = 10000
    order: str = "desc"
    purpose: str | None = None


def _page(
    rows: Any, after: str | None, limit: int, render: Any, *, descending: bool
) -> dict[str, Any]:
    """One page of a cursor list: the objects after the one named `after`, OpenAI's way."""
    if after:
        anchor = rows.filter(public_id=after).values_list("pk", flat=True).first()
        if anchor is None:
            raise Refused(400, f"'after' names no object of this list ({after[:100]}).", "after")
        rows = rows.filter(pk__lt=anchor) if descending else rows.filter(pk__gt=anchor)
    items = list(rows.order_by("-pk" if descending else "pk")[: limit + 1])
    data = [render(item) for item in items[:limit]]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": len(items) > limit,
    }


@api.get("/files")
def file_list(request: HttpRequest, query: Query[FileList]) -> dict[str, Any]:
    if not 1 <= query.limit <= 10000:
        raise Refused(400, "'limit' must be between 1 and 10000.", "limit")
    if query.order not in ("asc", "desc"):
        raise Refused(400, "'order' must be asc or desc.", "order")
    rows = OpenAIFile.objects.filter(owner=request_user(request))
    if query.purpose:
        rows = rows.filter(purpose=query.purpose)
    return _page(rows, query.after, query.limit, file_object, descending=query.order == "desc")


@api.get("/files/{file_id}")
def file_get(request: HttpRequest, file_id: str) -> dict[str, Any]:
    return file_object(_file(request, file_id))


@api.get("/files/{file_id}/content")
def file_content(request: HttpRequest, file_id: str) -> HttpResponseBase:
    found = _file(request, file_id)
    path = storage_root() / found.path
    if not path.is_file():
        raise Http404(f"The content of '{file_id}' is no longer on the storage.")
    return FileResponse(
        path.open("rb"), content_type="application/octet-stream", filename=found.filename
    )


@api.delete("/files/{file_id}")
def file_remove(request: HttpRequest, file_id: str) -> dict[str, Any]:
    found = _file(request, file_id)
    files.file_delete(file=found)
    return {"id": file_id, "object": "file", "deleted": True}


# --- batches -------------------------------------------------------------------------


class BatchIn(Schema):
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, Any] | None = None


def _batch(request: HttpRequest, batch_id: str) -> OpenAIBatch:
    found = (
        OpenAIBatch.objects.select_related("job", "output_file", "error_file")
        .filter(owner=request_user(request), public_id=batch_id)
        .first()
    )
    if found is None:
        raise Http404(f"No batch '{batch_id[:100]}'.")
    outputs_due(found)
    return found


@api.post("/batches")
def batch_create(request: HttpRequest, payload: BatchIn) -> dict[str, Any]:
    batch = services.batch_create(
        user=request_user(request),
        input_file_id=payload.input_file_id,
        endpoint=payload.endpoint,
        completion_window=payload.completion_window,
        metadata=payload.metadata,
        project_name=request.headers.get("BatchStudio-Project"),
    )
    return batch_object(batch)


@api.get("/batches/{batch_id}")
def batch_get(request: HttpRequest, batch_id: str) -> dict[str, Any]:
    return batch_object(_batch(request, batch_id))


@api.post("/batches/{batch_id}/cancel")
def batch_cancel(request: HttpRequest, batch_id: str) -> dict[str, Any]:
    return batch_object(services.batch_cancel(batch=_batch(request, batch_id)))


class BatchList(Schema):
    after: str | None = None
    limit: int = 20


@api.get("/batches")
def batch_list(request: HttpRequest, query: Query[BatchList]) -> dict[str, Any]:
    if not 1 <= query.limit <= 100:
        raise Refused(400, "'limit' must be between 1 and 100.", "limit")
    rows = OpenAIBatch.objects.select_related("job", "output_file", "error_file").filter(
        owner=request_user(request)
    )
    return _page(rows, query.after, query.limit, batch_object, descending=True)


# --- models --------------------------------------------------------------------------


@api.get("/models")
def model_list(request: HttpRequest) -> dict[str, Any]:
    apps = set(ENDPOINTS.values())
    rows = (
        models_visible_to(request_user(request))
        .filter(ml_app__key__in=apps)
        .select_related("ml_app")
    )
    return {"object": "list", "data": [model_object(m) for m in rows.order_by("name")]}
