from __future__ import annotations

from django.conf import settings
from django.db import models


class IdempotencyKey(models.Model):
    """A client's retry key for job create, scoped to its user.

    The same key with the same request returns the first job; the same key with another
    request is refused (payment-API semantics), so a reused key never hands back an
    unrelated job. `request_hash` is the SHA-256 of the normalised request.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    # Empty for keys stored before requests were hashed: those still return their job.
    request_hash = models.CharField(max_length=64, blank=True, default="")
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.key} → job {self.job_id}"
