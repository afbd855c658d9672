"""Adding models and datasets: checks, sharing tiers, deletion rules."""

from __future__ import annotations

import io
import json
import shutil
import uuid
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.catalog.models import MLApp
from apps.catalog.selectors import dataset_preview, datasets_visible_to, models_visible_to
from apps.catalog.services import dataset_add, dataset_delete, model_add, model_delete
from apps.core.storage import storage_root


def _hf_files(arch: str = "BertForSequenceClassification", weights: str = "model.safetensors"):
    return {
        "config.json": json.dumps({"architectures": [arch], "id2label": {"0": "neg", "1": "pos"}}),
        weights: "weights",
        "tokenizer.json": "{}",
    }


def _zip_upload(files: dict[str, str], name: str = "ckpt.zip") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(f"checkpoint/{path}", data)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="application/zip")


@pytest.fixture
def sentiment_app(catalog):
    return MLApp.objects.get(key="sentiment-analysis")


def test_uploaded_hf_checkpoint_is_checked_and_hashed(owner, sentiment_app):
    model = model_add(
        user=owner, name="my-bert", ml_app=sentiment_app, uploads=[_zip_upload(_hf_files())]
    )
    assert model.source == f"models/{model.pk}" and model.source_type == "huggingface"
    assert (storage_root() / model.source / "config.json").exists()
    assert set(model.sha256_manifest) == {"config.json", "model.safetensors", "tokenizer.json"}
    assert all(len(h) == 64 for h in model.sha256_manifest.values())
    assert model.tier_for(owner.pk) == "mine"


def test_pickle_weights_are_refused_and_nothing_kept(owner, sentiment_app):
    files = _hf_files(weights="pytorch_model.bin")
    models_dir = storage_root() / "models"
    models_dir.mkdir(exist_ok=True)
    before = set(models_dir.iterdir())
    with pytest.raises(ValidationError, match="pickled weights"):
        model_add(user=owner, name="pickle", ml_app=sentiment_app, uploads=[_zip_upload(files)])
    assert set(models_dir.iterdir()) == before


def test_architecture_must_suit_the_ml_app(owner, sentiment_app):
    files = _hf_files(arch="BertForTokenClassification")
    with pytest.raises(ValidationError, match="does not suit"):
        model_add(user=owner, name="ner-bert", ml_app=sentiment_app, uploads=[_zip_upload(files)])


@pytest.fixture
def nfs():
    """A folder of its own under the storage root (the NFS case), removed afterwards."""
    root = storage_root() / f"nfs-{uuid.uuid4().hex[:8]}"
    root.mkdir()
    yield root
    shutil.rmtree(root)


def test_registered_folder_is_not_copied_and_must_stay_inside(owner, sentiment_app, nfs):
    folder = nfs / "team" / "bert"
    folder.mkdir(parents=True)
    for name, data in _hf_files().items():
        (folder / name).write_text(data)
    source = f"{nfs.name}/team/bert"
    model = model_add(user=owner, name="nfs-bert", ml_app=sentiment_app, folder=source)
    assert model.source == source
    for managed in ("datasets/1", "results"):  # existing folders, so the rule is what refuses
        (storage_root() / managed).mkdir(parents=True, exist_ok=True)
    (nfs / "escape").symlink_to("/etc")
    refusals = {
        "../outside": "may not contain '..'",
        "/etc": "relative to the storage root, not an absolute path",
        f"{nfs.name}/escape": "leads outside its folder",
        "results": "managed by the platform",
        "datasets/1": "managed by the platform",
        f"{nfs.name}/missing": "is not a folder under the storage root",
    }
    for bad, message in refusals.items():
        with pytest.raises(ValidationError, match=message):
            model_add(user=owner, name=f"bad{len(bad)}", ml_app=sentiment_app, folder=bad)


def test_dataset_upload_detects_format_and_counts(owner, sentiment_app):
    upload = SimpleUploadedFile("reviews.txt", b"great stuff\nawful service\nfine\n")
    dataset = dataset_add(
        user=owner,
        name="reviews",
        ml_apps=[sentiment_app],
        uploads=[upload],
        default_path="reviews.txt",
    )
    assert dataset.sample_count == 3 and dataset.data_format == "lines"
    preview = dataset_preview(dataset)
    assert [s["text"] for s in preview["samples"]] == ["great stuff", "awful service", "fine"]


def test_a_dataset_of_one_file_defaults_to_it_and_reads_its_lines(owner, sentiment_app):
    lone = dataset_add(
        user=owner,
        name="headlines",
        ml_apps=[sentiment_app],
        uploads=[SimpleUploadedFile("headlines.txt", b"Shares jumped.\nThe stock slid.\n")],
    )
    assert lone.default_path == "headlines.txt"
    assert lone.sample_count == 2 and lone.data_format == "lines"
    two = dataset_add(
        user=owner,
        name="two-documents",
        ml_apps=[sentiment_app],
        uploads=[
            SimpleUploadedFile("a.txt", b"First document.\nStill the first.\n"),
            SimpleUploadedFile("b.txt", b"Second document.\n"),
        ],
    )
    assert two.default_path == "" and two.sample_count == 2  # one document a file


def test_dataset_labels_file_is_recognised(owner, catalog):
    app = MLApp.objects.get(key="document-classification")
    files = {"docs/a.txt": "about stars", "docs/b.txt": "about genes", "labels.txt": "astro\nbio\n"}
    dataset = dataset_add(
        user=owner, name="docs", ml_apps=[app], uploads=[_zip_upload(files, "docs.zip")]
    )
    assert dataset.sample_count == 2
    assert dataset_preview(dataset)["labels"] == ["astro", "bio"]


def test_organization_dataset_visible_to_colleague_not_outsider(
    owner, colleague, outsider, sentiment_app
):
    upload = SimpleUploadedFile("t.txt", b"one\ntwo\n")
    shared = dataset_add(
        user=owner,
        name="shared",
        ml_apps=[sentiment_app],
        uploads=[upload],
        visibility="organization",
        default_path="t.txt",
    )
    assert datasets_visible_to(colleague).filter(pk=shared.pk).exists()
    assert shared.tier_for(colleague.pk) == "organization"
    assert not datasets_visible_to(outsider).filter(pk=shared.pk).exists()
    private = model_add(
        user=owner, name="private-bert", ml_app=sentiment_app, uploads=[_zip_upload(_hf_files())]
    )
    assert not models_visible_to(colleague).filter(pk=private.pk).exists()


def test_dataset_in_use_by_an_active_job_cannot_be_deleted(owner, sentiment_app, redis_server):
    from tests.factories import job_row

    upload = SimpleUploadedFile("t.txt", b"good\nbad\n")
    dataset = dataset_add(
        user=owner, name="mine", ml_apps=[sentiment_app], uploads=[upload], default_path="t.txt"
    )
    # A QUEUED job row with no task behind it: no worker can run it during the test.
    job = job_row(owner, name="waiting", status="QUEUED", dataset=dataset, dataset_name="mine")
    with pytest.raises(ValidationError, match="used by queued or running"):
        dataset_delete(dataset=dataset)
    from apps.jobs.services import job_quit

    job_quit(job=job)
    job.refresh_from_db()
    assert job.status == "STOPPED"
    folder = storage_root() / dataset.folder
    dataset_delete(dataset=dataset)
    assert not folder.exists()
    job.refresh_from_db()
    assert job.dataset is None and job.dataset_name == "mine"  # finished job still readable


def test_deleting_a_registered_model_keeps_its_folder(owner, sentiment_app, nfs):
    folder = nfs / "keep"
    folder.mkdir(parents=True)
    for name, data in _hf_files().items():
        (folder / name).write_text(data)
    model = model_add(user=owner, name="keep", ml_app=sentiment_app, folder=f"{nfs.name}/keep")
    model_delete(model=model)
    assert folder.exists()


def test_duplicate_names_and_missing_source(owner, sentiment_app):
    upload = SimpleUploadedFile("t.txt", b"a\n")
    dataset_add(user=owner, name="dup", ml_apps=[sentiment_app], uploads=[upload])
    with pytest.raises(ValidationError, match="already have"):
        dataset_add(
            user=owner,
            name="dup",
            ml_apps=[sentiment_app],
            uploads=[SimpleUploadedFile("t.txt", b"a\n")],
        )
    with pytest.raises(ValidationError, match="one of the two"):
        dataset_add(user=owner, name="none", ml_apps=[sentiment_app])


def test_upload_with_traversal_name_is_sanitised(owner, sentiment_app):
    upload = SimpleUploadedFile("../../escape.txt", b"a\nb\n")
    dataset = dataset_add(user=owner, name="esc", ml_apps=[sentiment_app], uploads=[upload])
    inside = storage_root() / dataset.folder / "escape.txt"
    assert inside.exists()
    # The only file of that name anywhere in the test's var folder (storage, staging
    # folders, run dir) is the one inside the dataset.
    assert sorted(storage_root().parent.rglob("escape.txt")) == [inside]
    assert Path(storage_root() / dataset.folder).is_dir()
