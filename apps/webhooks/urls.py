from django.urls import path

from apps.webhooks import views

app_name = "webhooks"
urlpatterns = [
    path("projects/<int:pk>/webhooks/", views.webhook_add_view, name="add"),
    path(
        "projects/<int:pk>/webhooks/<int:webhook_id>/delete/",
        views.webhook_delete_view,
        name="delete",
    ),
]
