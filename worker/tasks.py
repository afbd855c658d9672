"""Celery tasks: adapters that take ids, call the engine and nothing more."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from worker import engine


@shared_task(name="worker.tasks.job_plan", acks_late=True)
def job_plan(job_id: int) -> None:
    engine.job_plan(job_id)


@shared_task(bind=True, name="worker.tasks.shard_run", acks_late=True, max_retries=None)
def shard_run(self, shard_id: int) -> str | None:  # type: ignore[no-untyped-def]
    status = engine.shard_run(shard_id, task_id=self.request.id or "")
    if status == engine.BUSY:
        # Another worker holds this shard (a redelivery): look again once its heartbeat
        # would have gone stale, and take it over then if that worker died.
        raise self.retry(countdown=settings.SHARD_STALE_SECONDS)
    return status


@shared_task(name="worker.tasks.job_finalize")
def job_finalize(job_id: int) -> None:
    engine.job_maybe_finalize(job_id)


@shared_task(name="worker.tasks.jobs_reap_stale")
def jobs_reap_stale() -> int:
    return engine.jobs_reap_stale()
