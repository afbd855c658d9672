"""Datasets linked to S3 and read in place, against the session's SeaweedFS server: nothing
is copied, sharded jobs read the objects with ranged GETs and give back every ID in
order, and lost credentials are a sentence that giving them again heals."""

from __future__ import annotations

import csv
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from apps.catalog import s3_import
from apps.catalog.models import Dataset, DatasetImport, ImportStatus
from apps.catalog.services import dataset_delete
from apps.core.storage import storage_root
from apps.exports import secret_store
from apps.jobs.models import JobShard, JobStatus
from tests.conftest import wait_for_job, wait_until
from tests.exports.test_dataset_import import start, wait_import
from tests.factories import make_project, sentiment_job
from tests.worker.test_tables import read_joined, records
from worker.runners.sentiment import VaderRunner

pytestmark = pytest.mark.worker

NOTES = "n" * 6_000  # a wide carried column: the table passes 1 MiB, so shards seek


@pytest.fixture
def linked_bucket(s3_server, catalog):
    name = s3_server.new_bucket()
    rows = [{**row, "notes": NOTES} for row in records()]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    client = s3_server.client()
    client.put_object(Bucket=name, Key="shop/items.csv", Body=buffer.getvalue().encode())
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(records()), sink, row_group_size=50)
    client.put_object(Bucket=name, Key="shop/parquet/items.parquet", Body=sink.getvalue())
    return name


def link(owner, s3_server, bucket, **overrides):
    """Link `shop/` (the import tests' start, with link=True) and wait for the check."""
    arguments = {"name": "linked", "s3_uri": f"s3://{bucket}/shop/",
                 "default_path": "items.csv", "link": True, **overrides}  # fmt: skip
    dataset = start(owner, s3_server, bucket, **arguments)
    imp = wait_import(dataset)
    assert imp.status == ImportStatus.DONE, imp.message
    dataset.refresh_from_db()
    return dataset


def run(owner, dataset, path, **settings):
    slug = path.replace("/", "-")
    job = sentiment_job(
        owner, make_project(owner, f"p-{slug}"), name=f"on-{slug}",
        dataset=dataset, dataset_path=path, settings=settings,
    )  # fmt: skip
    return wait_for_job(job.pk)


def test_sharded_jobs_read_a_linked_prefix_in_place(live_worker, owner, s3_server, linked_bucket):
    dataset = link(owner, s3_server, linked_bucket)

    assert dataset.s3_import.linked and (dataset.sample_count, dataset.data_format) == (240, "csv")
    assert not any((storage_root() / dataset.folder).iterdir()), "a link copies nothing"

    job = run(owner, dataset, "items.csv", id_column="sku", carry_columns=["shop", "notes"],
              joined_output="jsonl", shard_size=60)  # fmt: skip
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert JobShard.objects.filter(job=job).count() == 4
    out = read_joined(storage_root() / job.results_dir / "results_joined.jsonl")
    vader = VaderRunner()
    assert len(out) == 240
    for i, (row, source) in enumerate(zip(out, records(), strict=True)):
        assert (row["index"], row["sku"], row["shop"], row["notes"]) == (
            i, source["sku"], source["shop"], NOTES,
        )  # fmt: skip
        if source["text"].strip():
            ((label, _),) = vader.predict([source["text"]])
            assert row["label"] == label and row["error"] is None
        else:
            assert row["error"] == "empty text"

    job = run(owner, dataset, "parquet/items.parquet", id_column="sku",
              joined_output="parquet", shard_size=100)  # fmt: skip
    assert job.status == JobStatus.COMPLETED, job.error_message
    out = read_joined(storage_root() / job.results_dir / "results_joined.parquet")
    assert [r["sku"] for r in out] == [r["sku"] for r in records()]


def test_lost_credentials_are_a_sentence_and_giving_them_again_heals(
    live_worker, owner, s3_server, linked_bucket, client
):
    dataset = link(owner, s3_server, linked_bucket, name="forgotten")
    client.force_login(owner)
    page = client.get(reverse("catalog:dataset_detail", args=[dataset.pk]))
    assert (
        b"Linked to S3 (read in place)" in page.content and b"Check the link again" in page.content
    )

    secret_store.link_secret_drop(dataset_id=dataset.pk)  # as if Redis had been emptied
    with pytest.raises(ValidationError, match="enter the secret access key again"):
        sentiment_job(owner, make_project(owner, "lost"), dataset=dataset, dataset_path="items.csv")

    s3_import.dataset_import_resume(dataset=dataset, secret_access_key=s3_server.secret_access_key)
    imp = wait_until(
        lambda: DatasetImport.objects.filter(dataset=dataset, status=ImportStatus.DONE).first(),
        timeout=240, what="the link check",
    )  # fmt: skip
    assert imp.linked
    job = run(owner, dataset, "items.csv")
    assert job.status == JobStatus.COMPLETED, job.error_message
    assert (job.done_samples, job.failed_samples) == (234, 6)  # six rows of blank text

    dataset_delete(dataset=dataset)
    assert secret_store.link_secret_get(dataset_id=imp.dataset_id) is None
    assert s3_server.client().head_object(Bucket=linked_bucket, Key="shop/items.csv")


def test_audio_and_wrong_keys_are_refused_when_linking(owner, s3_server, linked_bucket):
    s3_server.client().put_object(Bucket=linked_bucket, Key="talk/a.wav", Body=b"RIFF")
    with pytest.raises(ValidationError, match="Audio files are not read in place"):
        link(owner, s3_server, linked_bucket, s3_uri=f"s3://{linked_bucket}/talk/")
    with pytest.raises(ValidationError) as wrong:
        link(owner, s3_server, linked_bucket, secret_access_key="not-the-secret")
    assert "the Secret Access Key does not belong to" in wrong.value.message_dict["s3_uri"][0]
    assert not Dataset.objects.filter(name="linked").exists()


def test_cli_links_waits_and_gives_the_secret_again(
    live_worker, cli, owner, s3_server, linked_bucket
):
    env = {"AWS_SECRET_ACCESS_KEY": s3_server.secret_access_key}
    result = cli(
        "dataset", "add", "cli-link", "--ml-app", "sentiment-analysis", "--s3",
        f"s3://{linked_bucket}/shop/", "--endpoint-url", s3_server.endpoint,
        "--access-key-id", s3_server.access_key_id, "--path", "items.csv", "--link", "--wait",
        "--json", extra_env=env,
    )  # fmt: skip
    dataset = json.loads(result.stdout)
    assert dataset["s3_import"]["linked"] and dataset["s3_import"]["status"] == "DONE"
    assert dataset["sample_count"] == 240

    secret_store.link_secret_drop(dataset_id=dataset["id"])
    again = cli("dataset", "resume", "cli-link", "--json", extra_env=env)
    assert json.loads(again.stdout)["s3_import"]["status"] in ("QUEUED", "RUNNING", "DONE")
    assert secret_store.link_secret_get(dataset_id=dataset["id"]) == s3_server.secret_access_key

    misuse = cli("dataset", "add", "x", "--ml-app", "sentiment-analysis", "--folder", "a",
                 "--link", check=False)  # fmt: skip
    assert misuse.returncode == 2 and "--link goes with --s3" in misuse.stderr
