"""Webhooks: a job's end reaches a local receiver, signed as Standard Webhooks says, retried
after a 500 with the same message id, every attempt listed; URLs that would make the server
call itself or another scheme are refused unless the operator allows private addresses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from apps.accounts.services import api_token_create
from apps.jobs.models import JobStatus
from apps.webhooks import delivery
from apps.webhooks import services as webhook_services
from apps.webhooks.models import DeliveryStatus, WebhookDelivery
from apps.webhooks.services import deliveries_create, webhook_add
from tests.conftest import wait_for_job, wait_until
from tests.factories import job_row, make_project, sentiment_job


class Receiver:
    """A local endpoint: answers each POST with the next of `codes` (then 204), keeps it."""

    def __init__(self, codes: list[int]) -> None:
        self.codes, self.seen = list(codes), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["content-length"]))
                outer.seen.append((dict(self.headers.items()), body))
                self.send_response(outer.codes.pop(0) if outer.codes else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def unsent(monkeypatch):
    """Deliveries made but not queued: the test runs the attempts itself (the session's
    worker, if one runs, would otherwise race it)."""
    queued: list[int] = []
    monkeypatch.setattr(webhook_services, "send", queued.append)
    return queued


@pytest.fixture
def receiver():
    made = Receiver([500])
    yield made
    made.close()


def verified(secret: str, headers: dict[str, str], body: bytes) -> dict:
    """The event, checked by the reference library and, independently, by hand."""
    lower = {k.lower(): v for k, v in headers.items()}
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{lower['webhook-id']}.{lower['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert lower["webhook-signature"] == f"v1,{expected}"
    return Webhook(secret).verify(body, lower)


@pytest.mark.worker
def test_a_job_end_is_delivered_signed_and_retried_after_a_500(
    live_worker, owner, owner_client, receiver
):
    project = make_project(owner, "hooked")
    endpoint = webhook_add(user=owner, project=project, url=receiver.url, events=[])

    job = wait_for_job(sentiment_job(owner, project, name="notify-me").pk)
    assert job.status == JobStatus.COMPLETED, job.error_message
    wait_until(
        lambda: WebhookDelivery.objects.filter(job=job, status=DeliveryStatus.DELIVERED).first(),
        timeout=240, what="the webhook's retry",
    )  # fmt: skip

    (first_headers, first_body), (headers, body) = receiver.seen
    event = verified(endpoint.secret, headers, body)
    verified(endpoint.secret, first_headers, first_body)
    assert first_headers["webhook-id"] == headers["webhook-id"] and first_body == body
    assert event["type"] == "job.completed"
    assert (event["data"]["id"], event["data"]["status"]) == (job.pk, "COMPLETED")
    assert event["data"]["done_samples"] == job.done_samples == 40
    with pytest.raises(Exception, match="signature"):  # the library refuses another secret
        Webhook("whsec_" + base64.b64encode(b"x" * 24).decode()).verify(body, headers)

    token = api_token_create(user=owner, name="hooks")[1]
    api = Client(headers={"Authorization": f"Bearer {token}"})
    [listed] = api.get(f"/api/v1/jobs/{job.pk}/webhooks").json()
    assert [(a["status_code"], a["error"]) for a in listed["attempts"]] == [
        (500, "HTTP 500"),
        (204, ""),
    ]
    page = owner_client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "Webhook deliveries" in page and "HTTP 500" in page and "Delivered" in page


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/admin/",
        "http://localhost:8000/admin/",
        "http://[::1]/",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
def test_private_and_loopback_addresses_are_refused_unless_allowed(settings, owner, url):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    project = make_project(owner, "guarded")
    with pytest.raises(ValidationError, match="private, loopback or reserved") as refused:
        webhook_add(user=owner, project=project, url=url, events=[])
    assert "url" in refused.value.message_dict
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the operator's choice
    assert webhook_add(user=owner, project=project, url=url, events=[]).pk


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://example.com/hook", "starts with https:// or http://"),
        ("file:///etc/passwd", "starts with https:// or http://"),
        ("gopher://127.0.0.1:6379/_FLUSHALL", "starts with https:// or http://"),
        ("https://user:pw@example.com/", "no user name or password"),
        ("https://no-such-host.invalid/", "cannot be resolved"),
        ("not a url", "starts with https:// or http://"),
    ],
)
def test_other_schemes_credentials_and_unknown_hosts_are_refused(owner, url, says):
    with pytest.raises(ValidationError, match=says):
        webhook_add(user=owner, project=make_project(owner, "schemes"), url=url, events=[])


def test_only_the_chosen_events_make_deliveries(owner, catalog, unsent):
    project = make_project(owner, "events")
    failures = webhook_add(user=owner, project=project, url="http://127.0.0.1:9/",
                           events=["job.failed", "job.stopped"])  # fmt: skip
    done = job_row(owner, project, name="done", status=JobStatus.COMPLETED)
    stopped = job_row(owner, project, name="stopped", status=JobStatus.STOPPED)
    assert deliveries_create(job_id=done.pk) == []
    [made] = deliveries_create(job_id=stopped.pk)
    assert unsent == [made]  # queued once committed
    made = WebhookDelivery.objects.get(pk=made)
    assert (made.endpoint, made.event) == (failures, "job.stopped")
    assert json.loads(made.body)["data"]["name"] == "stopped"
    with pytest.raises(ValidationError, match="Unknown event 'job.started'"):
        webhook_add(user=owner, project=project, url="http://127.0.0.1:9/", events=["job.started"])


def test_retries_back_off_and_give_up_after_the_retry_window(
    settings, owner, catalog, redis_server, unsent
):
    # Waits past a minute are the sweep's (no countdown task a worker could run meanwhile).
    settings.WEBHOOK_RETRY_BASE_SECONDS = 120
    assert [delivery.backoff(n) for n in (1, 2, 3)] == [120, 480, 1920]
    assert delivery.backoff(30) == 6 * 3600
    project = make_project(owner, "give-up")
    webhook_add(user=owner, project=project, url="http://127.0.0.1:9/", events=[])
    [made] = deliveries_create(job_id=job_row(owner, project, status=JobStatus.FAILED).pk)

    assert delivery.deliver(made) == DeliveryStatus.PENDING  # nothing listens on port 9
    pending = WebhookDelivery.objects.get(pk=made)
    assert pending.attempts == 1 and pending.next_attempt_at > timezone.now()
    # A day later the next wait would pass the window: the delivery is given up.
    WebhookDelivery.objects.filter(pk=made).update(
        created_at=timezone.now() - timedelta(days=1), next_attempt_at=timezone.now()
    )
    assert delivery.deliver(made) == DeliveryStatus.FAILED
    attempts = list(WebhookDelivery.objects.get(pk=made).attempt_log.all())
    assert [a.error for a in attempts] == ["the connection was refused or broke"] * 2


def test_the_secret_is_shown_once_on_the_project_page(owner_client, owner):
    project = make_project(owner, "page")
    url = reverse("webhooks:add", args=[project.pk])
    response = owner_client.post(url, {"url": "http://127.0.0.1:9/h", "events": ["job.failed"]},
                                 follow=True)  # fmt: skip
    page = response.content.decode()
    secret = project.webhooks.get().secret
    assert secret in page and "not shown again" in page
    again = owner_client.get(reverse("projects:detail", args=[project.pk])).content.decode()
    assert secret not in again and "http://127.0.0.1:9/h" in again


def test_api_and_cli_register_list_and_remove(cli, owner):
    make_project(owner, "cli-hooks")
    added = json.loads(
        cli(
            "webhook", "add", "cli-hooks", "http://127.0.0.1:9/x", "--event", "job.failed", "--json"
        ).stdout  # fmt: skip
    )
    assert added["secret"].startswith("whsec_") and added["events"] == ["job.failed"]
    listed = json.loads(cli("webhook", "list", "cli-hooks", "--json").stdout)
    assert [w["id"] for w in listed] == [added["id"]] and "secret" not in listed[0]
    refused = cli("webhook", "add", "cli-hooks", "ftp://example.com/", check=False)
    assert refused.returncode == 1 and "https:// or http://" in refused.stderr
    assert "Traceback" not in refused.stderr
    cli("webhook", "remove", "cli-hooks", str(added["id"]))
    assert json.loads(cli("webhook", "list", "cli-hooks", "--json").stdout) == []


def test_the_attempt_connects_to_the_address_that_was_checked(
    monkeypatch, owner, catalog, unsent, receiver
):
    # The name resolves once, in the check; the connection goes to that address with the
    # name as Host. A second lookup (a rebinding DNS answering a private address the
    # second time) never happens: here it would fail, "hooks.example" being no real host.
    real = socket.getaddrinfo
    lookups = []

    def fake(host, *args, **kwargs):
        if host == "hooks.example":
            lookups.append(host)
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    receiver.codes = []
    project = make_project(owner, "pinned")
    port = receiver.server.server_port
    webhook_add(user=owner, project=project, url=f"http://hooks.example:{port}/in", events=[])
    [made] = deliveries_create(job_id=job_row(owner, project, status=JobStatus.FAILED).pk)

    assert delivery.deliver(made) == DeliveryStatus.DELIVERED
    [(headers, _)] = receiver.seen
    assert headers["Host"] == f"hooks.example:{port}"
    assert lookups == ["hooks.example", "hooks.example"]  # registration, then the attempt


def test_a_refused_url_is_shown_again_with_the_reason(owner_client, owner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    project = make_project(owner, "refused")
    url = reverse("webhooks:add", args=[project.pk])
    page = owner_client.post(url, {"url": "http://127.0.0.1:8000/admin/", "events": ["job.failed"]},
                             follow=True).content.decode()  # fmt: skip
    assert "private, loopback or reserved" in page
    assert 'value="http://127.0.0.1:8000/admin/"' in page  # kept, not to be retyped
    assert not project.webhooks.exists()
