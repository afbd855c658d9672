"""How the OpenAI-compatible API refuses: OpenAI's error shape,
`{"error": {"message", "type", "param", "code"}}`, with a sentence a person can act on.

The sentences are /api/v1's (apps.api.errors): pydantic's own words translated, Django's
refusals to read a body (over the size limits, too many fields or files, a broken
multipart form) a 413 or 400, a body that is not a JSON object a 400 saying why. Quoted
input goes through `apps.core.text.shown`; no answer carries a traceback, and an
exception in our own code is logged and answered as a 500 that says only that.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from apps.api.errors import (
    UNREAD_BODY,
    ApiError,
    body_problem,
    body_refusal,
    schema_refusal,
    service_refusal,
)

log = logging.getLogger(__name__)

# How a sentence names a request field (`param` names the field itself).
_LABELS = {
    "input_file_id": "input file ID",
    "completion_window": "completion window",
    "after": "'after' cursor",
}
_UPLOAD_PARTS = ("file", "form")


class ErrorDetail(Schema):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorOut(Schema):
    error: ErrorDetail


# The refusals every endpoint may answer, for the OpenAPI schema (the handlers below say
# when); an endpoint that reads a body or a form may also answer 413.
ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut}
BODY_ERRORS: dict[int, Any] = {**ERRORS, 413: ErrorOut}


class Refused(Exception):
    """A request the API answers with 4xx: `status`, a sentence, and the parameter."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    kind = {401: "authentication_error"}.get(
        status, "invalid_request_error" if status < 500 else "server_error"
    )
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _not_a_form(request: HttpRequest, exc: NinjaValidationError) -> bool:
    """A form field (file, purpose) is missing because the body is not a multipart form
    at all: say that, not which field is missing."""
    from_form = any(str(next(iter(e.get("loc", ())), "")) in _UPLOAD_PARTS for e in exc.errors)
    return from_form and request.content_type != "multipart/form-data"


def install_handlers(api: NinjaAPI) -> None:
    def answer(
        request: HttpRequest,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
    ) -> HttpResponse:
        body = error_body(status, message, param=param, code=code)
        return api.create_response(request, body, status=status)

    def refusal(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return answer(request, exc.status, exc.message, param=exc.field)

    @api.exception_handler(Refused)
    def _refused(request: HttpRequest, exc: Refused) -> HttpResponse:
        return answer(request, exc.status, exc.message, param=exc.param)

    @api.exception_handler(AuthenticationError)
    def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return answer(
            request,
            401,
            "Missing or invalid API key: send a BatchStudio API token as 'Authorization: "
            "Bearer <token>' (Account → API tokens).",
            code="invalid_api_key",
        )

    @api.exception_handler(NinjaValidationError)
    def _invalid(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        if _not_a_form(request, exc):
            return answer(
                request,
                400,
                "Send the file as a multipart form (Content-Type: multipart/form-data) with "
                "the fields 'file' and 'purpose'.",
            )
        return refusal(request, schema_refusal(exc, labels=_LABELS))

    @api.exception_handler(DjangoValidationError)
    def _service(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        return refusal(request, service_refusal(exc))

    def _unread(request: HttpRequest, exc: Exception) -> HttpResponse:
        # The only upload is POST /files: one .jsonl file of requests, whatever its size
        # (OPENAI_FILE_MAX_BYTES); the size limit of Django counts the other fields.
        refused = body_refusal(
            exc,
            smaller="e.g. shorter metadata; the requests themselves go in a file (POST /files)",
            files="POST /files takes one file, the batch's .jsonl",
            files_field="file",
        )
        return refusal(request, refused)

    for kind in UNREAD_BODY:
        api.exception_handler(kind)(_unread)

    @api.exception_handler(Http404)
    def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return answer(request, 404, str(exc) or "Not found.")

    @api.exception_handler(HttpError)
    def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        # ninja wraps a body it cannot parse in HttpError(400) without saying why.
        message = body_problem(exc.__cause__) if exc.status_code == 400 else None
        return answer(request, exc.status_code, message or str(exc))

    @api.exception_handler(DataError)
    def _data(request: HttpRequest, exc: DataError) -> HttpResponse:
        # Text the database cannot hold (a NUL byte in PostgreSQL): the client's input.
        return answer(request, 400, "The request holds characters that cannot be stored.")

    @api.exception_handler(Exception)
    def _crash(request: HttpRequest, exc: Exception) -> HttpResponse:
        # Our bug, not the client's input: the traceback goes to the log, never the answer.
        log.error("OpenAI API error on %s %s", request.method, request.path, exc_info=exc)
        return answer(request, 500, "The server failed on this request; it is logged.")
