from apps.api.urls import token_auth_only
from apps.openai_api.api import api

api_urls, app_name, namespace = api.urls
urlpatterns = token_auth_only(list(api_urls))
