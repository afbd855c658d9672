"""Celery tasks of the catalog, routed to the `exports` queue (CELERY_TASK_ROUTES) with the
other long transfers, so a dataset import never holds a slot inference needs."""

from __future__ import annotations

from celery import shared_task

from apps.catalog import s3_import


# acks_late: a worker lost mid-copy leaves the message to be delivered again, and the copy
# resumes from what it had (the secret stays in Redis for the import's duration).
@shared_task(name="apps.catalog.tasks.dataset_import", acks_late=True)
def dataset_import(import_id: int) -> str | None:
    return s3_import.dataset_import_run(import_id=import_id)
