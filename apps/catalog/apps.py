from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "apps.catalog"
    label = "catalog"

    def ready(self) -> None:
        # Registers the check that the MLApp rows match the ML App registry.
        from apps.catalog import checks  # noqa: F401
