"""The OpenAI Batch API's objects: uploaded files and batches, each batch one BatchStudio job.

Ids look like OpenAI's (`file-…`, `batch_…`) so that clients which check a prefix work; a
user sees only their own files and batches.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


PUBLIC_ID_MAX_LENGTH = 40


def public_id_like(value: str) -> bool:
    """Whether `value` could be one of our ids. Anything else is "not found" before any
    query: PostgreSQL refuses a NUL byte in a query, and a megabyte of text is no id."""
    return 0 < len(value) <= PUBLIC_ID_MAX_LENGTH and "\x00" not in value


class FilePurpose(models.TextChoices):
    BATCH = "batch", "batch"
    BATCH_OUTPUT = "batch_output", "batch_output"


class OpenAIFile(models.Model):
    public_id = models.CharField(max_length=PUBLIC_ID_MAX_LENGTH, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="openai_files"
    )
    purpose = models.CharField(max_length=20, choices=FilePurpose.choices)
    filename = models.CharField(max_length=255)
    bytes = models.BigIntegerField(default=0)
    path = models.CharField(max_length=500)  # relative to the storage root
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.public_id


class OpenAIBatch(models.Model):
    public_id = models.CharField(max_length=PUBLIC_ID_MAX_LENGTH, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="openai_batches"
    )
    # The job that runs the batch's valid requests; none when no request was valid.
    job = models.OneToOneField(
        "jobs.Job", on_delete=models.SET_NULL, null=True, related_name="openai_batch"
    )
    input_file = models.ForeignKey(
        OpenAIFile, on_delete=models.SET_NULL, null=True, related_name="batches"
    )
    input_file_public_id = models.CharField(max_length=40)
    endpoint = models.CharField(max_length=40)
    completion_window = models.CharField(max_length=10, default="24h")
    metadata = models.JSONField(default=dict, blank=True)
    model_name = models.CharField(max_length=150, blank=True)
    total_requests = models.IntegerField(default=0)
    invalid_requests = models.IntegerField(default=0)
    # Batch-level refusals (OpenAI's `errors.data`): [{code, message, param, line}].
    errors = models.JSONField(default=list, blank=True)
    output_file = models.ForeignKey(
        OpenAIFile, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    error_file = models.ForeignKey(
        OpenAIFile, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    # Set once the output and error files are written: the batch is then final.
    outputs_at = models.DateTimeField(null=True, blank=True)
    # Taken by the one process that writes them (apps.openai_api.outputs); a claim older
    # than ten minutes belonged to a writer that died.
    outputs_claimed_at = models.DateTimeField(null=True, blank=True)
    completed_requests = models.IntegerField(default=0)
    failed_requests = models.IntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField()
    cancelling_at = models.DateTimeField(null=True, blank=True)
    # Set when the completion window passed with the job still running (it is quit then).
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.public_id
