"""Celery tasks of the exports area, routed to the `exports` queue (CELERY_TASK_ROUTES), so
a long upload never holds a worker slot that inference needs."""

from __future__ import annotations

from celery import shared_task

from apps.exports import services


# acks_late off, unlike inference shards: the secret is taken from Redis on the first
# delivery, so a redelivered upload could never run; a worker lost mid-upload is handled
# by services.exports_reap_stale instead.
@shared_task(name="apps.exports.tasks.export_upload", acks_late=False)
def export_upload(export_id: int) -> str:
    return services.export_run(export_id=export_id)
