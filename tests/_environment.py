"""Loaded as a pytest plugin (`-p tests._environment`) before pytest-django sets Django up.

Settings (and Celery's broker URL) are read at import time, so the temporary VAR_DIR,
RUN_DIR and STORAGE_ROOT must be in the environment before anything imports them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# A short base path: the redis unix socket path must stay under 107 bytes.
VAR = Path(tempfile.mkdtemp(prefix="bst-"))
os.environ["VAR_DIR"] = str(VAR)
os.environ["RUN_DIR"] = str(VAR / "run")
os.environ["STORAGE_ROOT"] = str(VAR / "storage")
os.environ.pop("REDIS_URL", None)
os.environ["PLAIN_STATIC"] = "1"
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # sync Playwright beside live_server
os.environ["SHARD_STALE_SECONDS"] = "5"
# The webhook receivers of the tests listen on loopback, and a retry comes within seconds
# (tests that check the refusal of private addresses turn the setting off in-process).
os.environ["WEBHOOK_ALLOW_PRIVATE"] = "1"
os.environ["WEBHOOK_RETRY_BASE_SECONDS"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Weights assembled once (the built-in LLM's conversion takes minutes) outlive the session:
# the checkout's own cache, where `make test` prepares them before pytest starts.
os.environ.setdefault(
    "MODEL_CACHE_DIR", str(Path(__file__).resolve().parent.parent / "var" / "model-cache")
)


def pytest_unconfigure(config: object) -> None:
    import shutil

    shutil.rmtree(VAR, ignore_errors=True)
