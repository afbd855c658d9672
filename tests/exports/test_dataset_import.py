"""Datasets from S3 against the session's SeaweedFS server (in this folder for its fixture):
the copy is complete and verified, resumes a part with a ranged GET, refuses bad
credentials in a sentence, and a job runs on the imported table."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from django.core.exceptions import ValidationError

from apps.catalog import s3_import
from apps.catalog.locations import s3_target
from apps.catalog.models import Dataset, DatasetImport, ImportStatus, MLApp
from apps.core.storage import storage_root
from apps.exports import s3
from apps.jobs.models import JobStatus
from tests.conftest import wait_for_job, wait_until
from tests.factories import make_project, sentiment_job

pytestmark = pytest.mark.worker

BIG = 6 * 1024 * 1024  # over the 5 MiB multipart threshold below: an ETag of parts


def table_bytes(rows: int) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["review_id", "text"])
    for i in range(rows):
        writer.writerow([f"R{i:04d}", "Loved it, great value" if i % 2 else "Awful, it broke"])
    return buffer.getvalue().encode()


@pytest.fixture
def bucket(s3_server, catalog):
    """A bucket holding a small prefix: a table, a text file in a sub-folder, a big file
    uploaded in parts, a folder marker and an object outside the prefix."""
    from boto3.s3.transfer import TransferConfig

    name = s3_server.new_bucket()
    client = s3_server.client()
    client.put_object(Bucket=name, Key="data/reviews.csv", Body=table_bytes(40))
    client.put_object(Bucket=name, Key="data/more/notes.txt", Body=b"good\nbad\n")
    client.put_object(Bucket=name, Key="data/empty-folder/", Body=b"")
    client.put_object(Bucket=name, Key="elsewhere.txt", Body=b"not imported\n")
    big = (b"The service was excellent.\n" * (BIG // 27 + 1))[:BIG]
    client.upload_fileobj(
        io.BytesIO(big),
        name,
        "data/big.txt",
        Config=TransferConfig(
            multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024
        ),
    )
    assert "-" in client.head_object(Bucket=name, Key="data/big.txt")["ETag"]
    return name


def start(owner, s3_server, bucket, **overrides):
    arguments = {
        "user": owner,
        "name": "from-s3",
        "ml_apps": [MLApp.objects.get(key="sentiment-analysis")],
        "s3_uri": f"s3://{bucket}/data/",
        "access_key_id": s3_server.access_key_id,
        "secret_access_key": s3_server.secret_access_key,
        "endpoint_url": s3_server.endpoint,
        "default_path": "reviews.csv",
        **overrides,
    }
    return s3_import.dataset_import_start(**arguments)


def wait_import(dataset):
    def ended():
        imp = DatasetImport.objects.get(dataset=dataset)
        return imp if imp.status in (ImportStatus.DONE, ImportStatus.FAILED) else None

    return wait_until(ended, timeout=240, what="the import", every=0.2)


def test_a_prefix_is_copied_verified_and_a_job_runs_on_it(live_worker, owner, s3_server, bucket):
    dataset = start(owner, s3_server, bucket)
    imp = wait_import(dataset)

    assert imp.status == ImportStatus.DONE, imp.message
    assert (imp.objects_done, imp.objects_total) == (3, 3)
    assert imp.bytes_done == imp.bytes_total
    root = storage_root() / dataset.folder
    client = s3_server.client()
    for key, rel in (
        ("data/reviews.csv", "reviews.csv"),
        ("data/more/notes.txt", "more/notes.txt"),
        ("data/big.txt", "big.txt"),
    ):
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256((root / rel).read_bytes()).digest() == hashlib.sha256(body).digest()
    assert not (root / "elsewhere.txt").exists() and not (root / "empty-folder").exists()
    assert not list(root.rglob("*.part"))
    dataset.refresh_from_db()
    assert (dataset.sample_count, dataset.data_format) == (40, "csv")
    # The secret is gone with the import; it never reached the database.
    assert not s3_import.secret_store.redis_client().exists(
        f"{s3_import.secret_store.IMPORT_PREFIX}{imp.pk}"
    )

    job = sentiment_job(
        owner, make_project(owner, "s3"), dataset=dataset, dataset_path="reviews.csv",
        settings={"id_column": "review_id"},
    )  # fmt: skip
    job = wait_for_job(job.pk)
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert job.done_samples == 40


def test_bad_credentials_and_places_are_refused_in_a_sentence(owner, s3_server, bucket):
    with pytest.raises(ValidationError) as wrong_secret:
        start(owner, s3_server, bucket, secret_access_key="not-the-secret")
    assert "s3_uri" in wrong_secret.value.message_dict
    assert (
        "the Secret Access Key does not belong to" in wrong_secret.value.message_dict["s3_uri"][0]
    )
    assert s3_server.secret_access_key not in str(wrong_secret.value)
    with pytest.raises(ValidationError, match="bucket-does-not-exist"):
        start(owner, s3_server, "bucket-does-not-exist")
    with pytest.raises(ValidationError, match="No objects under"):
        start(owner, s3_server, bucket, s3_uri=f"s3://{bucket}/nothing-here/")
    with pytest.raises(ValidationError, match="s3://bucket/prefix"):
        start(owner, s3_server, bucket, s3_uri="https://example.com/data")
    assert not Dataset.objects.filter(name="from-s3").exists()


def test_a_part_resumes_with_a_ranged_get_and_a_bad_part_is_refused(
    owner, s3_server, bucket, tmp_path
):
    imp = DatasetImport(bucket=bucket, prefix="data/", endpoint_url=s3_server.endpoint,
                        access_key_id=s3_server.access_key_id)  # fmt: skip
    target = s3_target(imp)
    client = s3.client_for(target, s3_server.secret_access_key)
    [obj] = [o for o in s3.list_objects(target, s3_server.secret_access_key, limit=10)
             if o.key == "data/reviews.csv"]  # fmt: skip
    whole = table_bytes(40)
    dest = tmp_path / "reviews.csv"

    class Counting(s3_import._Progress):
        def tick(self, force=False):
            pass

    # A part holding the first 100 bytes: only the rest is fetched, the MD5 still checks.
    (tmp_path / ".reviews.csv.part").write_bytes(whole[:100])
    progress = Counting(imp)
    s3_import._copy(client, imp, obj, dest, progress)
    assert dest.read_bytes() == whole and not (tmp_path / ".reviews.csv.part").exists()

    # A part whose bytes differ from the object's: the checksum refuses the copy.
    (tmp_path / ".again.csv.part").write_bytes(b"X" * 100)
    with pytest.raises(s3.S3ExportError, match="did not arrive intact"):
        s3_import._copy(client, imp, obj, tmp_path / "again.csv", Counting(imp))
    assert not (tmp_path / "again.csv").exists() and not (tmp_path / ".again.csv.part").exists()


def test_a_job_waits_for_the_import_and_resume_finishes_it(live_worker, owner, s3_server, bucket):
    dataset = start(owner, s3_server, bucket, name="resumed")
    imp = wait_import(dataset)
    assert imp.status == ImportStatus.DONE, imp.message
    # As if the copy had failed half-way: one file gone, the import marked failed.
    root = storage_root() / dataset.folder
    (root / "big.txt").unlink()
    DatasetImport.objects.filter(pk=imp.pk).update(status=ImportStatus.FAILED, message="x.")
    with pytest.raises(ValidationError, match="Resume it on the dataset's page"):
        sentiment_job(owner, make_project(owner, "wait"), dataset=dataset)

    s3_import.dataset_import_resume(dataset=dataset, secret_access_key=s3_server.secret_access_key)
    imp = wait_import(dataset)
    assert imp.status == ImportStatus.DONE, imp.message
    assert (root / "big.txt").stat().st_size == BIG


def test_cli_imports_and_waits(live_worker, cli, owner, s3_server, bucket):
    env = {"AWS_SECRET_ACCESS_KEY": s3_server.secret_access_key}
    result = cli(
        "dataset", "add", "cli-s3", "--ml-app", "sentiment-analysis", "--s3",
        f"s3://{bucket}/data/reviews", "--endpoint-url", s3_server.endpoint,
        "--access-key-id", s3_server.access_key_id, "--path", "reviews.csv", "--wait", "--json",
        extra_env=env,
    )  # fmt: skip
    dataset = json.loads(result.stdout)
    assert dataset["s3_import"]["status"] == "DONE" and dataset["sample_count"] == 40
    assert s3_server.secret_access_key not in result.stdout + result.stderr

    refused = cli(
        "dataset", "add", "cli-s3-bad", "--ml-app", "sentiment-analysis", "--s3",
        f"s3://{bucket}/data/", "--endpoint-url", s3_server.endpoint, "--access-key-id",
        "nobody", extra_env=env, check=False,
    )  # fmt: skip
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert "nobody" in refused.stderr and "Traceback" not in refused.stderr
