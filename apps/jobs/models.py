from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class JobStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    RUNNING = "RUNNING", "Running"
    STOPPING = "STOPPING", "Stopping"
    COMPLETED = "COMPLETED", "Completed"
    FAILED = "FAILED", "Failed"
    STOPPED = "STOPPED", "Stopped"


class JobPriority(models.IntegerChoices):
    """Orders dispatch within its owner's share of the workers (worker.scheduler)."""

    LOW = 0, "Low"
    NORMAL = 1, "Normal"
    HIGH = 2, "High"

    @classmethod
    def from_name(cls, name: str) -> JobPriority:
        return cls[name.strip().upper()]


ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.STOPPING)
TERMINAL_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)


class Job(models.Model):
    class JobType(models.TextChoices):
        BATCH_PREDICT = "batch_predict", "Batch Inference"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="jobs")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs"
    )
    name = models.CharField(max_length=100)
    job_type = models.CharField(
        max_length=32, choices=JobType.choices, default=JobType.BATCH_PREDICT
    )
    ml_app = models.ForeignKey("catalog.MLApp", on_delete=models.PROTECT, related_name="jobs")
    # Models and datasets may be deleted once no active job uses them; finished jobs keep
    # their names (snapshots) so they stay readable.
    model = models.ForeignKey(
        "catalog.MLModel", on_delete=models.SET_NULL, null=True, related_name="jobs"
    )
    model_name = models.CharField(max_length=150)
    dataset = models.ForeignKey(
        "catalog.Dataset", on_delete=models.SET_NULL, null=True, related_name="jobs"
    )
    dataset_name = models.CharField(max_length=150)
    dataset_path = models.CharField(max_length=500, blank=True)
    settings = models.JSONField(default=dict)
    priority = models.SmallIntegerField(choices=JobPriority.choices, default=JobPriority.NORMAL)
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    results_filename = models.CharField(max_length=200)
    total_samples = models.BigIntegerField(null=True, blank=True)
    done_samples = models.BigIntegerField(default=0)
    failed_samples = models.BigIntegerField(default=0)
    # Tokens the model generated (text generation); 0 for ML Apps that generate none.
    generated_tokens = models.BigIntegerField(default=0)
    error_message = models.TextField(blank=True)
    # Why a QUEUED job is held back (its owner's cap on running jobs); empty otherwise.
    waiting_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The finish predicted when planning started the job (apps.jobs.forecast), to tell a slip.
    first_predicted_finish = models.DateTimeField(null=True, blank=True)
    # Set by the one worker that wins the right to merge the shards (conditional UPDATE).
    finalizing = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="job_name_unique_per_project")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def results_dir(self) -> str:
        """Relative to the storage root."""
        return f"results/{self.pk}"

    @property
    def results_relpath(self) -> str:
        return f"{self.results_dir}/{self.results_filename}"

    @property
    def duration(self) -> timedelta | None:
        if not self.started_at:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def processed_samples(self) -> int:
        return self.done_samples + self.failed_samples

    @property
    def samples_per_second(self) -> float | None:
        duration = self.duration
        if duration is None or duration.total_seconds() <= 0 or not self.processed_samples:
            return None
        return self.processed_samples / duration.total_seconds()

    @property
    def tokens_per_second(self) -> float | None:
        duration = self.duration
        if duration is None or duration.total_seconds() <= 0 or not self.generated_tokens:
            return None
        return self.generated_tokens / duration.total_seconds()

    @property
    def eta(self) -> timedelta | None:
        rate = self.samples_per_second
        if not self.is_active or rate is None or self.total_samples is None:
            return None
        remaining = max(self.total_samples - self.processed_samples, 0)
        return timedelta(seconds=round(remaining / rate))

    @property
    def progress_percent(self) -> int:
        if not self.total_samples:
            return 100 if self.status == JobStatus.COMPLETED else 0
        return min(100, int(100 * self.processed_samples / self.total_samples))


class ShardStatus(models.TextChoices):
    PENDING = "PENDING", "Pending"
    RUNNING = "RUNNING", "Running"
    DONE = "DONE", "Done"
    STOPPED = "STOPPED", "Stopped"
    CANCELLED = "CANCELLED", "Cancelled"
    FAILED = "FAILED", "Failed"


SHARD_FINISHED = (ShardStatus.DONE, ShardStatus.STOPPED, ShardStatus.CANCELLED, ShardStatus.FAILED)


class JobShard(models.Model):
    """A contiguous range [start, end) of a job's samples, run as one Celery task."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="shards")
    index = models.PositiveIntegerField()
    start = models.BigIntegerField()
    end = models.BigIntegerField()
    status = models.CharField(
        max_length=16, choices=ShardStatus.choices, default=ShardStatus.PENDING
    )
    done_samples = models.BigIntegerField(default=0)
    failed_samples = models.BigIntegerField(default=0)
    generated_tokens = models.BigIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    # Byte offset of sample `start` when the input is one text-lines or JSONL file, found
    # once at planning, so a shard seeks there instead of counting every line before it.
    input_offset = models.BigIntegerField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job_id", "index"]
        constraints = [
            models.UniqueConstraint(fields=["job", "index"], name="shard_index_unique_per_job")
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} shard {self.index} [{self.start}, {self.end})"
