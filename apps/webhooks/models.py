"""A project's webhook endpoints, and each event's delivery with every attempt made."""

from __future__ import annotations

from django.conf import settings
from django.db import models

EVENTS = ("job.completed", "job.failed", "job.stopped")


class WebhookEndpoint(models.Model):
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=2000)
    # The signing key (Standard Webhooks: `whsec_` + base64). Kept, as it must be to sign;
    # shown to its owner once, when the endpoint is registered.
    secret = models.CharField(max_length=100)
    events = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"  # an attempt is due (now or after a backoff)
    DELIVERED = "DELIVERED", "Delivered"  # the endpoint answered 2xx
    FAILED = "FAILED", "Failed"  # no 2xx within WEBHOOK_RETRY_SECONDS: given up


class WebhookDelivery(models.Model):
    """One event for one endpoint; its body is fixed, so every retry sends the same bytes
    under the same `webhook-id` (receivers drop duplicates by it)."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    job = models.ForeignKey(
        "jobs.Job", on_delete=models.SET_NULL, null=True, related_name="webhook_deliveries"
    )
    event = models.CharField(max_length=32)
    message_id = models.CharField(max_length=40, unique=True)
    body = models.TextField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint.url}"


class WebhookAttempt(models.Model):
    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    milliseconds = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"attempt at {self.at:%Y-%m-%d %H:%M:%S}: {self.status_code or self.error}"
