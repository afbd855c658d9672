import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.catalog.model_cards import SOURCE_HERE, cards_save, measure, platform_models


class Command(BaseCommand):
    help = (
        "Measure the platform models' cards on this machine (speed through the worker's "
        "runner, quality on the labelled sets in tests/data) and show them in the Model Hub. "
        "A few minutes with the LLM and Whisper; name models to measure only those."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("models", nargs="*", help="platform model names (default: all)")
        parser.add_argument(
            "--write", type=Path, help="also write the cards to this JSON file (to ship them)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            models = platform_models(options["models"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        cards: dict[str, dict[str, Any]] = {}
        for model in models:
            card = measure(model, log=lambda line: self.stderr.write(line))
            cards[model.name] = card
            cards_save({model.name: card})
            self.stdout.write(card_line(model.name, card))
        if options["write"]:
            shipped = {
                name: {k: v for k, v in c.items() if k != "source"} for name, c in cards.items()
            }
            if options["write"].is_file():  # measuring some models keeps the others' cards
                shipped = {**json.loads(options["write"].read_text()), **shipped}
            options["write"].write_text(json.dumps(shipped, indent=1, sort_keys=True) + "\n")
        self.stdout.write(f"{len(cards)} model card(s) {SOURCE_HERE}.")


def card_line(name: str, card: dict[str, Any]) -> str:
    speed = card["speed"]
    line = f"{name}: {speed['samples_per_second']:,} {speed['unit']}/s"
    if card.get("quality"):
        quality = card["quality"]
        line += f", {quality['metric']} {quality['value']:.3f} on {quality['samples']}"
    return line
