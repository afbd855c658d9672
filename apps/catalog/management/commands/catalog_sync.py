from django.core.management.base import BaseCommand

from apps.catalog.services import catalog_sync


class Command(BaseCommand):
    help = "Create or update the ML Apps, built-in models and platform datasets (idempotent)."
    # It is the fix the catalog check (apps.catalog.checks) names: that check must not
    # stop it from running.
    requires_system_checks: list[str] = []

    def handle(self, *args: object, **options: object) -> None:
        counts = catalog_sync()
        self.stdout.write(
            f"Catalog ready: {counts['ml_apps']} ML Apps, {counts['models']} built-in models, "
            f"{counts['datasets']} platform datasets."
        )
