from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import URLPattern, URLResolver, re_path
from django.views.decorators.csrf import csrf_exempt

from apps.api.api import api
from apps.core.text import shown


def token_auth_only(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    # The API answers 401 JSON itself (token auth), never the login page redirect.
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = login_not_required(pattern.callback)
        else:
            token_auth_only(pattern.url_patterns)
    return patterns


@csrf_exempt
def no_such_endpoint(request: HttpRequest, rest: str) -> JsonResponse:
    """Any other address under /api/v1/: the API's JSON 404, not the site's HTML page."""
    message = (
        f"No API endpoint at {shown(request.path)}. The endpoints are listed at "
        "/api/v1/docs (a newer CLI than the server?)."
    )
    return JsonResponse({"message": message, "field": None}, status=404)


api_urls, app_name, namespace = api.urls
urlpatterns = token_auth_only(
    [*api_urls, re_path(r"^(?P<rest>.*)$", no_such_endpoint, name="no_such_endpoint")]
)
