from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from apps.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="accounts/login.html"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("account/", include("apps.accounts.urls")),
    path("api/v1/", include(("apps.api.urls", "api"), namespace="api")),
    path("openai/v1/", include(("apps.openai_api.urls", "openai"), namespace="openai")),
    path("projects/", include("apps.projects.urls")),
    path("hub/", include("apps.catalog.urls")),
    path("", include("apps.jobs.urls")),
    path("", include("apps.exports.urls")),
    path("", include("apps.webhooks.urls")),
]
