from __future__ import annotations

from apps.catalog.models import Dataset, MLApp, MLModel
from apps.catalog.services import catalog_sync
from apps.core.storage import storage_root
from worker.runners.registry import PLUGINS


def _catalog_rows() -> dict[str, list[tuple]]:
    return {
        "apps": list(MLApp.objects.order_by("pk").values_list("pk", "key", "settings_schema")),
        "models": list(MLModel.objects.order_by("pk").values_list("pk", "name", "ml_app_id")),
        "datasets": list(
            Dataset.objects.order_by("pk").values_list("pk", "name", "folder", "sample_count")
        ),
    }


def test_catalog_sync_is_idempotent_and_creates_the_six_ml_apps(transactional_db):
    catalog_sync()
    first = _catalog_rows()
    catalog_sync()
    # The rows themselves, not the counts catalog_sync returns (those come from code).
    assert _catalog_rows() == first
    assert len(first["models"]) == sum(len(p.builtin_models) for p in PLUGINS)
    assert set(MLApp.objects.values_list("key", flat=True)) == {
        "speech-recognition",
        "document-classification",
        "named-entity-recognition",
        "sentiment-analysis",
        "text-generation",
        "text-embeddings",
    }
    assert MLModel.objects.filter(name="vader-sentiment").count() == 1
    dataset = Dataset.objects.get(name="finance_sentiment")
    assert dataset.sample_count == 40
    assert (storage_root() / dataset.folder / "test.txt").exists()
    schema = MLApp.objects.get(key="sentiment-analysis").settings_schema
    assert {"batch_size", "max_samples", "error_threshold"} <= {f["name"] for f in schema}


def test_ensure_admin_creates_one_admin_with_a_random_password(db, capsys):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("ensure_admin")
    out = capsys.readouterr().out
    user = get_user_model().objects.get(username="admin")
    password = out.split("password: ")[1].split()[0]
    assert user.is_superuser and user.check_password(password) and len(password) >= 12
    assert user.membership.role == "admin"
    call_command("ensure_admin")
    assert "exists already" in capsys.readouterr().out
    assert get_user_model().objects.filter(is_superuser=True).count() == 1
