"""The one seam to the task queue: send a task by its name, revoke, count what waits.

A task is sent by name, never through its function, so whoever sends (the web process,
planning, the reaper) imports nothing of the module that runs it: the web can ask for a
merge (JOB_FINALIZE) without importing the engine, and the engine can queue shards without
importing worker.tasks.

Routing is Celery's, as for `Task.apply_async`: CELERY_TASK_ROUTES sends apps.exports.* to
the `exports` queue and everything else goes to CELERY_TASK_DEFAULT_QUEUE (`inference`).
Execution options such as `acks_late` belong to the task's definition and are applied by
the worker that runs it.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

from django.db import transaction
from kombu.exceptions import ChannelError

from worker.celery import app

JOB_PLAN = "worker.tasks.job_plan"
SHARD_RUN = "worker.tasks.shard_run"
JOB_FINALIZE = "worker.tasks.job_finalize"
JOBS_REAP_STALE = "worker.tasks.jobs_reap_stale"  # sent by the beat (worker.celery)
EXPORT_UPLOAD = "apps.exports.tasks.export_upload"
OPENAI_BATCH_OUTPUTS = "apps.openai_api.tasks.batch_outputs"
DATASET_IMPORT = "apps.catalog.tasks.dataset_import"
WEBHOOK_DELIVER = "apps.webhooks.tasks.webhook_deliver"
WEBHOOKS_DUE = "apps.webhooks.tasks.webhooks_due"  # sent by the beat (worker.celery)
TASK_NAMES = (
    JOB_PLAN,
    SHARD_RUN,
    JOB_FINALIZE,
    JOBS_REAP_STALE,
    EXPORT_UPLOAD,
    OPENAI_BATCH_OUTPUTS,
    DATASET_IMPORT,
    WEBHOOK_DELIVER,
    WEBHOOKS_DUE,
)


def send(name: str, *args: int, task_id: str | None = None, **options: Any) -> None:
    """Queue task `name` with JSON `args` (ids) now; kombu's OperationalError if the broker
    cannot be reached (with `retry=True`, after its retry policy)."""
    # Task.apply_async sends ignore_result from the task, which CELERY_TASK_IGNORE_RESULT sets.
    options.setdefault("ignore_result", app.conf.task_ignore_result)
    app.send_task(name, args=list(args), task_id=task_id, **options)


def send_on_commit(name: str, *args: int, task_id: str | None = None) -> None:
    """Queue task `name` once the current transaction commits (at once outside one), so
    the worker finds the rows the task names; `Task.delay_on_commit` does the same."""
    transaction.on_commit(partial(send, name, *args, task_id=task_id))


def revoke(task_ids: Iterable[str]) -> None:
    """Tell the workers to drop these queued tasks when they reach them (never terminate)."""
    ids = [task_id for task_id in task_ids if task_id]
    if ids:
        app.control.revoke(ids)


def queue_length(queue: str) -> int:
    """How many messages wait in `queue` (0 if it was never declared)."""
    with app.connection_for_read() as conn:
        try:
            declared = conn.default_channel.queue_declare(queue=queue, passive=True)
        except ChannelError:  # never declared: nothing was ever queued
            return 0
        return int(declared.message_count)
