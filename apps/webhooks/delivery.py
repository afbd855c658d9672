"""Sending a delivery (run by a worker): sign it the Standard Webhooks way, POST it, log the
attempt, and retry with exponential backoff for up to WEBHOOK_RETRY_SECONDS (a day).

- Signed with the `standardwebhooks` reference library: `webhook-id` (the delivery's
  message id, the same on every retry), `webhook-timestamp`, and `webhook-signature`
  (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under the endpoint's secret).
- An attempt claims the delivery with a conditional UPDATE (its attempt count) and a lease,
  so the periodic sweep (`webhooks_due`, every 30 s) never sends it twice at once.
- Retries: 2xx is delivered; anything else (another status, a timeout, a refused
  connection) is tried again after WEBHOOK_RETRY_BASE_SECONDS × 4^(attempt-1), at most six
  hours apart, until a day has passed since the event. A short wait is a countdown on the
  task; a long one is left to the sweep, so no task waits for hours in the broker.
- Redirects are not followed, and the URL's addresses are checked again before each
  attempt (a name may resolve to a private address later).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import requests
from django.conf import settings
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError
from standardwebhooks.webhooks import Webhook

from apps.webhooks.addresses import url_problem
from apps.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from worker import dispatch

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
LEASE_SECONDS = TIMEOUT_SECONDS + 30
MAX_GAP_SECONDS = 6 * 3600
COUNTDOWN_LIMIT = 60  # longer waits are the sweep's


def send(delivery_id: int, *, countdown: float = 0) -> None:
    """Queue an attempt; if the broker is down, the sweep sends it when it is back."""
    try:
        dispatch.send(dispatch.WEBHOOK_DELIVER, delivery_id, countdown=countdown)
    except OperationalError:
        log.warning(
            "webhook delivery %s: the broker is unreachable; the sweep will send it", delivery_id
        )


def backoff(attempt: int) -> float:
    return float(min(settings.WEBHOOK_RETRY_BASE_SECONDS * 4 ** (attempt - 1), MAX_GAP_SECONDS))


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """(status code, error) of one POST; the error is a short sentence or ""."""
    endpoint = delivery.endpoint
    if problem := url_problem(endpoint.url):
        return None, problem
    now = timezone.now()
    headers = {
        "content-type": "application/json",
        "user-agent": "BatchStudio-Webhooks/1",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(delivery.message_id, now, delivery.body),
    }
    try:
        answer = requests.post(
            endpoint.url,
            data=delivery.body.encode(),
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.Timeout:
        return None, f"no answer within {TIMEOUT_SECONDS} s"
    except requests.ConnectionError:
        return None, "the connection was refused or broke"
    except requests.RequestException as exc:
        return None, f"the request failed ({type(exc).__name__})"
    return (
        answer.status_code,
        "" if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}",
    )


def deliver(delivery_id: int) -> str | None:
    """One attempt of a PENDING delivery whose time has come; its status after it."""
    now = timezone.now()
    delivery = (
        WebhookDelivery.objects.select_related("endpoint")
        .filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
        .first()
    )
    if delivery is None:
        return None
    claimed = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=DeliveryStatus.PENDING, attempts=delivery.attempts
    ).update(attempts=F("attempts") + 1, next_attempt_at=now + timedelta(seconds=LEASE_SECONDS))
    if not claimed:
        return None  # another worker's attempt
    started = time.monotonic()
    code, error = _post(delivery)
    WebhookAttempt.objects.create(
        delivery=delivery,
        at=now,
        status_code=code,
        error=error[:300],
        milliseconds=int((time.monotonic() - started) * 1000),
    )
    attempt = delivery.attempts + 1
    if not error:
        status, next_at = DeliveryStatus.DELIVERED, None
    else:
        wait = backoff(attempt)
        next_at = timezone.now() + timedelta(seconds=wait)
        give_up = delivery.created_at + timedelta(seconds=settings.WEBHOOK_RETRY_SECONDS)
        status = DeliveryStatus.FAILED if next_at > give_up else DeliveryStatus.PENDING
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status, next_attempt_at=next_at if status == DeliveryStatus.PENDING else None
    )
    if status == DeliveryStatus.PENDING and wait <= COUNTDOWN_LIMIT:
        send(delivery.pk, countdown=wait)
    return str(status)


def deliveries_due() -> int:
    """Send the deliveries whose time has come (the sweep, every 30 s)."""
    due = WebhookDelivery.objects.filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
    ).values_list("pk", flat=True)[:500]
    for delivery_id in due:
        send(delivery_id)
    return len(due)
