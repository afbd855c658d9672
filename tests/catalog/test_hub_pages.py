"""Add / view / delete models and datasets through the pages."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.catalog.models import Dataset, MLApp, MLModel


def _checkpoint_zip(weights: str = "model.safetensors") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "ckpt/config.json", json.dumps({"architectures": ["BertForSequenceClassification"]})
        )
        archive.writestr(f"ckpt/{weights}", "w")
        archive.writestr("ckpt/vocab.txt", "[PAD]\n")
    return SimpleUploadedFile("ckpt.zip", buffer.getvalue())


@pytest.fixture
def sentiment(catalog):
    return MLApp.objects.get(key="sentiment-analysis")


def test_add_model_page_checks_and_lands_on_the_model_page(owner_client, sentiment):
    response = owner_client.post(
        "/hub/models/add/",
        {
            "name": "my-bert",
            "ml_app": sentiment.pk,
            "visibility": "organization",
            "files": [_checkpoint_zip()],
        },
    )
    model = MLModel.objects.get(name="my-bert")
    assert response.status_code == 302 and response["Location"] == f"/hub/models/{model.pk}/"
    page = owner_client.get(response["Location"]).content.decode()
    assert "config.json" in page
    assert "<dt>Group</dt><dd>My models (Organization)</dd>" in page


def test_pickled_checkpoint_is_refused_with_the_reason(owner_client, sentiment):
    response = owner_client.post(
        "/hub/models/add/",
        {
            "name": "bad",
            "ml_app": sentiment.pk,
            "visibility": "private",
            "files": [_checkpoint_zip("pytorch_model.bin")],
        },
    )
    assert response.status_code == 400
    assert "pickled weights" in response.content.decode()
    assert not MLModel.objects.filter(name="bad").exists()


def test_add_dataset_page_counts_and_previews(owner_client, sentiment):
    response = owner_client.post(
        "/hub/datasets/add/",
        {
            "name": "reviews",
            "ml_apps": [sentiment.pk],
            "visibility": "private",
            "files": [SimpleUploadedFile("r.txt", b"nice\nbad\nok\n")],
            "default_path": "r.txt",
        },
    )
    dataset = Dataset.objects.get(name="reviews")
    assert response["Location"] == f"/hub/datasets/{dataset.pk}/"
    page = owner_client.get(response["Location"]).content.decode()
    assert 'data-testid="sample-count">3<' in page and "r.txt line 2" in page


def test_private_items_answer_404_to_others(owner_client, colleague, outsider, sentiment):
    from django.test import Client

    owner_client.post(
        "/hub/datasets/add/",
        {
            "name": "secret",
            "ml_apps": [sentiment.pk],
            "visibility": "private",
            "files": [SimpleUploadedFile("s.txt", b"x\n")],
        },
    )
    dataset = Dataset.objects.get(name="secret")
    for user in (colleague, outsider):
        client = Client()
        client.force_login(user)
        assert client.get(f"/hub/datasets/{dataset.pk}/").status_code == 404
        assert client.post(f"/hub/datasets/{dataset.pk}/delete/").status_code == 404
        assert "secret" not in client.get("/hub/datasets/").content.decode()
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_owner_deletes_a_dataset(owner_client, sentiment):
    owner_client.post(
        "/hub/datasets/add/",
        {
            "name": "gone",
            "ml_apps": [sentiment.pk],
            "visibility": "private",
            "files": [SimpleUploadedFile("g.txt", b"x\n")],
        },
    )
    dataset = Dataset.objects.get(name="gone")
    assert owner_client.get(f"/hub/datasets/{dataset.pk}/delete/").status_code == 405
    assert owner_client.post(f"/hub/datasets/{dataset.pk}/delete/").status_code == 302
    assert not Dataset.objects.filter(pk=dataset.pk).exists()


def test_hub_page_searches_and_links_to_items(owner_client, sentiment):
    body = owner_client.get("/hub/models/?hub_q=vader").content.decode()
    assert "vader-sentiment" in body and 'href="/hub/models/' in body
    assert "vader-sentiment" not in owner_client.get("/hub/models/?hub_q=zzz").content.decode()
    assert 'data-testid="add-model"' in body


def test_owner_deletes_a_model_and_an_in_use_dataset_is_refused(owner_client, owner, sentiment):
    from tests.factories import job_row

    owner_client.post(
        "/hub/models/add/",
        {
            "name": "bye",
            "ml_app": sentiment.pk,
            "visibility": "private",
            "files": [_checkpoint_zip()],
        },
    )
    model = MLModel.objects.get(name="bye")
    response = owner_client.post(f"/hub/models/{model.pk}/delete/")
    assert response["Location"] == "/hub/models/"
    assert not MLModel.objects.filter(pk=model.pk).exists()
    owner_client.post(
        "/hub/datasets/add/",
        {
            "name": "busy",
            "ml_apps": [sentiment.pk],
            "visibility": "private",
            "files": [SimpleUploadedFile("b.txt", b"x\n")],
            "default_path": "b.txt",
        },
    )
    dataset = Dataset.objects.get(name="busy")
    # A RUNNING job row with no task behind it: no worker can finish it during the test.
    job_row(owner, name="busy-job", status="RUNNING", dataset=dataset, dataset_name="busy")
    response = owner_client.post(f"/hub/datasets/{dataset.pk}/delete/", follow=True)
    assert "used by queued or running job" in response.content.decode()
    assert Dataset.objects.filter(pk=dataset.pk).exists()
