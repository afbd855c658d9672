from django.urls import path

from apps.catalog import item_views, views

app_name = "catalog"
urlpatterns = [
    path("models/", views.model_hub, name="model_hub"),
    path("datasets/", views.dataset_hub, name="dataset_hub"),
    path("models/add/", item_views.model_add_view, name="model_add"),
    path("models/<int:pk>/", item_views.model_detail, name="model_detail"),
    path("models/<int:pk>/delete/", item_views.model_delete_view, name="model_delete"),
    path("datasets/add/", item_views.dataset_add_view, name="dataset_add"),
    path("datasets/<int:pk>/", item_views.dataset_detail, name="dataset_detail"),
    path("datasets/<int:pk>/delete/", item_views.dataset_delete_view, name="dataset_delete"),
]
