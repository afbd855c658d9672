from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ExportStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    RUNNING = "RUNNING", "Running"
    COMPLETED = "COMPLETED", "Completed"
    FAILED = "FAILED", "Failed"


class ResultsExport(models.Model):
    """One upload of a job's results to S3. Never holds the secret access key."""

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="exports")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    bucket = models.CharField(max_length=63)
    folder = models.CharField(max_length=500, blank=True)
    region = models.CharField(max_length=32, blank=True)
    endpoint_url = models.CharField(max_length=300, blank=True)
    access_key_id = models.CharField(max_length=128)
    object_key = models.CharField(max_length=1024, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    status = models.CharField(
        max_length=16, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    error_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Touched by the uploading worker about every second; an active export whose heartbeat
    # stops is reaped (see services.exports_reap_stale) so the job is not locked forever.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # "Only one upload is allowed at a time", enforced by the database.
            models.UniqueConstraint(
                fields=["job"],
                condition=Q(status__in=["QUEUED", "RUNNING"]),
                name="one_active_export_per_job",
            )
        ]

    def __str__(self) -> str:
        return f"export {self.pk} of job {self.job_id} to s3://{self.bucket}/{self.folder}"

    @property
    def is_active(self) -> bool:
        return self.status in (ExportStatus.QUEUED, ExportStatus.RUNNING)

    @property
    def s3_uri(self) -> str:
        return f"s3://{self.bucket}/{self.object_key}"

    @property
    def progress_percent(self) -> int:
        if self.status == ExportStatus.COMPLETED:
            return 100
        if not self.size_bytes:
            return 0
        return min(100, int(100 * self.bytes_done / self.size_bytes))
