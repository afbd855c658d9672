from django.core.management.base import BaseCommand

from worker.runners import llm


class Command(BaseCommand):
    help = (
        "Join the built-in LLM's weight parts and convert them for CTranslate2, once per "
        "machine (a few minutes the first time; a no-op after)."
    )
    requires_system_checks: list[str] = []

    def handle(self, *args: object, **options: object) -> None:
        folder = llm.prepare(log_to=self.stdout.write)
        self.stdout.write(f"Built-in LLM ready in {folder}.")
