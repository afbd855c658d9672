from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict

from worker.runners.registry import ML_APPS

# The ML App keys, read from the registry so the OpenAPI schema lists the valid values and
# a new ML App needs no edit here. mypy cannot follow a Literal built at run time, so it
# sees a plain str.
if TYPE_CHECKING:
    MLAppKey = str
else:
    MLAppKey = Literal[tuple(ML_APPS)]

# `?format=` of the results download (apps.exports.downloads.DOWNLOAD_FORMATS; a test
# checks they agree).
DownloadFormat = Literal["file", "zip", "joined"]


class Message(Schema):
    message: str
    field: str | None = None


# The refusals every endpoint may answer (apps.api.errors says when); an endpoint that
# reads a body or a form may also answer 413 (over the size limits).
ERRORS: dict[int, Any] = {400: Message, 401: Message, 404: Message}
BODY_ERRORS: dict[int, Any] = {**ERRORS, 413: Message}


class MeOut(Schema):
    username: str
    organization: str | None


class MLAppOut(Schema):
    key: str
    name: str
    input_kind: str
    results_filename: str
    results_format: str
    settings_schema: list[dict[str, Any]]


class _In(Schema):
    """A request body: an unknown field is refused (a typo is not silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class ProjectIn(_In):
    name: str = Field(..., max_length=100)
    description: str = ""


class ProjectOut(Schema):
    id: int
    name: str
    description: str
    created_at: datetime
    job_count: int = 0


class CardSpeedOut(Schema):
    samples_per_second: float
    unit: str  # texts | files


class CardQualityOut(Schema):
    metric: str  # accuracy | span F1 | WER
    value: float
    set: str  # the labelled set
    samples: int


class ModelCardOut(Schema):
    """A platform model's measured card (`manage.py model_cards`)."""

    what: str
    licence: str
    speed: CardSpeedOut
    quality: CardQualityOut | None = None
    quality_also: list[CardQualityOut] = []  # sets never used to tune the model
    quality_note: str = ""  # why there is no quality figure
    measured: str = ""  # the date
    machine: str = ""
    source: str = ""  # measured on this server | measured on the development machine
    here: bool = False  # measured on this server


class ModelOut(Schema):
    id: int
    name: str
    ml_app: str
    tier: str
    source_type: str
    size_bytes: int
    owner: str | None
    created_at: datetime
    description: str = ""
    card: ModelCardOut | None = None  # platform models only


class ImportOut(Schema):
    uri: str
    endpoint_url: str
    linked: bool = False  # read in place rather than copied
    status: str
    message: str
    objects_total: int
    objects_done: int
    bytes_total: int
    bytes_done: int
    progress_percent: int


class DatasetOut(Schema):
    id: int
    name: str
    ml_apps: list[str]
    tier: str
    default_path: str
    data_format: str
    sample_count: int
    created_at: datetime
    s3_import: ImportOut | None = None


class DatasetImportIn(_In):
    name: str = Field(..., max_length=150)
    ml_apps: list[str] = Field(..., min_length=1, max_length=20)
    s3_uri: str = Field(..., max_length=1100, description="s3://bucket/prefix")
    access_key_id: str = Field(..., min_length=1, max_length=128)
    secret_access_key: str = Field(..., min_length=1, max_length=256)
    region: str = Field("", max_length=32)
    endpoint_url: str = Field("", max_length=300)
    visibility: Literal["private", "organization"] = "private"
    description: str = Field("", max_length=2000)
    default_path: str = Field("", max_length=1024)
    link: bool = Field(
        False, description="Read the objects in place (ranged reads) instead of copying them"
    )


class ImportResumeIn(_In):
    secret_access_key: str = Field(..., min_length=1, max_length=256)


class JobCreateIn(_In):
    project: str = Field(..., description="Project name or id")
    job: str = Field(..., max_length=100, description="Name of the new job")
    type: Literal["batch_predict"] = "batch_predict"
    model_checkpoint: str = Field(..., description="Model name or id")
    dataset: str = Field(..., description="Dataset name or id")
    path: str = Field("", max_length=1024, description="Relative path inside the dataset")
    settings: dict[str, Any] = Field(default_factory=dict)
    input_column: str | None = Field(
        None, max_length=200, description="A table's input column (same as settings.input_column)"
    )
    id_column: str | None = Field(
        None, max_length=200, description="A table's ID column, written beside each prediction"
    )
    carry_columns: list[str] | None = Field(
        None, max_length=100, description="Table columns copied beside each prediction"
    )
    priority: Literal["low", "normal", "high"] = Field(
        "normal", description="Orders dispatch among your own jobs (fair share between users)"
    )
    idempotency_key: str | None = Field(
        None,
        max_length=128,
        description="Retry key: the same key and request return the first job (200); the "
        "same key with a different request is refused (422). Scoped to your user.",
    )


class JobOut(Schema):
    id: int
    name: str
    project: str
    project_id: int
    type: str
    ml_app: str
    model: str
    dataset: str
    dataset_path: str
    settings: dict[str, Any]
    joined_file: str | None
    priority: Literal["low", "normal", "high"]
    status: str
    waiting_reason: str
    total_samples: int | None
    done_samples: int
    failed_samples: int
    progress_percent: int
    samples_per_second: float | None
    generated_tokens: int
    tokens_per_second: float | None
    eta_seconds: float | None
    queue_position: int | None
    predicted_start: datetime | None
    predicted_finish: datetime | None
    first_predicted_finish: datetime | None
    prediction_slipped: bool
    error_message: str
    results_file: str
    results_path: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ExportIn(_In):
    bucket: str = Field(..., min_length=3, max_length=63)
    folder: str = Field("", max_length=500)
    access_key_id: str = Field(..., min_length=1, max_length=128)
    secret_access_key: str = Field(..., min_length=1, max_length=256)
    region: str = Field("", max_length=32)
    endpoint_url: str = Field("", max_length=300)
    file: Literal["results", "joined"] = Field(
        "results", description="Upload the results file, or the joined results file"
    )


class ExportOut(Schema):
    id: int
    user: str | None
    created_at: datetime
    finished_at: datetime | None
    bucket: str
    folder: str
    region: str
    endpoint_url: str
    object_key: str
    size_bytes: int
    bytes_done: int
    progress_percent: int
    status: str
    error_message: str
