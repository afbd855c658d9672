from django.apps import AppConfig


class OpenAIApiConfig(AppConfig):
    name = "apps.openai_api"
    label = "openai_api"
    verbose_name = "OpenAI-compatible Batch API"

    def ready(self) -> None:
        from apps.openai_api import receivers  # noqa: F401  (connects the job_ended receiver)
