"""Datasets from S3: the web request lists the prefix and queues the import; a worker copies
the objects into the dataset's folder, streaming, resumable and checksum-verified.

- The secret access key is never stored: it waits encrypted in Redis for the import's
  duration (apps.exports.secret_store), as for results uploads.
- Resumable: each object is written to a hidden `.<name>.part` (readers skip hidden files,
  so half an object is never read as data) and renamed once verified; a finished object is
  noted in `.s3-import.json` with its ETag, so an import started again (after a failure, a
  worker restart, or a Resume) skips what it has and continues a part with a ranged GET.
- Verified: an object uploaded in one piece has its MD5 as ETag, compared with the bytes
  written; one uploaded in parts (ETag `…-N`) is checked by size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from apps.catalog.locations import linked_root, s3_target
from apps.catalog.models import Dataset, DatasetImport, ImportStatus, MLApp, Visibility
from apps.catalog.services import check_item_common, dataset_row_create
from apps.core.storage import UnsafePathError, relative_parts, safe_join, storage_root
from apps.core.text import shown
from apps.exports import s3, secret_store
from apps.exports.forms import BUCKET_RE
from worker import dispatch
from worker.readers import AUDIO_EXTS, DatasetReadError, count_samples
from worker.reasons import library_reason
from worker.remote import DataPath

log = logging.getLogger(__name__)

MAX_OBJECTS = 100_000
MANIFEST = ".s3-import.json"
PROGRESS_SECONDS = 1.0
STALE_SECONDS = 120  # a RUNNING import without a heartbeat this long may be taken over
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_URI = re.compile(r"^s3://([^/]+)/?(.*)$")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket/prefix`; ValidationError keyed s3_uri otherwise."""
    match = _URI.match(uri.strip())
    bucket = match.group(1) if match else ""
    if not match or not BUCKET_RE.match(bucket) or ".." in bucket:
        raise ValidationError(
            {"s3_uri": ["Give the data's place as s3://bucket/prefix (a lowercase bucket name)."]}
        )
    return bucket, match.group(2)


@sensitive_variables("secret")
def _secret_put(imp: DatasetImport, secret: str) -> None:
    if imp.linked:  # held for the dataset's life: jobs read the objects
        secret_store.link_secret_put(dataset_id=imp.dataset_id, secret=secret)
    else:
        secret_store.import_secret_put(import_id=imp.pk, secret=secret)


def _secret_get(imp: DatasetImport) -> str | None:
    try:
        if imp.linked:
            return secret_store.link_secret_get(dataset_id=imp.dataset_id)
        return secret_store.import_secret_get(import_id=imp.pk)
    except secret_store.SecretUnreadableError:
        return None


@sensitive_variables("secret_access_key")
def dataset_import_start(
    *,
    user: Any,
    name: str,
    ml_apps: list[MLApp],
    s3_uri: str,
    access_key_id: str,
    secret_access_key: str,
    region: str = "",
    endpoint_url: str = "",
    visibility: str = Visibility.PRIVATE,
    description: str = "",
    default_path: str = "",
    link: bool = False,
) -> Dataset:
    """List the prefix (refusing what cannot be read, in a sentence) and queue the copy,
    or with `link`, the count of the objects that jobs will then read in place."""
    name = check_item_common(user=user, name=name, visibility=visibility, model_cls=Dataset)
    if not ml_apps:
        raise ValidationError({"ml_apps": ["Choose at least one ML App this dataset serves."]})
    bucket, prefix = parse_s3_uri(s3_uri)
    target = s3.S3Target(bucket, prefix, access_key_id, region, endpoint_url)
    try:
        objects = s3.list_objects(target, secret_access_key, limit=MAX_OBJECTS)
    except s3.S3ExportError as exc:
        raise ValidationError({"s3_uri": [str(exc)]}) from exc
    if len(objects) > MAX_OBJECTS:
        raise ValidationError(
            {
                "s3_uri": [
                    f"More than {MAX_OBJECTS:,} objects under {target.where}: import a "
                    "narrower prefix."
                ]
            }  # fmt: skip
        )
    wanted = s3.dataset_objects(prefix, objects)
    if not wanted:
        raise ValidationError({"s3_uri": [f"No objects under s3://{bucket}/{prefix}."]})
    if link and any(Path(rel).suffix.lower() in AUDIO_EXTS for _, rel in wanted):
        raise ValidationError(
            {"s3_uri": ["Audio files are not read in place: import this prefix instead."]}
        )
    with transaction.atomic():
        dataset = dataset_row_create(
            user=user,
            name=name,
            ml_apps=ml_apps,
            visibility=visibility,
            description=description,
            default_path=default_path,
        )
        dataset.folder = f"datasets/{dataset.pk}"
        dataset.save(update_fields=["folder"])
        imp = DatasetImport.objects.create(
            dataset=dataset,
            bucket=bucket,
            prefix=prefix,
            endpoint_url=endpoint_url,
            region=region,
            access_key_id=access_key_id,
            linked=link,
            objects_total=len(wanted),
            bytes_total=sum(obj.size for obj, _ in wanted),
        )
        (storage_root() / dataset.folder).mkdir(parents=True, exist_ok=True)
        _secret_put(imp, secret_access_key)
        dispatch.send_on_commit(dispatch.DATASET_IMPORT, imp.pk)
    return dataset


@sensitive_variables("secret_access_key")
def dataset_import_resume(*, dataset: Dataset, secret_access_key: str) -> DatasetImport:
    """Start a failed import again where it stopped (the copied objects are kept); for a
    linked dataset, take the credentials again (say, after Redis lost them) and check."""
    imp = DatasetImport.objects.filter(dataset=dataset).first()
    if imp is None:
        raise ValidationError(f"The dataset '{shown(dataset.name)}' was not imported from S3.")
    if imp.status != ImportStatus.FAILED and not (imp.linked and not imp.is_active):
        raise ValidationError(
            f"The import of '{shown(dataset.name)}' is {imp.get_status_display().lower()}: "
            "only a failed import is resumed."
        )
    _secret_put(imp, secret_access_key)
    DatasetImport.objects.filter(pk=imp.pk).update(status=ImportStatus.QUEUED, message="")
    dispatch.send(dispatch.DATASET_IMPORT, imp.pk)
    imp.refresh_from_db()
    return imp


def import_problem(dataset: Dataset) -> str | None:
    """Why a job cannot read this dataset yet (an import under way or failed), or None."""
    imp = DatasetImport.objects.filter(dataset=dataset).first()
    if imp is None or imp.status == ImportStatus.DONE:
        return None
    if imp.status == ImportStatus.FAILED:
        return (
            f"The import of '{shown(dataset.name)}' from {imp.uri} failed ({imp.message}) "
            "Resume it on the dataset's page."
        )
    return (
        f"The dataset '{shown(dataset.name)}' is still being imported from {imp.uri} "
        f"({imp.progress_percent} %): run the job once it is ready."
    )


# --- the worker's side -------------------------------------------------------------------


class _Stopped(Exception):
    """The dataset was deleted while its import ran."""


def _claim(import_id: int) -> DatasetImport | None:
    stale = timezone.now() - timedelta(seconds=STALE_SECONDS)
    claimed = DatasetImport.objects.filter(pk=import_id, status=ImportStatus.QUEUED).update(
        status=ImportStatus.RUNNING, heartbeat_at=timezone.now()
    ) or DatasetImport.objects.filter(
        pk=import_id, status=ImportStatus.RUNNING, heartbeat_at__lt=stale
    ).update(heartbeat_at=timezone.now())
    if not claimed:
        return None
    return DatasetImport.objects.select_related("dataset").get(pk=import_id)


def _finish(imp: DatasetImport, status: str, message: str = "", **fields: Any) -> None:
    DatasetImport.objects.filter(pk=imp.pk).update(
        status=status, message=message, finished_at=timezone.now(), **fields
    )
    if status == ImportStatus.DONE and not imp.linked:
        secret_store.import_secret_drop(import_id=imp.pk)


class _Progress:
    def __init__(self, imp: DatasetImport) -> None:
        self.pk, self.done, self.objects, self._at = imp.pk, 0, 0, 0.0

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._at < PROGRESS_SECONDS:
            return
        self._at = now
        updated = DatasetImport.objects.filter(pk=self.pk).update(
            bytes_done=self.done, objects_done=self.objects, heartbeat_at=timezone.now()
        )
        if not updated:
            raise _Stopped


def _copy(
    client: Any, imp: DatasetImport, obj: s3.S3Object, dest: Path, progress: _Progress
) -> None:
    part = dest.with_name(f".{dest.name}.part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    start = part.stat().st_size if part.exists() else 0
    if start > obj.size:
        part.unlink()
        start = 0
    md5 = hashlib.md5(usedforsecurity=False)
    if start:  # resumed: the bytes already there count towards the checksum
        with part.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                md5.update(chunk)
    progress.done += start
    with part.open("ab") as fh:
        if start < obj.size:
            for chunk in s3.read_object(client, imp.bucket, obj.key, start=start):
                fh.write(chunk)
                md5.update(chunk)
                progress.done += len(chunk)
                progress.tick()
    size = part.stat().st_size
    plain = _MD5.match(obj.etag)
    if size != obj.size or (plain and md5.hexdigest() != obj.etag):
        part.unlink(missing_ok=True)
        raise s3.S3ExportError(
            f"s3://{imp.bucket}/{obj.key} did not arrive intact ({size:,} of {obj.size:,} "
            "bytes, or a checksum that differs from its ETag); the copy was removed: resume "
            "the import to fetch it again."
        )
    os.replace(part, dest)


def _manifest(root: Path) -> dict[str, str]:
    try:
        data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _manifest_write(root: Path, manifest: dict[str, str]) -> None:
    tmp = root / f"{MANIFEST}.tmp"
    tmp.write_text(json.dumps(manifest), encoding="utf-8")
    os.replace(tmp, root / MANIFEST)


def _copy_all(imp: DatasetImport, target: s3.S3Target, secret: str) -> DataPath:
    """Copy the objects that are not here yet; the dataset's default path."""
    root = storage_root() / imp.dataset.folder
    progress = _Progress(imp)
    wanted = s3.dataset_objects(imp.prefix, s3.list_objects(target, secret, limit=MAX_OBJECTS))
    DatasetImport.objects.filter(pk=imp.pk).update(
        objects_total=len(wanted), bytes_total=sum(o.size for o, _ in wanted)
    )
    client = s3.client_for(target, secret)
    manifest = _manifest(root)
    for obj, rel in wanted:
        dest = safe_join(root, rel)
        if (
            manifest.get(obj.key) != obj.etag
            or not dest.is_file()
            or dest.stat().st_size != obj.size
        ):
            _copy(client, imp, obj, dest, progress)
            manifest[obj.key] = obj.etag
            _manifest_write(root, manifest)
        else:
            progress.done += obj.size
        progress.objects += 1
        progress.tick()
    progress.tick(force=True)
    return safe_join(root, imp.dataset.default_path)


def _link_check(imp: DatasetImport, secret: str) -> DataPath:
    """A linked dataset copies nothing: list the objects (the count follows, read in
    place); the dataset's default path among them."""
    root = linked_root(imp, secret)
    sizes = root.store.objects()
    total = sum(sizes.values())
    updated = DatasetImport.objects.filter(pk=imp.pk).update(
        objects_total=len(sizes),
        objects_done=len(sizes),
        bytes_total=total,
        bytes_done=total,
        heartbeat_at=timezone.now(),
    )
    if not updated:
        raise _Stopped
    default = relative_parts(imp.dataset.default_path).as_posix().strip("/")
    return root / default if default not in ("", ".") else root


def dataset_import_run(*, import_id: int) -> str | None:
    """Copy every object of an import (see the module's docstring), or check a link; the
    final status."""
    imp = _claim(import_id)
    if imp is None:
        return None
    secret = _secret_get(imp)
    if secret is None:
        lost = "The credentials were lost" if imp.linked else "The credentials expired"
        _finish(imp, ImportStatus.FAILED, f"{lost} before the check ended: enter them again.")
        return ImportStatus.FAILED
    target = s3_target(imp)
    try:
        place = _link_check(imp, secret) if imp.linked else _copy_all(imp, target, secret)
        info = count_samples(place)
    except _Stopped:
        return None
    except (s3.S3ExportError, DatasetReadError, UnsafePathError) as exc:
        _finish(imp, ImportStatus.FAILED, str(exc))
        return ImportStatus.FAILED
    except OSError as exc:
        reason = library_reason(exc, default="the disk refused it")
        _finish(imp, ImportStatus.FAILED, f"Could not write the dataset's files: {reason}.")
        return ImportStatus.FAILED
    except Exception as exc:
        message = s3.explain(exc, target, reading=True)
        if message is None:
            log.exception("import %s failed", imp.pk)
            message = f"Internal error in the worker ({type(exc).__name__}); see its log."
        _finish(imp, ImportStatus.FAILED, message)
        return ImportStatus.FAILED
    Dataset.objects.filter(pk=imp.dataset_id).update(
        sample_count=info.count, data_format=info.data_format
    )
    _finish(imp, ImportStatus.DONE)
    return ImportStatus.DONE
