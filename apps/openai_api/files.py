"""Files of the OpenAI-compatible API: uploads (purpose `batch`) and the batch outputs the
platform writes, stored under `openai/files/` of the storage root."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from apps.core.storage import storage_root
from apps.core.text import shown
from apps.openai_api.errors import Refused
from apps.openai_api.models import FilePurpose, OpenAIFile, new_id

FILES_DIR = "openai/files"


def file_create(*, user: Any, upload: UploadedFile, purpose: str) -> OpenAIFile:
    if purpose != FilePurpose.BATCH:
        raise Refused(
            400, f"Unsupported purpose '{shown(purpose)}': BatchStudio takes 'batch'.", "purpose"
        )
    if upload.size and upload.size > settings.OPENAI_FILE_MAX_BYTES:
        limit = settings.OPENAI_FILE_MAX_BYTES >> 20
        raise Refused(413, f"The file is larger than {limit} MB.", "file")
    public_id = new_id("file-")
    relative = f"{FILES_DIR}/{public_id}.jsonl"
    target = storage_root() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    try:
        with target.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
                size += len(chunk)
        name = Path(upload.name or "input.jsonl").name[:255] or "input.jsonl"
        return OpenAIFile.objects.create(
            public_id=public_id,
            owner=user,
            purpose=purpose,
            filename=name,
            bytes=size,
            path=relative,
        )
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def file_write(*, user: Any, name: str, source: Path, purpose: str) -> OpenAIFile:
    """A file the platform made (a batch's output or errors), moved in from `source`."""
    public_id = new_id("file-")
    relative = f"{FILES_DIR}/{public_id}.jsonl"
    target = storage_root() / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    source.replace(target)
    return OpenAIFile.objects.create(
        public_id=public_id,
        owner=user,
        purpose=purpose,
        filename=name,
        bytes=target.stat().st_size,
        path=relative,
    )


def file_delete(*, file: OpenAIFile) -> None:
    (storage_root() / file.path).unlink(missing_ok=True)
    file.delete()
