from django.contrib.auth.decorators import login_not_required
from django.urls import URLPattern, URLResolver

from apps.openai_api.api import api


def _token_auth_only(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    # Token auth answers 401 JSON itself, never the login page redirect.
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = login_not_required(pattern.callback)
        else:
            _token_auth_only(pattern.url_patterns)
    return patterns


api_urls, app_name, namespace = api.urls
urlpatterns = _token_auth_only(list(api_urls))
