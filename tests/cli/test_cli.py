"""The `batchstudio` CLI as a subprocess against a live server and a real worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from apps.catalog.models import Dataset, MLApp, Visibility
from apps.core.storage import storage_root
from apps.jobs.models import Job
from tests.conftest import wait_for_job
from tests.factories import make_project

pytestmark = pytest.mark.worker


def test_login_saves_token_with_mode_0600(cli, tmp_path):
    path = tmp_path / "config" / "batchstudio" / "config.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["token"].startswith("bst_")


def test_reference_job_create_waits_until_completed(live_worker, cli, owner):
    make_project(owner, "cli-project")
    result = cli(
        "job",
        "create",
        "--project",
        "cli-project",
        "--job",
        "cli-job",
        "--type",
        "batch_predict",
        "--model-checkpoint",
        "vader-sentiment",
        "--dataset",
        "finance_sentiment",
        "--path",
        "test.txt",
        "--settings",
        "batch_size=8",
        "--wait",
    )
    assert "COMPLETED" in result.stdout
    job = Job.objects.get(name="cli-job")
    assert job.status == "COMPLETED" and job.settings["batch_size"] == 8
    listing = json.loads(cli("job", "list", "--project", "cli-project", "--json").stdout)
    assert [j["name"] for j in listing] == ["cli-job"]
    info = cli("job", "info", "cli-job", "--project", "cli-project").stdout
    assert "test_results_finance_sentiment.txt" in info


def test_duplicate_job_is_refused_with_nonzero_exit(live_worker, cli, owner):
    make_project(owner, "dup")
    args = (
        "job",
        "create",
        "--project",
        "dup",
        "--job",
        "same",
        "--type",
        "batch_predict",
        "--model-checkpoint",
        "vader-sentiment",
        "--dataset",
        "finance_sentiment",
        "--path",
        "test.txt",
    )
    cli(*args)
    again = cli(*args, check=False)
    assert again.returncode != 0
    assert "Duplicate job" in again.stderr and "Traceback" not in again.stderr
    assert again.stderr.count("\n") == 1  # one line


def test_unknown_model_is_named(live_worker, cli, owner):
    make_project(owner, "p")
    result = cli(
        "job",
        "create",
        "--project",
        "p",
        "--job",
        "x",
        "--type",
        "batch_predict",
        "--model-checkpoint",
        "gpt-17",
        "--dataset",
        "finance_sentiment",
        check=False,
    )
    assert result.returncode == 1 and "gpt-17" in result.stderr


def test_bad_token_gives_a_401_message(cli, live_server, tmp_path):
    env = {**os.environ, "BATCHSTUDIO_HOST": live_server.url, "BATCHSTUDIO_TOKEN": "bst_wrong"}
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "project", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "HTTP 401" in result.stderr and "API token" in result.stderr
    assert "Traceback" not in result.stderr


def _big_dataset(owner, lines: int = 400_000) -> Dataset:
    dataset = Dataset.objects.create(
        name="big",
        visibility=Visibility.PRIVATE,
        owner=owner,
        organization=owner.membership.organization,
        folder="",
    )
    dataset.folder = f"datasets/{dataset.pk}"
    dataset.save()
    dataset.ml_apps.add(MLApp.objects.get(key="sentiment-analysis"))
    folder = storage_root() / dataset.folder
    folder.mkdir(parents=True)
    sentence = "The quarterly results were surprisingly good for investors.\n"
    (folder / "big.txt").write_text(sentence * lines)
    return dataset


def test_stop_and_delete_a_running_job(live_worker, cli, owner):
    make_project(owner, "long")
    _big_dataset(owner)
    created = json.loads(
        cli(
            "job",
            "create",
            "--project",
            "long",
            "--job",
            "long-job",
            "--type",
            "batch_predict",
            "--model-checkpoint",
            "vader-sentiment",
            "--dataset",
            "big",
            "--path",
            "big.txt",
            "--json",
        ).stdout
    )
    wait_for_job(created["id"], statuses=("RUNNING",))
    stopped = json.loads(cli("job", "stop", str(created["id"]), "--wait", "--json").stdout)
    assert stopped["status"] == "STOPPED"
    assert 0 < stopped["done_samples"] < 400_000
    results = storage_root() / "results" / str(created["id"])
    kept = (results / "test_results_big.txt").read_text().splitlines()
    assert len(kept) == stopped["done_samples"]
    refused = cli("job", "delete", str(created["id"]), check=False, input="")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert Job.objects.filter(pk=created["id"]).exists()
    cli("job", "delete", str(created["id"]), "--yes")
    assert not Job.objects.filter(pk=created["id"]).exists()
    assert not results.exists()


def test_dataset_add_uploads_a_folder_and_a_job_runs_on_it(live_worker, cli, owner, tmp_path):
    folder = tmp_path / "my-reviews"
    folder.mkdir()
    (folder / "reviews.txt").write_text("I love it\nTerrible, broken on arrival\n")
    added = json.loads(
        cli(
            "dataset",
            "add",
            "reviews",
            "--ml-app",
            "sentiment-analysis",
            "--file",
            str(folder),
            "--path",
            "reviews.txt",
            "--json",
        ).stdout
    )
    assert added["sample_count"] == 2 and added["tier"] == "mine"
    make_project(owner, "mine")
    job = json.loads(
        cli(
            "job",
            "create",
            "--project",
            "mine",
            "--job",
            "r",
            "--type",
            "batch_predict",
            "--model-checkpoint",
            "vader-sentiment",
            "--dataset",
            "reviews",
            "--wait",
            "--json",
        ).stdout
    )
    assert job["status"] == "COMPLETED"
    lines = (storage_root() / "results" / str(job["id"]) / "test_results_reviews.txt").read_text()
    assert lines == "0\tpositive\n1\tnegative\n"
    refused = cli(
        "dataset",
        "add",
        "bad",
        "--ml-app",
        "sentiment-analysis",
        "--folder",
        "../../etc",
        check=False,
    )
    assert refused.returncode == 1 and "'..'" in refused.stderr


def test_download_matches_the_file_and_resumes(live_worker, cli, owner, tmp_path):
    make_project(owner, "dl")
    job = json.loads(
        cli(
            "job",
            "create",
            "--project",
            "dl",
            "--job",
            "d",
            "--type",
            "batch_predict",
            "--model-checkpoint",
            "vader-sentiment",
            "--dataset",
            "finance_sentiment",
            "--wait",
            "--json",
        ).stdout
    )
    on_disk = (storage_root() / "results" / str(job["id"]) / job["results_file"]).read_bytes()
    out = tmp_path / "whole.txt"
    cli("job", "download", str(job["id"]), "-o", str(out))
    assert out.read_bytes() == on_disk
    # An interrupted download leaves a .part file; the next run asks (HTTP Range) for the
    # rest only. The part's own bytes are kept as they are, so a part of 100 "X"s shows
    # that only bytes 100 onwards came from the server.
    resumed = tmp_path / "resumed.txt"
    (tmp_path / "resumed.txt.part").write_bytes(b"X" * 100)
    answer = json.loads(
        cli("job", "download", "d", "--project", "dl", "-o", str(resumed), "--json").stdout
    )
    assert answer["resumed_from"] == 100 and answer["bytes"] == len(on_disk)
    assert resumed.read_bytes() == b"X" * 100 + on_disk[100:]
    assert not (tmp_path / "resumed.txt.part").exists()
    # A real partial download resumes into the very file; a complete part is only renamed.
    for kept in (on_disk[:100], on_disk):
        resumed.unlink()
        (tmp_path / "resumed.txt.part").write_bytes(kept)
        answer = json.loads(cli("job", "download", "d", "--project", "dl", "-o", str(resumed),
                                "--json").stdout)  # fmt: skip
        assert answer["resumed_from"] == len(kept) and resumed.read_bytes() == on_disk
    # A part longer than the file cannot be a piece of it: the download starts again.
    (tmp_path / "resumed.txt.part").write_bytes(on_disk + b"stale")
    answer = json.loads(
        cli("job", "download", "d", "--project", "dl", "-o", str(resumed), "--json").stdout
    )
    assert answer["resumed_from"] == 0 and resumed.read_bytes() == on_disk
    zipped = tmp_path / "all.zip"
    cli("job", "download", str(job["id"]), "--zip", "-o", str(zipped))
    import zipfile

    names = zipfile.ZipFile(zipped).namelist()
    assert any(n.endswith(job["results_file"]) for n in names)
    assert any(n.endswith("summary.json") for n in names)


def test_catalog_lists_show_apps_models_and_datasets(cli, catalog):
    apps = cli("app", "list").stdout
    assert "sentiment-analysis" in apps and "RESULTS_FILENAME" in apps.splitlines()[0]
    models = json.loads(cli("model", "list", "--ml-app", "sentiment-analysis", "--json").stdout)
    assert {m["name"] for m in models} >= {"vader-sentiment"}
    assert all(m["ml_app"] == "sentiment-analysis" for m in models)
    table = cli("model", "list", "--ml-app", "named-entity-recognition").stdout
    assert "spacy-en-core-web-sm" in table and "vader-sentiment" not in table
    datasets = cli("dataset", "list", "--ml-app", "sentiment-analysis").stdout
    assert "finance_sentiment" in datasets and "news_ner" not in datasets
    assert datasets.splitlines()[0].split()[:3] == ["ID", "NAME", "ML_APPS"]


def test_text_generation_through_the_cli_shows_tokens(live_worker, cli, owner):
    make_project(owner, "prompts")
    created = cli(
        "job", "create", "--project", "prompts", "--job", "answers", "--model-checkpoint",
        "qwen2.5-coder-1.5b-instruct", "--dataset", "instructions", "--settings",
        "max_new_tokens=8", "--settings", "max_samples=2", "--settings", "stop=\\n\\n|###",
        "--wait", "--json",
    )  # fmt: skip
    job = json.loads(created.stdout)
    assert job["status"] == "COMPLETED" and job["done_samples"] == 2
    assert job["settings"]["stop"] == ["\n\n", "###"]
    assert 0 < job["generated_tokens"] <= 16 and job["tokens_per_second"] > 0
    info = cli("job", "info", "answers", "--project", "prompts").stdout
    assert "predictions.jsonl" in info and "tokens_per_second" in info
