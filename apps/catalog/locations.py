"""Where a dataset's files are: its folder under the storage root, or, for a dataset linked
to an S3 prefix, the objects there, read in place (worker.remote).

Every place that opens a dataset path (the job form, planning, shards, previews) asks
here, so a linked dataset is read by the same readers as a local one.
"""

from __future__ import annotations

from apps.catalog.models import Dataset, DatasetImport
from apps.core.storage import relative_parts, safe_join, storage_root
from apps.core.text import shown
from apps.exports import s3, secret_store
from worker.remote import DataPath, RemotePath
from worker.samples import DatasetReadError

MAX_LINKED_OBJECTS = 100_000


def link_of(dataset: Dataset) -> DatasetImport | None:
    """The dataset's S3 link, or None for a dataset with files of its own."""
    return DatasetImport.objects.filter(dataset=dataset, linked=True).first()


def s3_target(link: DatasetImport) -> s3.S3Target:
    return s3.S3Target(
        bucket=link.bucket,
        key=link.prefix,
        access_key_id=link.access_key_id,
        region=link.region,
        endpoint_url=link.endpoint_url,
    )


def linked_root(link: DatasetImport, secret: str) -> RemotePath:
    return RemotePath(s3.S3Store(s3_target(link), secret, limit=MAX_LINKED_OBJECTS))


def _secret(dataset: Dataset, link: DatasetImport) -> str:
    try:
        secret = secret_store.link_secret_get(dataset_id=dataset.pk)
    except secret_store.SecretUnreadableError:
        secret = None
    if secret is None:
        raise DatasetReadError(
            f"The credentials for '{shown(dataset.name)}' ({link.uri}) are no longer held "
            "by this server: enter the secret access key again on the dataset's page."
        )
    return secret


def dataset_root(dataset: Dataset) -> DataPath:
    """The dataset's folder, or its linked prefix (DatasetReadError: credentials gone)."""
    link = link_of(dataset)
    if link is None:
        return storage_root() / dataset.folder
    return linked_root(link, _secret(dataset, link))


def dataset_file(dataset: Dataset, relative: str) -> DataPath:
    """`relative` inside the dataset (it may not exist). UnsafePathError when it would
    leave it (apps.core.storage.relative_parts); DatasetReadError when a linked
    dataset's credentials are gone."""
    root = dataset_root(dataset)
    if not isinstance(root, RemotePath):
        return safe_join(root, relative)
    text = relative_parts(relative).as_posix().strip("/")
    return root / text if text not in ("", ".") else root
