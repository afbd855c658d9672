"""JSON errors for the API: a message a person can act on and the field at fault."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

_LOCATIONS = ("body", "query", "path", "header", "cookie", "form", "file")


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


def conflict(message: str, field: str | None = None) -> ApiError:
    return ApiError(409, message, field)


def bad_request(message: str, field: str | None = None) -> ApiError:
    return ApiError(400, message, field)


def _body(message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"message": message, "field": field, **extra}


def install_handlers(api: NinjaAPI) -> None:
    @api.exception_handler(ApiError)
    def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return api.create_response(request, _body(exc.message, exc.field), status=exc.status)

    @api.exception_handler(DjangoValidationError)
    def _validation(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        if hasattr(exc, "error_dict"):
            errors = exc.message_dict
            field, messages = next(iter(errors.items()))
            field_name = None if field == NON_FIELD_ERRORS else field
            return api.create_response(
                request, _body(" ".join(messages), field_name, errors=errors), status=400
            )
        return api.create_response(request, _body(" ".join(exc.messages)), status=400)

    @api.exception_handler(NinjaValidationError)
    def _schema(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        first = exc.errors[0] if exc.errors else {}
        # loc is (where, [body parameter,] field...): drop the first two by position, since
        # a field may itself be called "path" (the dataset path of POST /jobs).
        loc = [str(p) for p in first.get("loc", [])]
        if loc and loc[0] in _LOCATIONS:
            loc = loc[1:]
        if len(loc) > 1 and loc[0] == "payload":
            loc = loc[1:]
        field = ".".join(loc) or None
        message = first.get("msg", "Invalid request.")
        if field:
            message = f"{field}: {message}"
        return api.create_response(request, _body(message, field), status=400)

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
        return api.create_response(request, _body(str(exc)), status=exc.status_code)
