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
- Redirects are not followed; the URL's addresses are checked again before each attempt
  and the attempt connects to the address checked (apps.webhooks.addresses). An attempt
  ends within SOFT_LIMIT_SECONDS however slowly the receiver answers.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import certifi
import urllib3
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db.models import F
from django.utils import timezone
from kombu.exceptions import OperationalError
from standardwebhooks.webhooks import Webhook

from apps.webhooks.addresses import Target, check_url
from apps.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery
from worker import dispatch

log = logging.getLogger(__name__)

CONNECT_SECONDS = 5
TIMEOUT_SECONDS = 10  # between two reads of the answer
SOFT_LIMIT_SECONDS = 30  # the whole attempt (the task's soft time limit): a trickle ends
LEASE_SECONDS = SOFT_LIMIT_SECONDS + 30
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


def _pool(target: Target) -> urllib3.HTTPConnectionPool:
    """A connection to the checked address, presenting the URL's name (Host, TLS SNI and
    certificate check): never a second lookup of the name."""
    timeout = urllib3.Timeout(connect=CONNECT_SECONDS, read=TIMEOUT_SECONDS)
    if target.parts.scheme == "https":
        return urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            assert_hostname=target.hostname,
            server_hostname=target.hostname,
        )
    return urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False)


def _post(delivery: WebhookDelivery) -> tuple[int | None, str]:
    """(status code, error) of one POST; the error is a short sentence or ""."""
    endpoint = delivery.endpoint
    target, problem = check_url(endpoint.url)
    if target is None:
        return None, problem
    now = timezone.now()
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": "BatchStudio-Webhooks/1",
        "webhook-id": delivery.message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(endpoint.secret).sign(delivery.message_id, now, delivery.body),
    }
    pool = _pool(target)
    try:
        answer = pool.urlopen(
            "POST",
            target.path,
            body=delivery.body.encode(),
            headers=headers,
            redirect=False,
            retries=False,
            preload_content=False,
        )
        answer.close()  # the status is all we need; the body is the receiver's business
    except SoftTimeLimitExceeded:
        return None, f"no complete answer within {SOFT_LIMIT_SECONDS} s"
    except urllib3.exceptions.NewConnectionError:  # a ConnectTimeoutError, for urllib3
        return None, "the connection was refused or broke"
    except urllib3.exceptions.TimeoutError:
        return None, f"no answer within {TIMEOUT_SECONDS} s"
    except urllib3.exceptions.SSLError:
        return None, "the TLS certificate could not be verified"
    except (urllib3.exceptions.HTTPError, OSError):
        return None, "the connection was refused or broke"
    finally:
        pool.close()
    code = answer.status
    return code, "" if 200 <= code < 300 else f"HTTP {code}"


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
    # Only while this attempt is the latest: one that outlived its lease says nothing.
    WebhookDelivery.objects.filter(pk=delivery.pk, attempts=attempt).update(
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
