"""Celery tasks: adapters that take ids, call the engine and nothing more.

Their names are worker.dispatch's: everything that queues one sends it by that name.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from worker import dispatch, finishing, planning, reaper, scheduler, shards


@shared_task(name=dispatch.JOB_PLAN, acks_late=True)
def job_plan(job_id: int) -> None:
    planning.job_plan(job_id)


@shared_task(bind=True, name=dispatch.SHARD_RUN, acks_late=True, max_retries=None)
def shard_run(self, shard_id: int) -> str | None:  # type: ignore[no-untyped-def]
    status = shards.shard_run(shard_id, task_id=self.request.id or "")
    if status == shards.BUSY:
        # Another worker holds this shard (a redelivery): look again once its heartbeat
        # would have gone stale, and take it over then if that worker died.
        raise self.retry(countdown=settings.SHARD_STALE_SECONDS)
    scheduler.refill()  # this shard's place in the pool is free: the next one, fairly
    return status


@shared_task(name=dispatch.JOB_FINALIZE)
def job_finalize(job_id: int) -> None:
    """Sent by a quit (apps.jobs.services): merge the job once its shards have let go."""
    finishing.job_maybe_finalize(job_id)
    scheduler.refill()  # the quit job's places go to the others


@shared_task(name=dispatch.JOBS_REAP_STALE)
def jobs_reap_stale() -> int:
    return reaper.jobs_reap_stale()
