"""The one module that talks to S3: boto3 is imported nowhere else.

Uploads results, lists and copies datasets, and reads linked datasets in place (S3Store).

`upload_file` runs a (multipart, for large files) upload with s3transfer in worker threads,
while the caller's thread reports progress about once a second: database writes stay in
the caller's thread and connection, and the caller can cancel. Every expected failure
comes out as `S3ExportError`, whose text a person can act on and which never contains the
secret access key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions as bce
from boto3.s3.transfer import TransferConfig, create_transfer_manager
from botocore.config import Config
from s3transfer.subscribers import BaseSubscriber

from worker.samples import DatasetReadError

DEFAULT_REGION = "us-east-1"


class S3ExportError(Exception):
    """An expected failure (credentials, bucket, region, network): str() is for the user."""


class UploadCancelledError(Exception):
    """The caller asked to stop (its export row went away with the job)."""


@dataclass(frozen=True)
class S3Target:
    bucket: str
    key: str
    access_key_id: str
    region: str = ""
    endpoint_url: str = ""

    @property
    def where(self) -> str:
        host = self.endpoint_url or "AWS S3"
        return f"s3://{self.bucket}/{self.key} ({host})"


def _client(target: S3Target, secret_access_key: str):  # type: ignore[no-untyped-def]
    custom = bool(target.endpoint_url)
    config = Config(
        signature_version="s3v4",
        connect_timeout=10,
        read_timeout=120,
        retries={"max_attempts": 3, "mode": "standard"},
        # S3-compatible stores (SeaweedFS, MinIO, Ceph) expect path-style URLs, and several
        # reject the CRC checksums boto3 adds by default since 1.36.
        s3={"addressing_style": "path" if custom else "auto"},
        request_checksum_calculation="when_required" if custom else "when_supported",
        response_checksum_validation="when_required" if custom else "when_supported",
    )
    try:
        return boto3.session.Session().client(
            "s3",
            region_name=target.region or DEFAULT_REGION,
            endpoint_url=target.endpoint_url or None,
            aws_access_key_id=target.access_key_id,
            aws_secret_access_key=secret_access_key,
            config=config,
        )
    except bce.InvalidRegionError as exc:
        raise S3ExportError(
            f"'{target.region}' is not a valid region name: use the bucket's region code, "
            "such as us-east-1 or eu-west-3."
        ) from exc
    except ValueError as exc:  # botocore's "Invalid endpoint"
        raise S3ExportError(
            f"The endpoint URL '{target.endpoint_url}' is not valid: give it as "
            "https://host[:port]."
        ) from exc


def upload_file(
    *,
    path: Path,
    target: S3Target,
    secret_access_key: str,
    progress: Callable[[int], bool],
    multipart_threshold: int,
    multipart_chunksize: int,
    report_every: float = 1.0,
) -> None:
    """Upload `path` to the target; `progress(bytes_sent)` returns False to cancel."""
    client = _client(target, secret_access_key)
    config = TransferConfig(
        multipart_threshold=multipart_threshold,
        multipart_chunksize=multipart_chunksize,
        max_concurrency=4,
        use_threads=True,
        preferred_transfer_client="classic",
    )
    watch = _Watch()
    manager = create_transfer_manager(client, config)
    try:
        future = manager.upload(str(path), target.bucket, target.key, subscribers=[watch])
        while not future.done():
            if not progress(watch.sent):
                future.cancel()
                raise UploadCancelledError
            watch.finished.wait(report_every)
        future.result()
        progress(watch.sent)
    except (S3ExportError, UploadCancelledError):
        raise
    except Exception as exc:
        message = explain(exc, target)
        if message is None:
            raise
        raise S3ExportError(message) from exc
    finally:
        # Waits for in-flight parts; s3transfer aborts an unfinished multipart upload so no
        # orphan parts stay billed in the bucket.
        manager.shutdown(cancel=True)


class _Watch(BaseSubscriber):  # type: ignore[misc]
    """Counts bytes sent by the transfer threads; wakes the reporting thread when done."""

    def __init__(self) -> None:
        self.sent = 0
        self.finished = threading.Event()
        self._lock = threading.Lock()

    def on_progress(self, future: object, bytes_transferred: int, **kwargs: object) -> None:
        with self._lock:
            self.sent += bytes_transferred

    def on_done(self, future: object, **kwargs: object) -> None:
        self.finished.set()


_CREDENTIALS = {
    "SignatureDoesNotMatch": (
        "S3 rejected the request signature: the Secret Access Key does not belong to "
        "Access Key ID {key_id}. Check the secret (copy it again, without spaces) and retry."
    ),
    "InvalidAccessKeyId": (
        "The Access Key ID {key_id} is not known to {service}. Check the Access Key ID "
        "(and, for an S3-compatible store, the endpoint URL)."
    ),
    "ExpiredToken": "The credentials of Access Key ID {key_id} have expired. Use current ones.",
    "InvalidToken": "The credentials of Access Key ID {key_id} are not valid any more.",
}
_REGION = {
    "AuthorizationHeaderMalformed",
    "PermanentRedirect",
    "IllegalLocationConstraintException",
    "InvalidRegion",
    "301",
}


def explain(exc: BaseException, target: S3Target, *, reading: bool = False) -> str | None:
    """A message a person can act on, or None for what is not an S3 or network problem
    (`reading`: a dataset import, which lists and reads where an export writes)."""
    service = target.endpoint_url or "AWS S3"
    if reading and isinstance(exc, bce.ClientError):
        code = str(exc.response.get("Error", {}).get("Code") or "")
        if code in ("AccessDenied", "AllAccessDisabled", "403"):
            return (
                f"Access denied: Access Key ID {target.access_key_id} may not read "
                f"{target.where}. It needs s3:ListBucket on the bucket and s3:GetObject on "
                "the prefix."
            )
        if code in ("NoSuchKey", "404") and "bucket" not in str(exc).lower():
            return f"{target.where} is gone from the bucket: it was deleted during the import."
    if isinstance(exc, bce.ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code") or meta.get("HTTPStatusCode") or "")
        status = meta.get("HTTPStatusCode")
        if code in _CREDENTIALS:
            return _CREDENTIALS[code].format(key_id=target.access_key_id, service=service)
        if code == "NoSuchBucket" or code == "404" and "bucket" in str(error).lower():
            return (
                f"Bucket '{target.bucket}' does not exist at {service}. Check the bucket "
                "name (bucket names are lowercase) or create the bucket first."
            )
        if code in _REGION:
            actual = error.get("Region") or meta.get("HTTPHeaders", {}).get(
                "x-amz-bucket-region", ""
            )
            hint = f" S3 says it is in {actual}." if actual else ""
            return (
                f"Region '{target.region or DEFAULT_REGION}' was refused for bucket "
                f"'{target.bucket}'.{hint} Set Region to the bucket's region."
            )
        if code == "InvalidBucketName":
            return f"'{target.bucket}' is not a valid bucket name."
        if code in ("AccessDenied", "AllAccessDisabled", "403"):
            return (
                f"Access denied: Access Key ID {target.access_key_id} may not write to "
                f"{target.where}. It needs s3:PutObject on that bucket and folder (and "
                "s3:AbortMultipartUpload for large files)."
            )
        if status and int(status) >= 500 or code in ("SlowDown", "ServiceUnavailable"):
            return f"{service} is unavailable right now ({code}). Try again later."
        detail = str(error.get("Message") or "")
        what = "the request" if reading else "the upload"
        return f"{service} refused {what}: {code}{': ' + detail if detail else ''}."
    if isinstance(exc, bce.SSLError):
        return (
            f"The TLS certificate of {service} was not accepted. Check the endpoint URL "
            "(http:// or https://) and the server's certificate."
        )
    if isinstance(exc, (bce.EndpointConnectionError, bce.ConnectionClosedError)):
        return (
            f"Cannot reach {service}: the connection was refused or dropped. Check the "
            "endpoint URL and that this server's network can reach it."
        )
    if isinstance(exc, (bce.ConnectTimeoutError, bce.ReadTimeoutError)):
        return (
            f"{service} did not answer in time. Check the endpoint URL and the network, "
            "then try again."
        )
    if isinstance(exc, bce.NoCredentialsError | bce.PartialCredentialsError):
        return "Give both an Access Key ID and a Secret Access Key."
    if isinstance(exc, bce.BotoCoreError):
        return f"The {'transfer from' if reading else 'upload to'} {service} failed: {exc}"
    return None


# --- reading (dataset imports) ---------------------------------------------------------


@dataclass(frozen=True)
class S3Object:
    key: str
    size: int
    etag: str  # without quotes; a plain MD5 unless the object was uploaded in parts


def client_for(target: S3Target, secret_access_key: str):  # type: ignore[no-untyped-def]
    return _client(target, secret_access_key)


def list_objects(target: S3Target, secret_access_key: str, *, limit: int) -> list[S3Object]:
    """The objects under `target.key` (a prefix), at most `limit` + 1 (the caller refuses
    more). Raises S3ExportError with a sentence for the user."""
    client = _client(target, secret_access_key)
    found: list[S3Object] = []
    try:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=target.bucket, Prefix=target.key
        )
        for page in pages:
            for item in page.get("Contents", []):
                found.append(S3Object(item["Key"], int(item["Size"]), item["ETag"].strip('"')))
                if len(found) > limit:
                    return found
    except Exception as exc:
        message = explain(exc, target, reading=True)
        if message is None:
            raise
        raise S3ExportError(message) from exc
    return found


def read_object(client: Any, bucket: str, key: str, *, start: int = 0) -> Iterator[bytes]:
    """The object's bytes from `start` on, in 1 MiB pieces (a ranged GET when resuming)."""
    extra = {"Range": f"bytes={start}-"} if start else {}
    body = client.get_object(Bucket=bucket, Key=key, **extra)["Body"]
    try:
        yield from body.iter_chunks(1 << 20)
    finally:
        body.close()


# --- datasets from S3: which objects, and reading them in place ---------------------------


def folder_of(prefix: str) -> str:
    """The folder a dataset prefix names: `data/` for `data/` and for `data/reviews`, so
    both keep `reviews/…` or `reviews.csv` as names inside the dataset."""
    if prefix.endswith("/") or not prefix:
        return prefix
    return prefix.rpartition("/")[0] + "/" if "/" in prefix else ""


def dataset_objects(prefix: str, objects: list[S3Object]) -> list[tuple[S3Object, str]]:
    """The objects that become dataset files, with their names inside the dataset: no
    folder markers, no names that would leave the folder or hold control characters."""
    folder, kept = folder_of(prefix), []
    for obj in objects:
        rel = obj.key[len(folder) :]
        parts = rel.split("/")
        if not rel or rel.endswith("/") or any(p in ("", ".", "..") for p in parts):
            continue
        if any(ord(ch) < 32 for ch in rel):
            continue
        kept.append((obj, rel))
    return kept


READ_ATTEMPTS = 4


def _transient(exc: BaseException) -> bool:
    """A failure that another try may not meet: the network, a throttle or a 5xx."""
    if isinstance(exc, (bce.ConnectionError, bce.HTTPClientError, bce.ReadTimeoutError)):
        return True
    if isinstance(exc, bce.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status >= 500 or exc.response.get("Error", {}).get("Code") == "SlowDown"
    return isinstance(exc, (bce.IncompleteReadError, bce.ResponseStreamingError))


class S3Store:
    """A linked dataset's objects for worker.remote.RemotePath: listed once, read with
    ranged GETs; failures come out as DatasetReadError sentences (the job's error)."""

    def __init__(self, target: S3Target, secret_access_key: str, *, limit: int) -> None:
        self.target, self._limit = target, limit
        self._client = _client(target, secret_access_key)
        self._secret = secret_access_key
        self._folder = folder_of(target.key)
        self._objects: dict[str, int] | None = None

    def _failed(self, exc: Exception) -> Exception:
        message = explain(exc, self.target, reading=True)
        return exc if message is None else DatasetReadError(message)

    def objects(self) -> dict[str, int]:
        if self._objects is None:
            try:
                found = list_objects(self.target, self._secret, limit=self._limit)
            except S3ExportError as exc:
                raise DatasetReadError(str(exc)) from exc
            if len(found) > self._limit:  # never read part of a prefix as if it were all
                raise DatasetReadError(
                    f"More than {self._limit:,} objects under {self.target.where}: link a "
                    "narrower prefix."
                )
            self._objects = {rel: obj.size for obj, rel in dataset_objects(self.target.key, found)}
        return self._objects

    def read(self, key: str, start: int, stop: int) -> bytes:
        """Bytes [start, stop), the GET tried again after a broken connection or a 5xx
        (botocore retries a request, not a body that breaks while it streams)."""
        attempt = 0
        while True:
            try:
                answer = self._client.get_object(
                    Bucket=self.target.bucket,
                    Key=self._folder + key,
                    Range=f"bytes={start}-{stop - 1}",
                )
                with answer["Body"] as body:
                    return bytes(body.read())
            except Exception as exc:
                attempt += 1
                if attempt >= READ_ATTEMPTS or not _transient(exc):
                    raise self._failed(exc) from exc
                time.sleep(0.5 * 2 ** (attempt - 1))

    def uri(self, key: str) -> str:
        return f"s3://{self.target.bucket}/{self._folder}{key}"
