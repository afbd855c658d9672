"""JSON errors for the API: a message a person can act on and the field at fault.

Every answer that is not a success is `{"message": "...", "field": "..." | null}`:
400 bad input (naming the field), 401 missing or bad token, 404 not found or not yours,
409 a conflict (a duplicate name, an upload already running), 413 a body over the size
limits, 422 an idempotency key reused for another request. A service's refusal (a Django
ValidationError) is mapped here too (`service_refusal`), so the endpoints never re-check
what the services check. The message is a sentence:
pydantic's own words ("String should have at most 1024 characters") are translated here,
quoted input is escaped (`apps.core.text.shown`), and no answer carries a traceback. An
exception in our own code is logged with its traceback and answered as a 500 that says
only that.

The OpenAI-compatible API (apps.openai_api.errors) answers in OpenAI's shape with the same
sentences: it reads them from `schema_refusal`, `body_problem` and `body_refusal` here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import (
    NON_FIELD_ERRORS,
    RequestDataTooBig,
    SuspiciousMultipartForm,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from apps.core.errors import is_name_taken
from apps.core.text import shown

logger = logging.getLogger(__name__)

_LOCATIONS = ("body", "query", "path", "header", "cookie", "form", "file")

# How a message names a request field (the field itself is in "field").
_LABELS = {
    "job": "job name",
    "model_checkpoint": "model",
    "ml_app": "ML App",
    "ml_apps": "ML Apps",
    "idempotency_key": "idempotency key",
    "type": "job type",
    "access_key_id": "access key ID",
    "secret_access_key": "secret access key",
    "endpoint_url": "endpoint URL",
    "default_path": "default path",
}


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.extra = status, message, field, extra


def conflict(message: str, field: str | None = None) -> ApiError:
    return ApiError(409, message, field)


def bad_request(message: str, field: str | None = None) -> ApiError:
    return ApiError(400, message, field)


def unprocessable(message: str, field: str | None = None) -> ApiError:
    return ApiError(422, message, field)


def service_refusal(
    exc: DjangoValidationError, *, fields: Mapping[str, str] | None = None, taken: str = ""
) -> ApiError:
    """A service's ValidationError as the answer: 400 naming the first field at fault, with
    every field under "errors" (`fields` renames the service's keys to the request's, e.g.
    "name" → "job"). A name the service refused as already used (apps.core.errors.
    NAME_TAKEN) is a 409 conflict, said as `taken` where the endpoint words it its own way."""
    if not hasattr(exc, "error_dict"):
        return ApiError(400, " ".join(exc.messages))
    rename = fields or {}
    if is_name_taken(exc):
        return conflict(taken or " ".join(exc.message_dict["name"]), rename.get("name", "name"))
    by_field = {rename.get(key, key): messages for key, messages in exc.message_dict.items()}
    field, messages = next(iter(by_field.items()))
    field_name = None if field == NON_FIELD_ERRORS else field
    return ApiError(400, " ".join(messages), field_name, errors=by_field)


def _body(message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"message": message, "field": field, **extra}


def _label(field: str | None, labels: Mapping[str, str]) -> str:
    if not field:
        return "request body"
    top = field.split(".")[0]
    return labels.get(top, top.replace("_", " "))


def _number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def validation_sentence(
    error: dict[str, Any], field: str | None, *, labels: Mapping[str, str] = _LABELS
) -> str:
    """One pydantic error as a sentence naming the field (never pydantic's own words,
    which read "String should have at most 1024 characters"); `labels` names the fields
    the way the API's documentation does."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    label = _label(field, labels)
    the = f"The {label}"
    if kind == "missing":
        if not field:
            return 'The request body is empty: send a JSON object ({"field": value, ...}).'
        return f"{the} is missing: send the field '{field}'."
    if kind == "extra_forbidden":
        return f"Unknown field '{shown(field)}'."
    if kind == "string_too_long":
        return f"{the} is longer than {_number(ctx.get('max_length'))} characters."
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return f"{the} may not be empty."
        return f"{the} is shorter than {_number(ctx.get('min_length'))} characters."
    if kind in ("string_type", "string_sub_type"):
        return f"{the} must be text (a JSON string)."
    if kind in ("string_unicode", "bytes_invalid_encoding"):
        return f"{the} must be UTF-8 text."
    if kind in ("int_parsing", "int_type", "int_from_float", "int_parsing_size"):
        return f"{the} must be a whole number."
    if kind in ("float_parsing", "float_type", "finite_number"):
        return f"{the} must be a number."
    if kind in ("bool_parsing", "bool_type"):
        return f"{the} must be true or false."
    if kind == "greater_than_equal":
        return f"{the} must be at least {_number(ctx.get('ge'))}."
    if kind == "greater_than":
        return f"{the} must be more than {_number(ctx.get('gt'))}."
    if kind == "less_than_equal":
        return f"{the} must be at most {_number(ctx.get('le'))}."
    if kind == "less_than":
        return f"{the} must be less than {_number(ctx.get('lt'))}."
    if kind in ("literal_error", "enum"):
        return f"{the} must be {ctx.get('expected', 'one of the documented values')}."
    if kind in ("dict_type", "model_type", "model_attributes_type", "mapping_type"):
        if not field:
            return 'The request body must be a JSON object ({"field": value, ...}).'
        return f"{the} must be a JSON object (key: value pairs)."
    if kind in ("list_type", "tuple_type", "set_type", "iterable_type"):
        return f"{the} must be a list."
    if kind in ("json_invalid", "json_type"):
        return "The request body is not valid JSON."
    if kind == "string_pattern_mismatch":
        return f"{the} holds characters that are not allowed here."
    if kind in ("url_parsing", "url_type", "url_scheme"):
        return f"{the} must be a URL such as https://s3.example.com."
    if kind in ("datetime_parsing", "datetime_type", "date_parsing", "date_type"):
        return f"{the} must be a date and time such as 2026-01-31T12:00:00Z."
    if kind == "value_error":
        return str(error.get("msg", "")).removeprefix("Value error, ") or f"{the} is not valid."
    if kind == "none_required":
        return f"{the} must be left out."
    return f"{the} is not valid."


def field_of(loc: list[Any]) -> str | None:
    """The request field a pydantic error's `loc` names ("metadata.team"), or None for
    the body as a whole."""
    # loc is (where, [body parameter,] field...): drop the first two by position, since a
    # field may itself be called "path" (the dataset path of POST /jobs).
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    if parts and parts[0] in ("payload", "filters"):
        parts = parts[1:]
    return ".".join(parts) or None


def json_problem(exc: BaseException) -> str:
    """What is wrong with text that json.loads refused, to end a sentence ("The line …"):
    never Python's own words ("Expecting value: line 1 column 1 (char 0)")."""
    if isinstance(exc, UnicodeDecodeError):
        return "is not UTF-8 text"
    if isinstance(exc, json.JSONDecodeError):
        return f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
    if isinstance(exc, RecursionError):
        return "nests too deeply"
    return "could not be read as JSON"


def body_problem(exc: BaseException | None) -> str | None:
    """ninja wraps a body it cannot parse in HttpError(400); say what is wrong with it."""
    if exc is None:
        return None
    problem = f"The request body {json_problem(exc)}"
    if isinstance(exc, UnicodeDecodeError):
        return f"{problem}; send JSON (Content-Type: application/json)."
    if isinstance(exc, json.JSONDecodeError):
        return f"{problem}; send one JSON object with Content-Type: application/json."
    return f"{problem}."


def _mebibytes(size: int | None) -> str:
    return f"{(size or 0) / (1 << 20):,.1f} MiB"


# Django's refusals to read a request: over a DATA_UPLOAD_* limit, or a multipart form its
# parser gave up on. Left to Django they would be an HTML 400, or a 500 inside ninja.
UNREAD_BODY: tuple[type[Exception], ...] = (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
    MultiPartParserError,
    SuspiciousMultipartForm,
)


def body_refusal(
    exc: Exception,
    *,
    smaller: str = "e.g. fewer or shorter settings",
    files: str = "send them as one zip or tar.gz archive",
    files_field: str | None = "files",
) -> ApiError:
    """One of UNREAD_BODY as a 413 (over a limit) or a 400 (a form that cannot be read)
    with a sentence; `smaller` and `files` advise what to send instead, in the words of the
    API that answers, and `files_field` is its upload field."""
    if isinstance(exc, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return ApiError(
            413,
            f"The request is larger than the server accepts ({_mebibytes(limit)} of JSON or "
            f"form fields); send less, {smaller}.",
        )
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return ApiError(413, f"The request has more than {limit:,} fields or query parameters.")
    if isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        return ApiError(413, f"The upload has more than {limit:,} files; {files}.", files_field)
    return ApiError(400, "The multipart form could not be read; send it again (is it complete?).")


def schema_refusal(exc: NinjaValidationError, *, labels: Mapping[str, str] = _LABELS) -> ApiError:
    """ninja's validation errors as a 400: the first field's sentence, and every field's
    under "errors" when more than one is at fault."""
    sentences: dict[str, list[str]] = {}
    for error in exc.errors:
        field = field_of(list(error.get("loc", [])))
        sentences.setdefault(field or "", []).append(
            validation_sentence(error, field, labels=labels)
        )
    first_field = next(iter(sentences), "")
    message = sentences[first_field][0] if sentences else "The request is not valid."
    extra = {"errors": sentences} if len(sentences) > 1 else {}
    return ApiError(400, message, first_field or None, **extra)


def install_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(ApiError)
    def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        body = _body(exc.message, exc.field, **exc.extra)
        return api.create_response(request, body, status=exc.status)

    @api.exception_handler(DjangoValidationError)
    def _validation(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        return _api_error(request, service_refusal(exc))

    @api.exception_handler(NinjaValidationError)
    def _schema(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return _api_error(request, schema_refusal(exc))

    def _unread(request: HttpRequest, exc: Exception) -> HttpResponse:
        return _api_error(request, body_refusal(exc))

    for kind in UNREAD_BODY:
        api.exception_handler(kind)(_unread)

    @api.exception_handler(AuthenticationError)
    def _auth(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        return api.create_response(
            request,
            _body(
                "Missing or invalid API token. Create one on the API tokens page and send "
                "'Authorization: Bearer <token>' (the CLI: batchstudio login)."
            ),
            status=401,
        )

    @api.exception_handler(DataError)
    def _data(request: HttpRequest, exc: DataError) -> HttpResponse:
        # Text the database cannot hold (a NUL byte in PostgreSQL): the client's input.
        return api.create_response(
            request,
            _body("The request holds characters that cannot be stored (a NUL byte?)."),
            status=400,
        )

    @api.exception_handler(Http404)
    def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return api.create_response(request, _body(str(exc) or "Not found."), status=404)

    @api.exception_handler(HttpError)
    def _http(request: HttpRequest, exc: HttpError) -> HttpResponse:
        message = body_problem(exc.__cause__) if exc.status_code == 400 else None
        return api.create_response(request, _body(message or str(exc)), status=exc.status_code)

    @api.exception_handler(Exception)
    def _bug(request: HttpRequest, exc: Exception) -> HttpResponse:
        # Our bug, not the client's input: the traceback goes to the log, never the answer.
        logger.error("API error on %s %s", request.method, request.path, exc_info=exc)
        return api.create_response(
            request,
            _body("Internal error: the server failed and logged why. Try again later."),
            status=500,
        )
