from django.urls import path

from apps.catalog import views

app_name = "catalog"
urlpatterns = [
    path("models/", views.model_hub, name="model_hub"),
    path("datasets/", views.dataset_hub, name="dataset_hub"),
]
