"""The reaper (`jobs_reap_stale`, run by the beat every 30 s): take over shards whose worker
died, send again the messages Redis lost, merge jobs whose last worker died before it did,
and end the jobs nobody works on any more."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.jobs import transitions
from apps.jobs.models import Job, JobShard, JobStatus, ShardStatus
from worker import dispatch, scheduler
from worker.finishing import job_maybe_finalize

log = logging.getLogger(__name__)


def shard_requeue(shard: JobShard) -> None:
    """Queue a lost shard again under a new task id; the first worker to get it takes over.

    Celery redelivers the task of a killed pool process itself, but the task of a worker
    whose whole machine died waits in Redis until the visibility timeout (hours).
    """
    task_id = str(uuid.uuid4())
    if JobShard.objects.filter(
        pk=shard.pk, status=ShardStatus.RUNNING, attempts=shard.attempts
    ).update(task_id=task_id):
        # Handing the shard on counts as a sign of life: the job is judged abandoned only
        # if the requeued shard, too, finds no worker for JOB_STALE_SECONDS.
        Job.objects.filter(pk=shard.job_id).update(heartbeat_at=timezone.now())
        dispatch.send_on_commit(dispatch.SHARD_RUN, shard.pk, task_id=task_id)


def _requeue_lost_messages(*, settled: datetime, alive_since: datetime) -> int:
    """Queue again the PENDING shards and QUEUED jobs whose task message is gone.

    Called only while the inference queue is empty: such a shard or job then has no message
    waiting, so Redis lost it (a restart without persistence keeps nothing) or a worker
    that died as a whole had reserved it (Redis hands it out again only after the
    visibility timeout, hours later). A copy of a message that was only in flight does no
    harm: the conditional claim lets one copy run and drops the other. Only jobs seen alive
    since `alive_since` get new messages; older ones are left to the abandoned-job check.
    Returns how many messages were sent again.
    """
    lost_shards = JobShard.objects.exclude(task_id="").filter(  # the scheduler sends the rest
        status=ShardStatus.PENDING,
        job__status=JobStatus.RUNNING,
        job__started_at__lt=settled,
        job__heartbeat_at__gte=alive_since,
    )
    sent = 0
    for shard_id, job_id in lost_shards.values_list("pk", "job_id"):
        task_id = str(uuid.uuid4())
        with transaction.atomic():
            if JobShard.objects.filter(pk=shard_id, status=ShardStatus.PENDING).update(
                task_id=task_id
            ):
                log.warning("requeueing shard %s of job %s: its message was lost", shard_id, job_id)
                dispatch.send_on_commit(dispatch.SHARD_RUN, shard_id, task_id=task_id)
                sent += 1
    lost_jobs = Job.objects.filter(
        status=JobStatus.QUEUED,
        created_at__lt=settled,
        created_at__gte=alive_since,
        waiting_reason="",
    )
    for job_id in lost_jobs.values_list("pk", flat=True):
        log.warning("queueing job %s again: its message was lost", job_id)
        dispatch.send(dispatch.JOB_PLAN, job_id)
        sent += 1
    return sent


def jobs_reap_stale() -> int:
    """Requeue shards whose worker died and messages Redis lost; end the jobs that nobody
    works on any more.

    A job counts as abandoned only when its heartbeat is older than JOB_STALE_SECONDS and
    the workers are idle (no job reported anything in that time and nothing waits in the
    queue): a job whose shards wait behind other jobs' work is not dead. An abandoned job
    keeps its finished shards and ends FAILED with a message (STOPPED if it was quitting);
    a job that never left QUEUED in that time ends FAILED with a message too.
    """
    scheduler.refill()  # in case a refill died with its worker
    current = timezone.now()
    lost_before = current - timedelta(seconds=3 * settings.SHARD_STALE_SECONDS)
    lost = JobShard.objects.filter(status=ShardStatus.RUNNING, heartbeat_at__lt=lost_before)
    for shard in lost.select_related("job"):
        if shard.job.status == JobStatus.RUNNING:
            log.warning("requeueing %s: its worker stopped reporting", shard)
            with transaction.atomic():
                shard_requeue(shard)
        else:
            # Quitting or failing already: nothing to take over, just close the shard.
            with transaction.atomic():
                transitions.shard_cancel(shard)
            job_maybe_finalize(shard.job_id)
    # A worker that died between its shard's last write and the merge leaves a job whose
    # shards have all finished and that nobody merges.
    unmerged = (
        Job.objects.filter(
            status__in=transitions.JOB_ACTIVE, finalizing=False, heartbeat_at__lt=lost_before
        )
        .filter(shards__isnull=False)
        .exclude(shards__status__in=[ShardStatus.PENDING, ShardStatus.RUNNING])
        .values_list("pk", flat=True)
        .distinct()
    )
    for job_id in unmerged:
        log.warning("merging job %s: its last worker died before it did", job_id)
        job_maybe_finalize(job_id)

    cutoff = current - timedelta(seconds=settings.JOB_STALE_SECONDS)
    # Messages lost with Redis are sent again first (nothing is judged abandoned in a run
    # that did so): the workers get their chance.
    settled = current - timedelta(seconds=settings.SHARD_STALE_SECONDS)
    queued = dispatch.queue_length(settings.CELERY_TASK_DEFAULT_QUEUE) or _requeue_lost_messages(
        settled=settled, alive_since=cutoff
    )
    if queued or Job.objects.filter(heartbeat_at__gte=cutoff).exists():
        close_old_connections()
        return 0
    stale = (
        Job.objects.filter(status__in=transitions.JOB_ACTIVE)
        .annotate(last_seen=Coalesce("heartbeat_at", "created_at"))
        .filter(last_seen__lt=cutoff)
    )
    minutes = max(1, round(settings.JOB_STALE_SECONDS / 60))
    message = (
        f"No worker has reported progress for {minutes} minute(s): the workers may have "
        "stopped or lost the database or the job queue (Redis). Start a worker and run the "
        "job again."
    )
    reaped = 0
    # A job held by its owner's cap on running jobs waits on purpose.
    never_planned = Job.objects.filter(
        status=JobStatus.QUEUED, created_at__lt=cutoff, waiting_reason=""
    )
    for job_id in never_planned.values_list("pk", flat=True):
        log.warning("job %s never reached a worker", job_id)
        reaped += transitions.job_fail_queued(
            job_id=job_id,
            message=f"No worker picked this job up for {minutes} minute(s): the workers may "
            "have stopped or lost the job queue (Redis). Start a worker and run the job again.",
        )
    for job_id, finalizing in stale.values_list("pk", "finalizing"):
        log.warning("job %s abandoned by its workers", job_id)
        if finalizing:  # the merge itself died half-way
            reaped += transitions.job_fail(job_id=job_id, message=message)
            continue
        transitions.job_stop(job_id=job_id, message=message)
        with transaction.atomic():
            for shard in JobShard.objects.select_for_update().filter(
                job_id=job_id, status__in=[ShardStatus.PENDING, ShardStatus.RUNNING]
            ):
                transitions.shard_cancel(shard)
        reaped += job_maybe_finalize(job_id) is not None
    close_old_connections()
    return reaped
