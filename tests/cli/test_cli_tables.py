"""Table choices through the CLI (a subprocess against a live server and a real worker)
and the REST API: --input-column, --id-column, --carry, the joined download."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apps.catalog.models import Dataset, MLApp, Visibility
from apps.core.storage import storage_root
from tests.factories import make_project

pytestmark = pytest.mark.worker


@pytest.fixture
def tickets(owner):
    dataset = Dataset.objects.create(
        name="tickets",
        visibility=Visibility.PRIVATE,
        owner=owner,
        organization=owner.membership.organization,
        folder="",
    )
    dataset.folder = f"datasets/{dataset.pk}"
    dataset.save(update_fields=["folder"])
    dataset.ml_apps.add(MLApp.objects.get(key="sentiment-analysis"))
    folder = storage_root() / dataset.folder
    folder.mkdir(parents=True)
    rows = {
        "ticket": [9001 + 3 * i for i in range(9)],
        "body": [
            "Thanks, solved quickly!" if i % 2 else "Still broken, terrible" for i in range(9)
        ],
        "team": [f"team-{i % 2}" for i in range(9)],
    }
    pq.write_table(pa.table(rows), folder / "tickets.parquet", row_group_size=4)
    return dataset


def create_args(job: str, *extra: str) -> list[str]:
    return [
        "job", "create", "--project", "tables", "--job", job, "--model-checkpoint",
        "vader-sentiment", "--dataset", "tickets", "--path", "tickets.parquet", *extra,
    ]  # fmt: skip


def test_cli_takes_the_columns_and_downloads_the_joined_file(
    live_worker, cli, owner, tickets, tmp_path
):
    make_project(owner, "tables")
    created = cli(
        *create_args(
            "t1",
            "--input-column",
            "body",
            "--id-column",
            "ticket",
            "--carry",
            "team",
            "--joined-output",
            "csv",
            "--priority",
            "low",
            "--wait",
            "--json",
        )  # fmt: skip
    )
    job = json.loads(created.stdout)
    assert job["status"] == "COMPLETED" and job["joined_file"] == "results_joined.csv"
    assert job["priority"] == "low"
    assert job["settings"]["carry_columns"] == ["team"]

    cli("job", "download", "t1", "--project", "tables", "--joined", "-o", f"{tmp_path}/")
    lines = (tmp_path / "results_joined.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "index,ticket,team,label,score,error"
    assert [line.split(",")[1] for line in lines[1:]] == [str(9001 + 3 * i) for i in range(9)]
    assert lines[1].split(",")[3] == "negative" and lines[2].split(",")[3] == "positive"


def test_cli_names_an_unknown_column_in_one_line(live_worker, cli, owner, tickets):
    make_project(owner, "tables")
    refused = cli(*create_args("t2", "--id-column", "tiket"), check=False)
    assert refused.returncode == 1
    assert "tickets.parquet has no column 'tiket' (its columns: ticket, body, team)" in (
        refused.stderr
    )
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr

    plain = cli(*create_args("t3", "--input-column", "body", "--wait", "--json"))
    job = json.loads(plain.stdout)
    assert job["joined_file"] is None  # no ID column, no joined_output: none written
    missing = cli("job", "download", "t3", "--project", "tables", "--joined", check=False)
    assert missing.returncode == 1 and "has no joined results file" in missing.stderr


def test_api_takes_the_columns_at_the_top_level(live_worker, owner, tickets):
    from django.test import Client

    from apps.accounts.services import api_token_create

    _, token = api_token_create(user=owner, name="t")
    api = Client(headers={"Authorization": f"Bearer {token}"})
    make_project(owner, "tables")
    body = {
        "project": "tables",
        "job": "api-1",
        "model_checkpoint": "vader-sentiment",
        "dataset": "tickets",
        "path": "tickets.parquet",
        "input_column": "body",
        "id_column": "ticket",
        "carry_columns": ["team", "nope"],
    }
    refused = api.post("/api/v1/jobs", body, content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["field"] == "carry_columns"
    assert "no column 'nope'" in refused.json()["message"]

    body["carry_columns"] = ["team"]
    created = api.post("/api/v1/jobs", body, content_type="application/json")
    assert created.status_code == 201, created.json()
    assert created.json()["joined_file"] == "results_joined.jsonl"
    assert created.json()["settings"]["id_column"] == "ticket"
