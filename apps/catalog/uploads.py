"""Where a new model's or dataset's files come from: an upload, or a registered folder.

Uploads stream to disk into a staging folder (archives are extracted safely by
apps.core.archives); a registered folder must resolve inside the storage root and outside
the areas the platform manages (nothing is copied: the NFS case). The services in
apps.catalog.services inspect what `source_prepare` returns and move a staging folder into
place once the row exists.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from apps.core.archives import ArchiveError, archive_extract, archive_kind
from apps.core.storage import UnsafePathError, safe_join, storage_root
from apps.core.text import name_problem, shown
from worker.runners.files import single_top_folder

MANAGED_AREAS = ("datasets", "models", "results")


def _staging(kind: str) -> Path:
    path = storage_root() / kind / f".incoming-{uuid.uuid4().hex}"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _save_upload(upload: UploadedFile, target: Path, budget: list[int]) -> None:
    """Stream an upload to disk chunk by chunk (never whole in memory)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as out:
        for chunk in upload.chunks():
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise ValidationError(
                    {"files": [f"The upload is larger than {settings.UPLOAD_MAX_BYTES:,} bytes."]}
                )
            out.write(chunk)


def _upload_name(upload: UploadedFile) -> str:
    # Browsers send a bare name; keep only its last part and refuse hidden/odd names.
    name = Path(str(upload.name or "").replace("\\", "/")).name
    if not name or name.startswith("."):
        raise ValidationError({"files": [f"Refused the file name '{shown(upload.name)}'."]})
    # Control and bidi characters would let the name show as another in every listing.
    if problem := name_problem(name, what="file name"):
        raise ValidationError({"files": [f"Refused the file name '{shown(name)}'. {problem}"]})
    return name


def _unpack(uploads: Iterable[UploadedFile], staging: Path) -> None:
    """Archives are extracted; other files are saved as they are."""
    uploads = list(uploads)
    budget = [settings.UPLOAD_MAX_BYTES]
    if len(uploads) > settings.UPLOAD_MAX_FILES:
        raise ValidationError({"files": [f"At most {settings.UPLOAD_MAX_FILES} files."]})
    staging.mkdir(parents=True)
    for upload in uploads:
        name = _upload_name(upload)
        kind = (
            archive_kind(Path(name), name)
            if name.lower().endswith((".zip", ".tar.gz", ".tgz", ".tar"))
            else None
        )
        if kind is None:
            _save_upload(upload, staging / name, budget)
            continue
        archive = staging.parent / f"{staging.name}.{uuid.uuid4().hex}.archive"
        try:
            _save_upload(upload, archive, budget)
            try:
                archive_extract(
                    archive,
                    staging / f".unpacked-{uuid.uuid4().hex}",
                    max_bytes=budget[0],
                    max_files=settings.UPLOAD_MAX_FILES,
                    original_name=name,
                )
            except ArchiveError as exc:
                raise ValidationError({"files": [str(exc)]}) from exc
        finally:
            archive.unlink(missing_ok=True)
    # Lift unpacked archive contents to the top of the staging folder.
    for unpacked in sorted(staging.glob(".unpacked-*")):
        # An archive of one folder (the usual `zip -r x.zip folder/`) means its contents.
        for child in single_top_folder(unpacked).iterdir():
            destination = staging / child.name
            if destination.exists():
                raise ValidationError(
                    {"files": [f"'{shown(child.name)}' appears twice in the upload."]}
                )
            child.rename(destination)
        shutil.rmtree(unpacked)


def _registered_folder(folder: str) -> tuple[str, Path]:
    try:
        path = safe_join(storage_root(), folder, within="the storage root")
    except UnsafePathError as exc:
        raise ValidationError({"folder": [str(exc)]}) from exc
    if path == storage_root():
        raise ValidationError({"folder": ["Give a folder inside the storage root, not the root."]})
    if not path.is_dir():
        raise ValidationError(
            {"folder": [f"'{shown(folder)}' is not a folder under the storage root."]}
        )
    relative = path.relative_to(storage_root()).as_posix()
    if relative.split("/")[0] in MANAGED_AREAS:
        # These hold other users' uploads and results: registering them would bypass access.
        raise ValidationError(
            {
                "folder": [
                    f"Folders under {', '.join(MANAGED_AREAS)} are managed by the platform; "
                    "register a folder elsewhere in the storage root."
                ]
            }
        )
    return relative, path


def source_prepare(
    *, kind: str, uploads: list[UploadedFile] | None, folder: str | None
) -> tuple[Path, str | None]:
    """(path to inspect, staging folder if we made one) — exactly one source is allowed."""
    if bool(uploads) == bool(folder and folder.strip()):
        raise ValidationError(
            {"files": ["Upload files or an archive, or give a folder — one of the two."]}
        )
    if uploads:
        staging = _staging(kind)
        try:
            _unpack(uploads, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return staging, str(staging)
    assert folder is not None
    return _registered_folder(folder)[1], None
