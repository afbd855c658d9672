"""Where an upload's Secret Access Key waits between the web request and the worker.

The design, and why:

- The secret never goes into the database (which is backed up and read by admins) nor into
  the Celery message (the broker keeps messages in plain JSON, and workers log task
  arguments): the message carries only the export id.
- The web process encrypts the secret with Fernet (AES-128-CBC + HMAC-SHA256) under a key
  derived from SECRET_KEY with HKDF, and puts the token in Redis under
  `batchstudio:export-secret:<export id>` with a TTL (EXPORT_SECRET_TTL_SECONDS). A Redis
  dump, a `MONITOR` or a replica sees only ciphertext, useless without SECRET_KEY.
- The worker takes the token with GETDEL, reading and deleting it in one step, as soon as
  it claims the export: from then on the secret lives only in that worker's memory for the
  length of the upload. A second delivery of the same task finds nothing; a secret that no
  worker ever takes expires with its key, and Fernet refuses a token older than the TTL
  even if it were copied somewhere.
- The web server and the workers must share SECRET_KEY (docker-compose passes the same
  one); a worker that cannot decrypt fails the export with a message that says so.
"""

from __future__ import annotations

import base64
import functools
from urllib.parse import urlsplit

import redis
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

KEY_PREFIX = "batchstudio:export-secret:"
# Binds the derived key to this one purpose: the same SECRET_KEY signs sessions too.
_HKDF_INFO = b"batchstudio/exports/s3-secret-access-key/v1"


class SecretUnreadableError(Exception):
    """The stored token does not decrypt with this process's SECRET_KEY."""


def _key(export_id: int) -> str:
    return f"{KEY_PREFIX}{export_id}"


def _fernet() -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        settings.SECRET_KEY.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


@functools.cache
def _client(url: str) -> redis.Redis:
    # Celery's `redis+socket:///path` is redis-py's `unix:///path`.
    if url.startswith("redis+socket://"):
        return redis.Redis(unix_socket_path=urlsplit(url).path, socket_timeout=10)
    return redis.Redis.from_url(url, socket_timeout=10)


def redis_client() -> redis.Redis:
    return _client(settings.REDIS_URL)


def _store(key: str, secret: str, *, expires: bool = True) -> None:
    token = _fernet().encrypt(secret.encode())
    redis_client().set(key, token, ex=settings.EXPORT_SECRET_TTL_SECONDS if expires else None)


def _decrypt(token: bytes | str | None, *, expires: bool = True) -> str | None:
    if token is None:
        return None
    try:
        ttl = settings.EXPORT_SECRET_TTL_SECONDS if expires else None
        return _fernet().decrypt(token, ttl=ttl).decode()
    except InvalidToken as exc:
        raise SecretUnreadableError from exc


def secret_put(*, export_id: int, secret: str) -> None:
    _store(_key(export_id), secret)


def secret_take(*, export_id: int) -> str | None:
    """Read and delete in one step; None when it expired or was already taken."""
    return _decrypt(redis_client().getdel(_key(export_id)))


def secret_waiting(*, export_id: int) -> bool:
    return bool(redis_client().exists(_key(export_id)))


# Dataset imports from S3 (apps.catalog.s3_import) keep their secret for the whole import,
# so a worker that picks a redelivered import up again can go on: read without deleting,
# deleted when the import ends, gone with the TTL otherwise.
IMPORT_PREFIX = "batchstudio:import-secret:"


def import_secret_put(*, import_id: int, secret: str) -> None:
    _store(f"{IMPORT_PREFIX}{import_id}", secret)


def import_secret_get(*, import_id: int) -> str | None:
    return _decrypt(redis_client().get(f"{IMPORT_PREFIX}{import_id}"))


def import_secret_drop(*, import_id: int) -> None:
    redis_client().delete(f"{IMPORT_PREFIX}{import_id}")


# A linked dataset (read in place from S3) needs its secret whenever a job reads it: it
# waits, encrypted as above, for the dataset's life, and is deleted with the dataset. A
# Redis that loses it (flushed, replaced) makes jobs fail with a sentence asking for the
# credentials again on the dataset's page.
LINK_PREFIX = "batchstudio:link-secret:"


def link_secret_put(*, dataset_id: int, secret: str) -> None:
    _store(f"{LINK_PREFIX}{dataset_id}", secret, expires=False)


def link_secret_get(*, dataset_id: int) -> str | None:
    return _decrypt(redis_client().get(f"{LINK_PREFIX}{dataset_id}"), expires=False)


def link_secret_drop(*, dataset_id: int) -> None:
    redis_client().delete(f"{LINK_PREFIX}{dataset_id}")
