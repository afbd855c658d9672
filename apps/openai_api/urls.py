from django.http import HttpRequest, JsonResponse
from django.urls import re_path
from django.views.decorators.csrf import csrf_exempt

from apps.api.urls import token_auth_only
from apps.core.text import shown
from apps.openai_api.api import api
from apps.openai_api.errors import error_body


@csrf_exempt
def no_such_endpoint(request: HttpRequest, rest: str) -> JsonResponse:
    """Any other address under /openai/v1/: OpenAI's JSON 404, not the site's HTML page
    (an OpenAI client reads the error's message)."""
    message = (
        f"No endpoint at {shown(request.path)}. BatchStudio serves files, batches and models; "
        "they are listed at /openai/v1/docs."
    )
    return JsonResponse(error_body(404, message), status=404)


api_urls, app_name, namespace = api.urls
urlpatterns = token_auth_only(
    [*api_urls, re_path(r"^(?P<rest>.*)$", no_such_endpoint, name="no_such_endpoint")]
)
