"""Hostile dataset paths, through every door: the wizard's Run job, its live path check, the
REST API and the CLI. Each gets a clear refusal naming the path field, no job is made and
no file appears anywhere."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.accounts.services import api_token_create
from apps.catalog.models import MLApp, MLModel
from apps.jobs.models import Job

# (case, path as the user typed it, what the refusal says: a regex)
HOSTILE_PATHS = [
    ("dotdot", "..", r"may not contain '\.\.'"),
    ("etc-passwd", "../../etc/passwd", r"may not contain '\.\.'"),
    ("backslashes", "..\\..\\etc\\passwd", r"may not contain '\.\.'"),
    ("absolute", "/etc/passwd", r"not an absolute path"),
    ("home", "~/.ssh/id_rsa", r"not an absolute path"),
    ("url-encoded", "%2e%2e/x", r"'%2e%2e/x' does not exist"),  # taken as typed, never decoded
    ("symlinked-file", "leak.txt", r"leads outside its folder"),
    ("symlinked-folder", "escape/secret.txt", r"leads outside its folder"),
    ("very-long", "a" * 5000, r"The path is longer than 1,024 characters\."),
    ("nul-byte", "data.txt\x00.png", r"(?i)nul"),
]
IDS = [case[0] for case in HOSTILE_PATHS]


def _text(html: str) -> str:
    return html.replace("&#x27;", "'").replace("&quot;", '"')


@pytest.fixture
def form_data(project, linked_dataset):
    return {
        "name": "hostile-path",
        "ml_app": MLApp.objects.get(key="sentiment-analysis").pk,
        "model": MLModel.objects.get(name="vader-sentiment").pk,
        "dataset": linked_dataset.pk,
    }


@pytest.mark.parametrize("case,path,refusal", HOSTILE_PATHS, ids=IDS)
def test_wizard_refuses_the_path_next_to_its_field(
    owner_client, project, form_data, files_watch, case, path, refusal
):
    response = owner_client.post(
        f"/projects/{project.pk}/jobs/new/", {**form_data, "dataset_path": path}
    )
    assert response.status_code == 400
    html = _text(response.content.decode())
    error = re.search(r'<p class="error" id="id_dataset_path-error" role="alert">([^<]*)</p>', html)
    assert error and re.search(refusal, error.group(1)), html[:3000]
    assert not Job.objects.exists()
    assert files_watch.new_files() == set()


@pytest.mark.parametrize("case,path,refusal", HOSTILE_PATHS, ids=IDS)
def test_live_path_check_says_why(owner_client, project, form_data, case, path, refusal):
    response = owner_client.get(
        f"/projects/{project.pk}/jobs/new/check-path/",
        {**form_data, "dataset_path": path},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    check = re.search(
        r'<p id="path-check" class="check check-bad"[^>]*>([^<]*)</p>',
        _text(response.content.decode()),
    )
    assert check and re.search(refusal, check.group(1)), response.content[:2000]
    assert "samples" not in check.group(1)


@pytest.mark.parametrize("case,path,refusal", HOSTILE_PATHS, ids=IDS)
def test_api_answers_400_naming_the_path(owner, project, linked_dataset, case, path, refusal):
    api = Client(headers={"Authorization": f"Bearer {api_token_create(user=owner, name='t')[1]}"})
    body = {
        "project": project.name,
        "job": "hostile-path",
        "model_checkpoint": "vader-sentiment",
        "dataset": linked_dataset.name,
        "path": path,
    }
    response = api.post("/api/v1/jobs", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    answer = response.json()
    assert answer["field"] in ("dataset_path", "path"), answer
    assert re.search(refusal, answer["message"]), answer
    assert not Job.objects.exists()


def test_cli_refuses_each_path_in_one_line(cli, project, linked_dataset, files_watch):
    for case, path, refusal in HOSTILE_PATHS:
        if "\x00" in path:
            continue  # no program can pass a NUL byte in its arguments: the OS stops it
        result = cli(
            "job",
            "create",
            "--project",
            project.name,
            "--job",
            "hostile-path",
            "--type",
            "batch_predict",
            "--model-checkpoint",
            "vader-sentiment",
            "--dataset",
            linked_dataset.name,
            "--path",
            path,
            check=False,
        )
        assert result.returncode == 1, (case, result.stdout)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("batchstudio: "), (case, result.stderr)
        assert re.search(refusal, lines[0]) and "(HTTP 400)" in lines[0], (case, lines)
        assert "Traceback" not in result.stderr
    assert not Job.objects.exists()
    assert files_watch.new_files() == set()


# --- settings that name a file: the labels file of document classification ---------------

# (case, labels_file as typed, what the refusal says: a regex). Same messages as the
# dataset path's.
HOSTILE_LABELS = [
    ("etc-passwd", "../../../etc/passwd", r"The path may not contain '\.\.'\."),
    ("absolute", "/etc/passwd", r"Give a path relative to the dataset, not an absolute path\."),
    ("home", "~/labels.txt", r"not an absolute path"),
    ("missing", "topics.txt", r"'topics\.txt' does not exist in the dataset 'labelled-docs'\."),
    ("symlinked", "escape/secret.txt", r"The path leads outside its folder"),
    ("folder", "docs", r"'docs' is a folder; name a file of the dataset\."),
    ("very-long", "a" * 1025, r"The path is longer than 1,024 characters\."),
]
LABEL_IDS = [case[0] for case in HOSTILE_LABELS]


@pytest.fixture
def labelled_dataset(owner, catalog, outside):
    """A classification dataset: docs/, labels.txt, and a link that leads out of it."""
    import os

    from apps.core.storage import storage_root
    from tests.runners.conftest import user_dataset

    files = {"docs/a.txt": b"stars\n", "docs/b.txt": b"genes\n", "labels.txt": b"astro\nbio\n"}
    dataset = user_dataset(owner, "document-classification", files, "labelled-docs")
    os.symlink(outside, storage_root() / dataset.folder / "escape")
    return dataset


@pytest.fixture
def classification_form(project, labelled_dataset):
    return {
        "name": "hostile-labels",
        "ml_app": MLApp.objects.get(key="document-classification").pk,
        "model": MLModel.objects.get(name="all-MiniLM-L6-v2-zero-shot").pk,
        "dataset": labelled_dataset.pk,
        "dataset_path": "docs",
    }


@pytest.mark.parametrize("case,labels_file,refusal", HOSTILE_LABELS, ids=LABEL_IDS)
def test_wizard_refuses_a_labels_file_next_to_its_setting(
    owner_client, project, classification_form, files_watch, case, labels_file, refusal
):
    response = owner_client.post(
        f"/projects/{project.pk}/jobs/new/",
        {**classification_form, "setting_labels_file": labels_file},
    )
    assert response.status_code == 400
    html = _text(response.content.decode())
    error = re.search(
        r'<p class="error" id="id_setting_labels_file-error" role="alert">([^<]*)</p>', html
    )
    assert error and re.search(refusal, error.group(1)), html[:3000]
    assert not Job.objects.exists()
    assert files_watch.new_files() == set()


@pytest.mark.parametrize("case,labels_file,refusal", HOSTILE_LABELS, ids=LABEL_IDS)
def test_api_refuses_a_labels_file_naming_the_setting(
    owner, project, labelled_dataset, case, labels_file, refusal
):
    api = Client(headers={"Authorization": f"Bearer {api_token_create(user=owner, name='t')[1]}"})
    body = {
        "project": project.name,
        "job": "hostile-labels",
        "model_checkpoint": "all-MiniLM-L6-v2-zero-shot",
        "dataset": labelled_dataset.name,
        "path": "docs",
        "settings": {"labels_file": labels_file},
    }
    response = api.post("/api/v1/jobs", body, content_type="application/json")
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["field"] == "settings", answer
    (line,) = answer["errors"]["settings"]
    assert line.startswith("labels_file: ") and re.search(refusal, line), answer
    assert not Job.objects.exists()


def test_the_default_labels_file_must_exist_for_the_built_in_model(owner, project, catalog):
    from django.core.exceptions import ValidationError

    from apps.jobs.services import job_create
    from tests.runners.conftest import user_dataset

    bare = user_dataset(owner, "document-classification", {"docs.txt": b"hello\n"}, "bare")
    with pytest.raises(ValidationError, match=r"labels_file: 'labels\.txt' does not exist in"):
        job_create(
            user=owner,
            project=project,
            name="no-labels",
            ml_app=MLApp.objects.get(key="document-classification"),
            model=MLModel.objects.get(name="all-MiniLM-L6-v2-zero-shot"),
            dataset=bare,
            dataset_path="docs.txt",
        )
    assert not Job.objects.exists()


def test_a_checkpoint_with_its_own_classes_needs_no_labels_file(owner, project, catalog):
    """A Hugging Face checkpoint reads its classes from config.json and ignores the setting:
    a missing labels file is no reason to refuse its job, but a path out still is."""
    from django.core.exceptions import ValidationError

    from apps.catalog.models import Visibility
    from apps.jobs.services import job_create
    from tests.runners.conftest import user_dataset

    app = MLApp.objects.get(key="document-classification")
    checkpoint = MLModel.objects.create(
        name="my-bert",
        ml_app=app,
        owner=owner,
        organization=owner.membership.organization,
        visibility=Visibility.PRIVATE,
        source_type="huggingface",
        source="models/none",
    )
    bare = user_dataset(owner, "document-classification", {"docs.txt": b"hello\n"}, "bare")
    common = {"user": owner, "project": project, "ml_app": app, "model": checkpoint}
    job = job_create(**common, name="own-classes", dataset=bare, dataset_path="docs.txt")
    assert job.settings["labels_file"] == "labels.txt"
    with pytest.raises(ValidationError, match=r"labels_file: The path may not contain '\.\.'"):
        job_create(
            **common,
            name="path-out",
            dataset=bare,
            dataset_path="docs.txt",
            settings={"labels_file": "../../etc/passwd"},
        )


def test_cli_refuses_each_labels_file_in_one_line(cli, project, labelled_dataset, files_watch):
    for case, labels_file, refusal in HOSTILE_LABELS:
        result = cli(
            "job",
            "create",
            "--project",
            project.name,
            "--job",
            "hostile-labels",
            "--type",
            "batch_predict",
            "--model-checkpoint",
            "all-MiniLM-L6-v2-zero-shot",
            "--dataset",
            labelled_dataset.name,
            "--path",
            "docs",
            "--settings",
            f"labels_file={labels_file}",
            check=False,
        )
        assert result.returncode == 1, (case, result.stdout)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("batchstudio: "), (case, result.stderr)
        assert "labels_file" in lines[0] and re.search(refusal, lines[0]), (case, lines)
        assert "(HTTP 400)" in lines[0] and "Traceback" not in result.stderr
    assert not Job.objects.exists()
    assert files_watch.new_files() == set()


def test_api_refuses_lone_surrogates_in_paths_and_labels_files(owner, project, labelled_dataset):
    """JSON may escape a lone surrogate ("\\ud800"); no filesystem name can hold one."""
    api = Client(headers={"Authorization": f"Bearer {api_token_create(user=owner, name='t')[1]}"})
    start = (
        b'{"project": "Hostile", "job": "j", "model_checkpoint": "all-MiniLM-L6-v2-zero-shot", '
        b'"dataset": "labelled-docs", '
    )
    path = api.post(
        "/api/v1/jobs", start + b'"path": "docs\\ud800"}', content_type="application/json"
    )
    assert path.status_code == 400, path.content
    assert path.json() == {"message": "The path must be UTF-8 text.", "field": "path"}
    labels = api.post(
        "/api/v1/jobs",
        start + b'"path": "docs", "settings": {"labels_file": "x\\ud800.txt"}}',
        content_type="application/json",
    )
    assert labels.status_code == 400, labels.content
    assert labels.json()["errors"] == {
        "settings": ["labels_file: The path is not valid UTF-8 text."]
    }
    assert not Job.objects.exists()
