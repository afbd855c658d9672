"""Reads for results access: who may reach a job's results, its files, its export history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from apps.accounts.models import Membership
from apps.core.storage import UnsafePathError, display_path, storage_path
from apps.exports.models import ResultsExport
from apps.jobs.models import Job
from worker.joined import joined_name
from worker.runners.registry import ML_APPS


def get_job_for_results_access(user: Any, pk: int) -> Job:
    """The job if `user` owns it or administers its project's organization; else 404.

    Results leave the platform through these views (download, S3), so the circle is the
    owner plus the organization's admins, who answer for the organization's data.
    """
    admin_of = Membership.objects.filter(user_id=user.pk, role=Membership.Role.ADMIN).values(
        "organization_id"
    )
    return get_object_or_404(
        Job.objects.select_related("project", "ml_app", "owner"),
        Q(owner_id=user.pk) | Q(project__organization_id__in=admin_of),
        pk=pk,
    )


def exports_for_job(job: Job) -> QuerySet[ResultsExport]:
    return ResultsExport.objects.filter(job=job).select_related("user")


def active_export_for_job(job: Job) -> ResultsExport | None:
    return exports_for_job(job).filter(status__in=["QUEUED", "RUNNING"]).first()


def results_file_path(job: Job, *, joined: bool = False) -> Path | None:
    """The job's results file (or its joined results file, worker.joined) when it exists
    as a regular file, else None."""
    name = joined_name(job.settings) if joined else job.results_filename
    if not name:
        return None
    try:
        path = storage_path(f"{job.results_dir}/{name}")
    except UnsafePathError:
        return None
    return path if path.is_file() else None


def results_dir_path(job: Job) -> Path | None:
    try:
        path = storage_path(job.results_dir)
    except UnsafePathError:
        return None
    return path if path.is_dir() else None


def results_dir_files(job: Job) -> list[tuple[str, Path]]:
    """(relative posix name, path) of every regular file in the results folder, sorted.

    Links are skipped, not followed: a link planted in the folder must not pull files from
    elsewhere on the storage into a download.
    """
    root = results_dir_path(job)
    if root is None:
        return []
    found: list[tuple[str, Path]] = []
    stack = [root]
    while stack:
        folder = stack.pop()
        for entry in folder.iterdir():
            if entry.is_symlink():
                continue
            if entry.is_dir():
                stack.append(entry)
            elif entry.is_file():
                found.append((entry.relative_to(root).as_posix(), entry))
    return sorted(found)


def results_overview(job: Job) -> dict[str, Any]:
    """What the results panel shows: downloadability, the NFS path, the export history."""
    path = None if job.is_active else results_file_path(job)
    joined = None if path is None else results_file_path(job, joined=True)
    exports = list(exports_for_job(job)[:50])
    plugin = ML_APPS.get(job.ml_app.key)
    return {
        "job": job,
        "results_ready": path is not None,
        "results_size": path.stat().st_size if path else None,
        "joined_name": joined.name if joined else "",
        "joined_size": joined.stat().st_size if joined else None,
        "results_folders": plugin.results_folders
        if (plugin := ML_APPS.get(job.ml_app.key))
        else (),
        "nfs_path": display_path(job.results_relpath),
        "exports": exports,
        "any_active": any(export.is_active for export in exports),
    }
