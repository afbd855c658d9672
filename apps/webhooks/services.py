"""Registering a project's webhook endpoints, and queueing a delivery per ended job."""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.jobs.models import Job, JobStatus
from apps.projects.models import Project
from apps.webhooks.addresses import url_problem
from apps.webhooks.delivery import send
from apps.webhooks.models import EVENTS, WebhookDelivery, WebhookEndpoint

MAX_ENDPOINTS = 10  # per project
EVENT_OF = {
    JobStatus.COMPLETED: "job.completed",
    JobStatus.FAILED: "job.failed",
    JobStatus.STOPPED: "job.stopped",
}


def webhook_add(*, user: Any, project: Project, url: str, events: list[str]) -> WebhookEndpoint:
    """Register an endpoint; its signing secret is on the returned row (show it once)."""
    url = (url or "").strip()
    if len(url) > 2000:
        raise ValidationError({"url": ["A webhook URL is at most 2,000 characters."]})
    if problem := url_problem(url):
        raise ValidationError({"url": [problem]})
    events = list(dict.fromkeys(events or EVENTS))
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise ValidationError(
            {"events": [f"Unknown event '{unknown[0]}': choose from {', '.join(EVENTS)}."]}
        )
    if WebhookEndpoint.objects.filter(project=project).count() >= MAX_ENDPOINTS:
        raise ValidationError(f"A project has at most {MAX_ENDPOINTS} webhooks: delete one first.")
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    return WebhookEndpoint.objects.create(
        project=project, url=url, secret=secret, events=events, created_by=user
    )


def webhook_delete(*, endpoint: WebhookEndpoint) -> None:
    endpoint.delete()  # its deliveries go with it: nothing is sent to it any more


def _body(job: Job, event: str) -> str:
    return json.dumps(
        {
            "type": event,
            "timestamp": timezone.now().isoformat(),
            "data": {
                "id": job.pk,
                "name": job.name,
                "project": job.project.name,
                "project_id": job.project_id,
                "status": job.status,
                "ml_app": job.ml_app.key,
                "model": job.model_name,
                "dataset": job.dataset_name,
                "total_samples": job.total_samples,
                "done_samples": job.done_samples,
                "failed_samples": job.failed_samples,
                "error_message": job.error_message,
                "results_file": job.results_filename,
                "created_at": job.created_at.isoformat(),
                "finished_at": job.finished_at.isoformat() if job.finished_at else None,
            },
        },
        separators=(",", ":"),
    )


def deliveries_create(*, job_id: int) -> list[int]:
    """One delivery per endpoint of the job's project that wants its event; each is sent
    by a worker (apps.webhooks.delivery), never by the request that ended the job."""
    job = Job.objects.select_related("project", "ml_app").filter(pk=job_id).first()
    event = EVENT_OF.get(job.status) if job is not None else None  # type: ignore[call-overload]
    if job is None or event is None:
        return []
    created = []
    with transaction.atomic():
        for endpoint in WebhookEndpoint.objects.filter(project_id=job.project_id):
            if event not in endpoint.events:
                continue
            delivery = WebhookDelivery.objects.create(
                endpoint=endpoint,
                job=job,
                event=event,
                message_id=f"msg_{uuid.uuid4().hex}",
                body=_body(job, event),
                next_attempt_at=timezone.now(),
            )
            created.append(delivery.pk)
            # A broker that is down must not turn a job's end into an error: the sweep
            # sends what is due once it is back (delivery.send says so in the log).
            transaction.on_commit(partial(send, delivery.pk))
    return created
