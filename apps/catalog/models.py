from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.db.models import Q

_NOT_IN_FILE_NAMES = re.compile(r"[/\\\x00-\x1f\x7f]")


class Visibility(models.TextChoices):
    PLATFORM = "platform", "Platform"
    ORGANIZATION = "organization", "Organization"
    PRIVATE = "private", "Private"


class MLApp(models.Model):
    """A task type. Rows are written from the ML App registry by catalog_sync (the plugin
    in worker.runners is the source); `manage.py check` fails when they disagree."""

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    input_kind = models.CharField(max_length=16)  # "text" or "audio"
    results_filename = models.CharField(max_length=200)  # may contain {dataset}
    results_format = models.CharField(max_length=200)
    settings_schema = models.JSONField(default=list)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]
        verbose_name = "ML App"

    def __str__(self) -> str:
        return self.name

    def results_name_for(self, dataset_name: str) -> str:
        # A dataset's name is anyone's text: in a file name it may not become a folder
        # ("a/b", "../x") nor pass the 255-byte limit of one file name.
        safe = _NOT_IN_FILE_NAMES.sub("_", dataset_name).encode()[:200].decode(errors="ignore")
        return self.results_filename.format(dataset=safe)


class SourceType(models.TextChoices):
    BUILTIN = "builtin", "Built-in"
    HUGGINGFACE = "huggingface", "Hugging Face checkpoint"
    SPACY = "spacy", "spaCy pipeline"
    CTRANSLATE2 = "ctranslate2", "CTranslate2 Whisper"


class _Owned(models.Model):
    visibility = models.CharField(
        max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    def tier_for(self, user_id: int | None) -> str:
        """mine / organization / platform, as the dropdown groups them."""
        if self.visibility == Visibility.PLATFORM:
            return "platform"
        if self.owner_id == user_id:
            return "mine"
        return "organization"


class MLModel(_Owned):
    name = models.CharField(max_length=150)
    ml_app = models.ForeignKey(MLApp, on_delete=models.PROTECT, related_name="models")
    source_type = models.CharField(max_length=16, choices=SourceType.choices)
    # "builtin:<key>" for shipped models, else a folder relative to the storage root.
    source = models.CharField(max_length=500)
    size_bytes = models.BigIntegerField(default=0)
    sha256_manifest = models.JSONField(default=dict, blank=True)
    # A platform model's measured card (apps.catalog.model_cards): licence, speed, quality.
    card = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "model"
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(visibility="platform"),
                name="platform_model_name_unique",
            ),
            models.UniqueConstraint(fields=["owner", "name"], name="model_name_unique_per_owner"),
        ]

    def __str__(self) -> str:
        return self.name


class Dataset(_Owned):
    name = models.CharField(max_length=150)
    ml_apps = models.ManyToManyField(MLApp, related_name="datasets")
    # Folder relative to the storage root (datasets/<id>/ for uploaded and platform data).
    folder = models.CharField(max_length=500)
    default_path = models.CharField(max_length=500, blank=True)
    data_format = models.CharField(max_length=32, blank=True)
    sample_count = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(visibility="platform"),
                name="platform_dataset_name_unique",
            ),
            models.UniqueConstraint(fields=["owner", "name"], name="dataset_name_unique_per_owner"),
        ]

    def __str__(self) -> str:
        return self.name


class ImportStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    RUNNING = "RUNNING", "Importing"
    DONE = "DONE", "Imported"
    FAILED = "FAILED", "Failed"


class DatasetImport(models.Model):
    """A dataset copied from an S3 prefix into its folder, or linked to it and read in
    place (apps.catalog.s3_import).

    The secret access key is never stored here: it waits, encrypted, in Redis for the
    import's duration (apps.exports.secret_store)."""

    dataset = models.OneToOneField(Dataset, on_delete=models.CASCADE, related_name="s3_import")
    bucket = models.CharField(max_length=63)
    prefix = models.CharField(max_length=1024, blank=True)
    endpoint_url = models.CharField(max_length=300, blank=True)
    region = models.CharField(max_length=32, blank=True)
    access_key_id = models.CharField(max_length=128)
    # Linked: the objects stay in S3 and workers read them in place (worker.remote); the
    # "import" only lists and counts them.
    linked = models.BooleanField(default=False)
    status = models.CharField(
        max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    message = models.TextField(blank=True)
    objects_total = models.IntegerField(default=0)
    objects_done = models.IntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.uri

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def is_active(self) -> bool:
        return self.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)

    @property
    def progress_percent(self) -> int:
        if not self.bytes_total:
            return 100 if self.status == ImportStatus.DONE else 0
        return min(100, int(self.bytes_done * 100 / self.bytes_total))
