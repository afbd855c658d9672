"""Where a planted secret must never be: the database, Redis (broker messages decoded), the
worker log. Shared by the exports tests and tests/security."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import redis
from django.conf import settings
from django.db import connection


def database_text() -> str:
    """Every row of every table (models, M2M tables, sessions, migrations) as text."""
    lines = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                lines.append(f"{table}: {row!r}")
    return "\n".join(lines)


def database_files() -> bytes:
    """The SQLite files themselves (pages of deleted rows included); empty on PostgreSQL.

    Read by another process: closing any descriptor of the database file in this one would
    drop this process's SQLite locks on it (POSIX locks are per process), and the WAL then
    goes wrong for every connection, the workers' included.
    """
    if connection.vendor != "sqlite":
        return b""
    db = Path(connection.settings_dict["NAME"])
    files = [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-journal")]
    existing = [str(f) for f in files if f.exists()]
    # A journal may go between the listing and the read: what was read is still searched.
    return subprocess.run(["cat", *existing], capture_output=True, check=False).stdout


def redis_client() -> redis.Redis:
    """The test session's Redis, at the socket Celery uses."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("redis+socket://"):
        return redis.Redis(unix_socket_path=urlsplit(url).path, socket_timeout=10)
    return redis.Redis.from_url(url, socket_timeout=10)


def _decoded(value: bytes) -> list[bytes]:
    """A value and, for a kombu message, its base64 body decoded."""
    out = [value]
    try:
        message = json.loads(value)
    except ValueError:
        return out
    if isinstance(message, list) and message:  # the `unacked` hash: [message, exchange, key]
        message = message[0]
    if isinstance(message, dict) and isinstance(message.get("body"), str):
        with contextlib.suppress(ValueError):
            out.append(base64.b64decode(message["body"]))
    return out


def redis_everything() -> tuple[list[bytes], bytes]:
    """(every key, every value of every key, broker message bodies decoded)."""
    r = redis_client()
    keys = list(r.scan_iter(count=1000))
    values: list[bytes] = []
    for key in keys:
        kind = r.type(key)
        if kind == b"string":
            values.append(r.get(key) or b"")
        elif kind == b"list":
            values.extend(r.lrange(key, 0, -1))
        elif kind == b"hash":
            for k, v in r.hgetall(key).items():
                values.extend([k, v])
        elif kind == b"set":
            values.extend(r.smembers(key))
        elif kind == b"zset":
            values.extend(r.zrange(key, 0, -1))
    return keys, b"\n".join(part for value in values for part in _decoded(value))


def worker_log() -> str:
    log = Path(os.environ["RUN_DIR"]) / "worker.log"
    return log.read_text(errors="replace") if log.exists() else ""
