"""The OpenAI-compatible Batch API under /openai/v1/: files, batches and models.

Point any OpenAI client at it: `OpenAI(base_url="http://HOST:8000/openai/v1",
api_key=<a BatchStudio API token>)`. Errors have OpenAI's shape,
`{"error": {"message", "type", "param", "code"}}`, with a sentence a person can act on.
"""

from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404, HttpRequest
from django.http.response import HttpResponseBase
from ninja import File, Form, NinjaAPI, Query, Schema
from ninja.files import UploadedFile
from ninja.schema import DjangoGetter
from pydantic import model_validator
from pydantic_core import PydanticCustomError

from apps.api.auth import TokenAuth, request_user
from apps.catalog.selectors import models_visible_to
from apps.core.storage import storage_root
from apps.core.text import shown
from apps.openai_api import errors, files, services
from apps.openai_api.errors import BODY_ERRORS, ERRORS, Refused
from apps.openai_api.models import FilePurpose, OpenAIBatch, OpenAIFile, public_id_like
from apps.openai_api.objects import batch_object, file_object, model_object, outputs_due
from apps.openai_api.validation import ENDPOINTS

api = NinjaAPI(
    title="BatchStudio OpenAI-compatible Batch API",
    version="1",
    description="Files and batches as in OpenAI's Batch API, run on BatchStudio's workers.",
    auth=TokenAuth(),
    urls_namespace="openai",
    docs_url="/docs",
)
errors.install_handlers(api)


# --- files ---------------------------------------------------------------------------


def _file(request: HttpRequest, file_id: str) -> OpenAIFile:
    found = None
    if public_id_like(file_id):
        found = OpenAIFile.objects.filter(owner=request_user(request), public_id=file_id).first()
    if found is None:
        raise Http404(f"No file '{shown(file_id, limit=100)}'.")
    return found


# The objects are OpenAI's (apps.openai_api.objects); the schema says only that they are
# JSON objects, and which refusals each endpoint may answer.
OBJECT: dict[int, Any] = {200: dict[str, Any], **ERRORS}
BODY_OBJECT: dict[int, Any] = {200: dict[str, Any], **BODY_ERRORS}


@api.post("/files", response=BODY_OBJECT)
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
        anchor = None
        if public_id_like(after):
            anchor = rows.filter(public_id=after).values_list("pk", flat=True).first()
        if anchor is None:
            raise Refused(
                400, f"'after' names no object of this list ({shown(after, limit=100)}).", "after"
            )
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


@api.get("/files", response=OBJECT)
def file_list(request: HttpRequest, query: Query[FileList]) -> dict[str, Any]:
    if not 1 <= query.limit <= 10000:
        raise Refused(400, "'limit' must be between 1 and 10000.", "limit")
    if query.order not in ("asc", "desc"):
        raise Refused(400, "'order' must be asc or desc.", "order")
    rows = OpenAIFile.objects.filter(owner=request_user(request))
    if query.purpose:
        # An unknown purpose lists nothing, as at OpenAI; it never reaches the database.
        known = query.purpose in FilePurpose.values
        rows = rows.filter(purpose=query.purpose) if known else rows.none()
    return _page(rows, query.after, query.limit, file_object, descending=query.order == "desc")


@api.get("/files/{file_id}", response=OBJECT)
def file_get(request: HttpRequest, file_id: str) -> dict[str, Any]:
    return file_object(_file(request, file_id))


@api.get(
    "/files/{file_id}/content",
    response=ERRORS,
    openapi_extra={
        "responses": {
            200: {
                "description": "The file's bytes",
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        }
    },
)
def file_content(request: HttpRequest, file_id: str) -> HttpResponseBase:
    found = _file(request, file_id)
    path = storage_root() / found.path
    if not path.is_file():
        raise Http404(f"The content of '{shown(file_id)}' is no longer on the storage.")
    return FileResponse(
        path.open("rb"), content_type="application/octet-stream", filename=found.filename
    )


@api.delete("/files/{file_id}", response=OBJECT)
def file_remove(request: HttpRequest, file_id: str) -> dict[str, Any]:
    found = _file(request, file_id)
    files.file_delete(file=found)
    return {"id": file_id, "object": "file", "deleted": True}


# --- batches -------------------------------------------------------------------------


class BatchIn(Schema):
    # Fields OpenAI added later (output_expires_after) are ignored, not refused, so that a
    # newer SDK still works.
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _an_object(cls, data: Any) -> Any:
        # ninja's Schema reads attributes (through its DjangoGetter), so `[1, 2]` would
        # read as "input_file_id is missing": say that the body is not an object.
        sent = data._obj if isinstance(data, DjangoGetter) else data
        if not isinstance(sent, dict):
            raise PydanticCustomError("dict_type", "the body must be a JSON object")
        return data


def _batch(request: HttpRequest, batch_id: str) -> OpenAIBatch:
    found = None
    if public_id_like(batch_id):
        found = (
            OpenAIBatch.objects.select_related("job", "output_file", "error_file")
            .filter(owner=request_user(request), public_id=batch_id)
            .first()
        )
    if found is None:
        raise Http404(f"No batch '{shown(batch_id, limit=100)}'.")
    outputs_due(found)
    return found


# 409: the job could not be submitted (apps.openai_api.services._job_submit).
@api.post("/batches", response={**BODY_OBJECT, 409: errors.ErrorOut})
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


@api.get("/batches/{batch_id}", response=OBJECT)
def batch_get(request: HttpRequest, batch_id: str) -> dict[str, Any]:
    return batch_object(_batch(request, batch_id))


@api.post("/batches/{batch_id}/cancel", response=OBJECT)
def batch_cancel(request: HttpRequest, batch_id: str) -> dict[str, Any]:
    return batch_object(services.batch_cancel(batch=_batch(request, batch_id)))


class BatchList(Schema):
    after: str | None = None
    limit: int = 20


@api.get("/batches", response=OBJECT)
def batch_list(request: HttpRequest, query: Query[BatchList]) -> dict[str, Any]:
    if not 1 <= query.limit <= 100:
        raise Refused(400, "'limit' must be between 1 and 100.", "limit")
    rows = OpenAIBatch.objects.select_related("job", "output_file", "error_file").filter(
        owner=request_user(request)
    )
    return _page(rows, query.after, query.limit, batch_object, descending=True)


# --- models --------------------------------------------------------------------------


@api.get("/models", response=OBJECT)
def model_list(request: HttpRequest) -> dict[str, Any]:
    apps = set(ENDPOINTS.values())
    rows = (
        models_visible_to(request_user(request))
        .filter(ml_app__key__in=apps)
        .select_related("ml_app")
    )
    return {"object": "list", "data": [model_object(m) for m in rows.order_by("name")]}
