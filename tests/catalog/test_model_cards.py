"""Model cards: `manage.py model_cards` measures platform models on this machine and the
Model Hub shows the cards; `catalog_sync` puts the shipped cards on fresh rows."""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from apps.catalog import model_cards
from apps.catalog.models import MLModel, Visibility
from apps.catalog.services import catalog_sync
from tests.runners.test_vader_finance import LABELLED, accuracy, labelled
from worker.runners import vader_finance


def platform_model(name: str) -> MLModel:
    return MLModel.objects.get(name=name, visibility=Visibility.PLATFORM)


def test_the_command_measures_speed_and_quality(catalog, tmp_path, capsys):
    shipped = tmp_path / "cards.json"
    call_command("model_cards", "vader-finance", "spacy-en-core-web-sm", write=shipped)
    card = platform_model("vader-finance").card
    assert card["source"] == model_cards.SOURCE_HERE
    assert card["licence"].startswith("MIT") and "Apache-2.0" in card["licence"]
    assert card["speed"]["unit"] == "texts" and card["speed"]["samples_per_second"] > 100
    # The same figure as the model scored directly on the tests' labelled set.
    expected = accuracy(vader_finance.analyzer(), labelled(LABELLED))
    assert card["quality"] == {
        "metric": "accuracy",
        "value": round(expected, 3),
        "set": model_cards.LABELLED["sentiment-analysis"].name,
        "samples": 96,
    }
    (held_out,) = card["quality_also"]  # the set never used to write the rules
    assert held_out["samples"] == 64 and 0.5 < held_out["value"] < card["quality"]["value"]
    ner = platform_model("spacy-en-core-web-sm").card["quality"]
    assert ner["metric"] == "span F1" and 0.5 < ner["value"] <= 1 and ner["samples"] == 45
    out = capsys.readouterr().out
    assert "vader-finance: " in out and "accuracy 0.9" in out
    written = json.loads(shipped.read_text())
    assert set(written) == {"vader-finance", "spacy-en-core-web-sm"}
    assert "source" not in written["vader-finance"]  # where it was measured is the reader's
    assert "here" not in written["vader-finance"] and card["here"] is True


def test_an_unknown_model_is_refused_with_a_sentence(catalog):
    with pytest.raises(CommandError, match="No platform model named nope"):
        call_command("model_cards", "nope")


def test_a_model_that_cannot_run_here_does_not_stop_the_others(catalog, monkeypatch, capsys):
    measure = model_cards.measure

    def flaky(model, log):
        if model.name == "vader-sentiment":
            raise model_cards.CardError("The labelled set x.tsv is missing.")
        return measure(model, log)

    monkeypatch.setattr("apps.catalog.management.commands.model_cards.measure", flaky)
    with pytest.raises(CommandError, match=r"1 model\(s\) not measured: vader-sentiment\."):
        call_command("model_cards", "vader-sentiment", "vader-finance")
    assert (
        "vader-sentiment: not measured: The labelled set x.tsv is missing."
        in capsys.readouterr().err
    )
    assert platform_model("vader-finance").card["here"] is True


def test_shipped_cards_fill_rows_until_measured_here(catalog, tmp_path, monkeypatch):
    shipped = tmp_path / "cards.json"
    card = {"what": "w", "licence": "MIT", "speed": {"samples_per_second": 5, "unit": "texts"}}
    shipped.write_text(json.dumps({"vader-sentiment": card, "spacy-en-core-web-md": card}))
    monkeypatch.setattr(model_cards, "SHIPPED", shipped)
    MLModel.objects.filter(name="spacy-en-core-web-md").update(
        card={**card, "source": model_cards.SOURCE_HERE, "licence": "measured"}
    )
    catalog_sync()
    expected = {**card, "source": model_cards.SOURCE_SHIPPED, "here": False}
    assert platform_model("vader-sentiment").card == expected
    assert platform_model("spacy-en-core-web-md").card["licence"] == "measured"


def test_the_hub_and_the_model_page_show_the_card(catalog, owner_client):
    call_command("model_cards", "vader-finance")
    model = platform_model("vader-finance")
    hub = owner_client.get("/hub/models/").content.decode()
    row = hub[hub.index("vader-finance") :]
    line = row[row.index('data-testid="model-card-line"') :].split("</small>")[0]
    assert "texts/s" in line and "accuracy 0.906" in line and "MIT" in line
    page = owner_client.get(f"/hub/models/{model.pk}/").content.decode()
    assert 'data-testid="model-card"' in page
    assert "tests/data/sentiment_labelled.tsv" in page and "measured on this server" in page


def test_every_platform_model_states_its_licence():
    from worker.runners.registry import PLUGINS

    for plugin in PLUGINS:
        for builtin in plugin.builtin_models:
            assert builtin.licence, builtin.name


def test_the_api_and_the_cli_list_the_cards(catalog, cli):
    call_command("model_cards", "vader-finance")
    models = json.loads(cli("model", "list", "--ml-app", "sentiment-analysis", "--json").stdout)
    by_name = {m["name"]: m for m in models}
    card = by_name["vader-finance"]["card"]
    assert card["quality"]["metric"] == "accuracy" and card["source"] == model_cards.SOURCE_HERE
    assert by_name["vader-finance"]["description"].startswith("VADER with the SentiBigNomics")
    table = cli("model", "list", "--ml-app", "sentiment-analysis").stdout.splitlines()
    assert table[0].split()[-2:] == ["SPEED", "QUALITY"]
    row = next(line for line in table if line.split()[1] == "vader-finance")
    assert "texts/s" in row and "accuracy 0.906" in row
