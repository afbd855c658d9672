import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.catalog.model_cards import (
    SOURCE_HERE,
    CardError,
    cards_save,
    measure,
    platform_models,
)
from worker.runners import ModelLoadError
from worker.synth import EspeakMissing


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
        failed: list[str] = []
        for model in models:
            try:
                card = measure(model, log=lambda line: self.stderr.write(line))
            except (CardError, ModelLoadError, EspeakMissing) as exc:
                # One model that cannot run here (a package or espeak-ng missing) does not
                # keep the others from being measured.
                self.stderr.write(f"{model.name}: not measured: {exc}")
                failed.append(model.name)
                continue
            cards[model.name] = card
            cards_save({model.name: card})
            self.stdout.write(card_line(model.name, card))
        if options["write"]:
            drop = ("source", "here")  # where it was measured is the reader's to say
            shipped = {
                name: {k: v for k, v in c.items() if k not in drop} for name, c in cards.items()
            }
            if options["write"].is_file():  # measuring some models keeps the others' cards
                shipped = {**json.loads(options["write"].read_text()), **shipped}
            options["write"].write_text(json.dumps(shipped, indent=1, sort_keys=True) + "\n")
        self.stdout.write(f"{len(cards)} model card(s) {SOURCE_HERE}.")
        if failed:
            raise CommandError(f"{len(failed)} model(s) not measured: {', '.join(failed)}.")


def card_line(name: str, card: dict[str, Any]) -> str:
    speed = card["speed"]
    line = f"{name}: {speed['samples_per_second']:,} {speed['unit']}/s"
    if card.get("quality"):
        quality = card["quality"]
        line += f", {quality['metric']} {quality['value']:.3f} on {quality['samples']}"
    return line
