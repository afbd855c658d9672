"""Files and batches of the OpenAI-compatible Batch API.

A batch becomes a BatchStudio job: its valid requests are written as a private dataset
(`requests.jsonl`) and run by the ML App of the endpoint, in a project the client names
(header `BatchStudio-Project`) or the user's "OpenAI batches" project. Quit, resume,
progress and the dashboard are the job's; when the job ends, apps.openai_api.outputs
writes the output and error files.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.services import membership_ensure
from apps.api.resolve import ref_id
from apps.catalog.models import Dataset, MLApp, MLModel, Visibility
from apps.catalog.selectors import models_visible_to
from apps.core.storage import storage_root
from apps.core.text import name_problem, shown, storable
from apps.jobs.models import Job
from apps.jobs.services import JobSpec, job_quit, job_settings_check, job_submit
from apps.openai_api.errors import Refused
from apps.openai_api.models import FilePurpose, OpenAIBatch, OpenAIFile, new_id, public_id_like
from apps.openai_api.outputs import batch_outputs_write
from apps.openai_api.validation import ENDPOINTS, read_batch_input
from apps.projects.models import Project
from apps.projects.services import project_create
from worker.runners.textgen import TextGeneration

DEFAULT_PROJECT = "OpenAI batches"
# OpenAI's limits on metadata: 16 pairs, keys of 64 characters, values of 512.
METADATA_KEYS = 16
METADATA_KEY_MAX_LENGTH = 64
METADATA_VALUE_MAX_LENGTH = 512


# --- batches -------------------------------------------------------------------------


def _project_for(user: Any, name: str | None) -> Project:
    projects = Project.objects.filter(organization=membership_ensure(user).organization)
    if name:
        project = None
        if "\x00" not in name:  # PostgreSQL refuses a NUL byte in a query
            pk = ref_id(name)
            project = projects.filter(name=name).first() or (
                projects.filter(pk=pk).first() if pk is not None else None
            )
        if project is None:
            raise Refused(
                404, f"No project '{shown(name)}' in your organization.", "BatchStudio-Project"
            )
        return project
    project = projects.filter(owner=user, name=DEFAULT_PROJECT).first()
    if project is None:
        project = project_create(
            owner=user,
            name=DEFAULT_PROJECT,
            description="Batches sent through the OpenAI-compatible Batch API.",
        )
    return project


def _metadata_check(metadata: dict[str, Any] | None) -> dict[str, str]:
    """OpenAI's rules for metadata, and ours for a key (a name: one line of visible text,
    so that a bidi control cannot make it read as another) and for a value (text that any
    database can store)."""
    metadata = metadata or {}
    if len(metadata) > METADATA_KEYS:
        raise Refused(400, f"'metadata' holds at most {METADATA_KEYS} keys.", "metadata")
    for key, value in metadata.items():
        problem = name_problem(key, what="metadata key", max_length=METADATA_KEY_MAX_LENGTH)
        if problem:
            raise Refused(400, problem, "metadata")
        the = f"The metadata value of '{shown(key)}'"
        if not isinstance(value, str):
            raise Refused(400, f"{the} must be a string.", "metadata")
        if len(value) > METADATA_VALUE_MAX_LENGTH:
            raise Refused(
                400, f"{the} is longer than {METADATA_VALUE_MAX_LENGTH} characters.", "metadata"
            )
        if not storable(value):
            raise Refused(
                400,
                f"{the} holds a NUL byte or a lone surrogate, which cannot be stored.",
                "metadata",
            )
    return dict(metadata)


def _model_for(user: Any, app: MLApp, name: str) -> MLModel | None:
    if "\x00" in name:  # no model's name; PostgreSQL refuses it in a query
        return None
    found = models_visible_to(user).filter(ml_app=app, name=name)
    # A user's own model of that name wins over the organization's and the platform's.
    return found.filter(owner=user).first() or found.first()


def batch_create(
    *,
    user: Any,
    input_file_id: str,
    endpoint: str,
    completion_window: str,
    metadata: dict[str, Any] | None,
    project_name: str | None = None,
) -> OpenAIBatch:
    if endpoint not in ENDPOINTS:
        raise Refused(
            400,
            f"Unsupported endpoint '{shown(endpoint)}': use one of {', '.join(ENDPOINTS)}.",
            "endpoint",
        )
    if completion_window != "24h":
        raise Refused(400, "'completion_window' must be 24h.", "completion_window")
    metadata = _metadata_check(metadata)
    source = None
    if public_id_like(input_file_id):
        source = OpenAIFile.objects.filter(owner=user, public_id=input_file_id).first()
    if source is None:
        raise Refused(404, f"No file '{shown(input_file_id)}'.", "input_file_id")
    if source.purpose != FilePurpose.BATCH:
        raise Refused(400, "The input file's purpose must be 'batch'.", "input_file_id")
    project = _project_for(user, project_name)
    app = MLApp.objects.get(key=ENDPOINTS[endpoint])
    batch = OpenAIBatch.objects.create(
        public_id=new_id("batch_"),
        owner=user,
        input_file=source,
        input_file_public_id=source.public_id,
        endpoint=endpoint,
        completion_window=completion_window,
        metadata=metadata,
        expires_at=timezone.now() + timedelta(hours=24),
    )
    folder = storage_root() / "openai" / "batches" / batch.public_id
    folder.mkdir(parents=True, exist_ok=True)
    requests, ids = folder / "requests.jsonl", folder / "custom_ids.jsonl"
    with (storage_root() / source.path).open("rb") as fh:
        read = read_batch_input(fh, endpoint, requests, ids)
    (folder / "line_errors.jsonl").write_text(
        "".join(
            _json_line(
                {"line": e.line, "custom_id": e.custom_id, "code": e.code, "message": e.message}
            )
            for e in read.errors
        ),
        encoding="utf-8",
    )
    batch.total_requests, batch.invalid_requests = read.total, len(read.errors)
    batch.model_name = read.model
    model = _model_for(user, app, read.model) if read.model else None
    if read.total == 0:
        batch.errors = [_error("empty_file", "The input file holds no requests.", None)]
    elif read.requests == 0:
        batch.errors = [_error(e.code, e.message, e.line) for e in read.errors[:100]]
    elif model is None:
        batch.errors = [
            _error(
                "model_not_found",
                f"No {app.name} model named '{shown(read.model)}' that you may use; "
                "GET /openai/v1/models lists them.",
                None,
            )
        ]
    if batch.errors:
        batch.save()
        batch_outputs_write(batch)
        return batch
    assert model is not None
    batch.job = _job_submit(user, batch, project, app, model, requests, read.requests)
    batch.save()
    return batch


def _job_submit(
    user: Any,
    batch: OpenAIBatch,
    project: Project,
    app: MLApp,
    model: MLModel,
    requests: Path,
    count: int,
) -> Job:
    """The batch's requests as a private dataset, and the job that runs them."""
    with transaction.atomic():
        dataset = Dataset.objects.create(
            name=f"openai-{batch.public_id}",
            visibility=Visibility.PRIVATE,
            owner=user,
            organization=membership_ensure(user).organization,
            folder="",
            default_path="requests.jsonl",
            data_format="jsonl",
            sample_count=count,
            description=f"The valid requests of OpenAI batch {batch.public_id}.",
        )
        dataset.ml_apps.set([app])
        folder = storage_root() / "datasets" / str(dataset.pk)
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(requests, folder / "requests.jsonl")
        dataset.folder = f"datasets/{dataset.pk}"
        dataset.save(update_fields=["folder"])
        wanted = {"max_new_tokens": 1024} if app.key == TextGeneration.key else {}
        cleaned = job_settings_check(ml_app=app, model=model, dataset=dataset, settings=wanted)
        try:
            return job_submit(
                user=user,
                spec=JobSpec(
                    project=project,
                    name=f"openai {batch.public_id}",
                    ml_app=app,
                    model=model,
                    dataset=dataset,
                    dataset_path="requests.jsonl",
                    settings=cleaned,
                    samples=count,
                ),
            )
        except ValidationError as exc:
            raise Refused(409, "; ".join(exc.messages)) from exc


def batches_expire() -> int:
    """Quit the jobs of batches whose completion window (24 h) has passed; their
    unanswered requests go to the error file as `batch_expired`. Run by the beat."""
    now = timezone.now()
    due = OpenAIBatch.objects.select_related("job").filter(
        expires_at__lt=now, expired_at__isnull=True, outputs_at__isnull=True, job__isnull=False
    )
    count = 0
    for batch in due:
        assert batch.job is not None
        if not batch.job.is_active:
            continue
        OpenAIBatch.objects.filter(pk=batch.pk).update(expired_at=now)
        job_quit(job=batch.job)
        count += 1
    return count


def batch_cancel(*, batch: OpenAIBatch) -> OpenAIBatch:
    if batch.job is not None and batch.job.is_active:
        if batch.cancelling_at is None:
            batch.cancelling_at = timezone.now()
            batch.save(update_fields=["cancelling_at"])
        job_quit(job=batch.job)
    batch.refresh_from_db()
    return batch


def _error(code: str, message: str, line: int | None) -> dict[str, Any]:
    return {"code": code, "message": message, "param": None, "line": line}


def _json_line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"
