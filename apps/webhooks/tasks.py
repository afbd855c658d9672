"""Celery tasks of the webhooks area (the `exports` queue: network I/O, never an inference
slot)."""

from __future__ import annotations

from celery import shared_task

from apps.webhooks import delivery


@shared_task(
    name="apps.webhooks.tasks.webhook_deliver",
    soft_time_limit=delivery.SOFT_LIMIT_SECONDS,
    time_limit=delivery.SOFT_LIMIT_SECONDS + 15,
)
def webhook_deliver(delivery_id: int) -> str | None:
    return delivery.deliver(delivery_id)


@shared_task(name="apps.webhooks.tasks.webhooks_due")
def webhooks_due() -> int:
    return delivery.deliveries_due()
