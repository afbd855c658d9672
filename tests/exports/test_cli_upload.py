"""`batchstudio job upload` against the real S3-compatible server."""

from __future__ import annotations

import hashlib
import json

import pytest

from tests.exports.conftest import results_file

pytestmark = pytest.mark.worker


def test_cli_upload_reads_the_secret_from_the_environment(cli, s3_server, finished_job):
    bucket = s3_server.new_bucket()
    args = (
        "job",
        "upload",
        str(finished_job.pk),
        "--bucket",
        bucket,
        "--folder",
        "runs",
        "--access-key-id",
        s3_server.access_key_id,
        "--region",
        "us-east-1",
        "--endpoint-url",
        s3_server.endpoint,
        "--wait",
        "--json",
    )
    result = cli(*args, extra_env={"AWS_SECRET_ACCESS_KEY": s3_server.secret_access_key})
    export = json.loads(result.stdout)
    assert export["status"] == "COMPLETED", export
    body = s3_server.client().get_object(Bucket=bucket, Key=export["object_key"])["Body"].read()
    assert (
        hashlib.sha256(body).digest()
        == hashlib.sha256(results_file(finished_job).read_bytes()).digest()
    )
    history = json.loads(cli("job", "exports", str(finished_job.pk), "--json").stdout)
    assert [e["id"] for e in history] == [export["id"]]
    # Without the variable and without a terminal, the CLI refuses instead of prompting.
    refused = cli(*args, check=False, extra_env={"AWS_SECRET_ACCESS_KEY": ""}, input="")
    assert refused.returncode == 1 and "AWS_SECRET_ACCESS_KEY" in refused.stderr
