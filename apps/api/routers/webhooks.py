"""Webhooks: a project's endpoints (list, register, remove) and a job's deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import ValidationError as PydanticValidationError

from apps.api import errors
from apps.api.auth import request_user
from apps.api.resolve import job_by_ref, project_by_ref
from apps.api.schemas import BODY_ERRORS, ERRORS, Message, _In
from apps.webhooks.models import WebhookEndpoint
from apps.webhooks.selectors import deliveries_for_job, webhooks_for_project
from apps.webhooks.services import webhook_add, webhook_delete

router = Router(tags=["webhooks"])

Event = Literal["job.completed", "job.failed", "job.stopped"]


class WebhookIn(_In):
    url: str = Field(..., max_length=2000, description="An http(s) URL the server may reach")
    events: list[Event] | None = Field(None, description="Default: every event")


class WebhookOut(Schema):
    id: int
    url: str
    events: list[str]
    created_at: datetime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(..., description="The signing secret: shown this once")


class AttemptOut(Schema):
    at: datetime
    status_code: int | None
    error: str
    milliseconds: int


class DeliveryOut(Schema):
    id: int
    webhook_id: int
    url: str
    event: str
    message_id: str
    status: str
    attempts: list[AttemptOut]
    next_attempt_at: datetime | None


def _out(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.pk,
        "url": endpoint.url,
        "events": endpoint.events,
        "created_at": endpoint.created_at,
    }


@router.get("/projects/{ref}/webhooks", response={200: list[WebhookOut], **ERRORS})
def webhook_list(request: HttpRequest, ref: str) -> Any:
    project = project_by_ref(request_user(request), ref)
    return [_out(e) for e in webhooks_for_project(project)]


@router.post(
    "/projects/{ref}/webhooks",
    response={201: WebhookCreatedOut, **BODY_ERRORS},
    openapi_extra={
        "requestBody": {
            "content": {"application/json": {"schema": WebhookIn.model_json_schema()}},
            "required": True,
        }
    },
)
def webhook_add_view(request: HttpRequest, ref: str) -> Any:
    """Register a webhook; the answer holds its signing secret, shown this once. The project
    is looked up before the body is read, so another user's gets a 404 whatever the body."""
    user = request_user(request)
    project = project_by_ref(user, ref)
    try:
        payload = WebhookIn.model_validate_json(request.body or b"{}")
    except PydanticValidationError as exc:
        raise NinjaValidationError(
            [{**error, "loc": ("body", "payload", *error["loc"])} for error in exc.errors()]
        ) from exc
    try:
        endpoint = webhook_add(
            user=user, project=project, url=payload.url, events=list(payload.events or [])
        )
    except DjangoValidationError as exc:
        raise errors.service_refusal(exc) from exc
    return Status(201, {**_out(endpoint), "secret": endpoint.secret})


@router.delete("/projects/{ref}/webhooks/{webhook_id}", response={200: Message, **ERRORS})
def webhook_delete_view(request: HttpRequest, ref: str, webhook_id: int) -> Any:
    project = project_by_ref(request_user(request), ref)
    endpoint = webhooks_for_project(project).filter(pk=webhook_id).first()
    if endpoint is None:
        raise Http404(f"No webhook {webhook_id} in project '{project.name}'.")
    webhook_delete(endpoint=endpoint)
    return {"message": f"Webhook {webhook_id} ({endpoint.url}) was removed."}


@router.get("/jobs/{ref}/webhooks", response={200: list[DeliveryOut], **ERRORS})
def job_deliveries(request: HttpRequest, ref: str, project: str | None = None) -> Any:
    job = job_by_ref(request_user(request), ref, project)
    return [
        {
            "id": d.pk,
            "webhook_id": d.endpoint_id,
            "url": d.endpoint.url,
            "event": d.event,
            "message_id": d.message_id,
            "status": d.status,
            "next_attempt_at": d.next_attempt_at,
            "attempts": [
                {
                    "at": a.at,
                    "status_code": a.status_code,
                    "error": a.error,
                    "milliseconds": a.milliseconds,
                }  # fmt: skip
                for a in d.attempt_log.all()
            ],
        }
        for d in deliveries_for_job(job)
    ]
