"""Issue 8: a tiny random-weight Hugging Face checkpoint uploaded through the Add-a-model
page is checked, stored, and runs a real job; a pickle-only one is refused."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.catalog.models import MLApp, MLModel
from apps.core.storage import storage_root
from tests.conftest import wait_for_job
from tests.factories import sentiment_job
from tests.runners.conftest import checkpoint_polarity, finance_sentences

pytestmark = pytest.mark.worker


def _zip_folder(folder: Path) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, f"{folder.name}/{path.relative_to(folder)}")
    return SimpleUploadedFile(f"{folder.name}.zip", buffer.getvalue())


def test_uploaded_checkpoint_runs_a_sentiment_job(live_worker, owner, client, checkpoints):
    client.force_login(owner)
    app = MLApp.objects.get(key="sentiment-analysis")
    response = client.post(
        "/hub/models/add/",
        {
            "name": "tiny-bert",
            "ml_app": app.pk,
            "visibility": "private",
            "files": [_zip_folder(checkpoints["sentiment"])],
        },
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    model = MLModel.objects.get(name="tiny-bert")
    assert model.source_type == "huggingface" and "model.safetensors" in model.sha256_manifest
    job = wait_for_job(sentiment_job(owner, model=model, name="tiny").pk)
    assert job.status == "COMPLETED", job.error_message
    assert job.done_samples == 40
    # The uploaded checkpoint is the model that ran: its labels are that checkpoint's own
    # (a fall-back to VADER would give VADER's), and the summary names it.
    folder = storage_root() / job.results_dir
    labels = [line.split("\t")[1] for line in (folder / job.results_filename).open()]
    labels = [label.strip() for label in labels]
    expected = checkpoint_polarity(checkpoints["sentiment"], finance_sentences())
    assert labels == expected
    vader = wait_for_job(sentiment_job(owner, job.project, name="vader").pk)
    vader_labels = [
        line.split("\t")[1].strip()
        for line in (storage_root() / vader.results_dir / vader.results_filename).open()
    ]
    assert labels != vader_labels  # so the comparison above can tell the two apart
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["model"] == "tiny-bert", summary["model"]


def test_pickle_only_checkpoint_is_refused_on_upload(owner, client, catalog, checkpoints):
    client.force_login(owner)
    app = MLApp.objects.get(key="sentiment-analysis")
    response = client.post(
        "/hub/models/add/",
        {
            "name": "pickled",
            "ml_app": app.pk,
            "visibility": "private",
            "files": [_zip_folder(checkpoints["pickled"])],
        },
    )
    assert response.status_code == 400
    assert "pickled weights (pytorch_model.bin)" in response.content.decode()
    assert not MLModel.objects.filter(name="pickled").exists()
