"""Writes of the API itself: idempotency keys for job create.

Payment-API semantics: a key names one request. The same key with the same request
returns the job the first request made (a retry after a lost answer); the same key with a
different request is refused, so a reused key never hands back an unrelated job. Keys
belong to their user: two users may use the same key without seeing each other's jobs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from apps.api.models import IdempotencyKey
from apps.jobs.models import Job
from apps.jobs.selectors import jobs_for_user


class IdempotencyKeyReusedError(Exception):
    """The key was first used for another request."""


def request_hash(data: dict[str, Any]) -> str:
    """SHA-256 of the normalised request: keys in order, text stripped of outer spaces
    (the services strip names and paths too), defaults filled in by the schema."""

    def normal(value: Any) -> Any:
        if isinstance(value, str):
            return value.strip()
        if isinstance(value, dict):
            return {str(k): normal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [normal(v) for v in value]
        return value

    text = json.dumps(normal(data), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def idempotent_job(*, user: Any, key: str, fingerprint: str) -> Job | None:
    """The job an earlier request with this key made, or None if the key is new."""
    earlier = IdempotencyKey.objects.filter(user=user, key=key).first()
    if earlier is None:
        return None
    # Keys stored before requests were hashed have no hash: they keep returning their job.
    if earlier.request_hash and earlier.request_hash != fingerprint:
        raise IdempotencyKeyReusedError("This idempotency key was used for another request.")
    return jobs_for_user(user).get(pk=earlier.job_id)


def idempotency_key_record(*, user: Any, key: str, fingerprint: str, job: Job) -> None:
    """Remember the key (inside the transaction that made the job)."""
    IdempotencyKey.objects.create(user=user, key=key, request_hash=fingerprint, job=job)
