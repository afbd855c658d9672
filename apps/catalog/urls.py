from django.urls import path

from apps.catalog.views import hubs, imports, items

app_name = "catalog"
urlpatterns = [
    path("models/", hubs.model_hub, name="model_hub"),
    path("datasets/", hubs.dataset_hub, name="dataset_hub"),
    path("models/add/", items.model_add_view, name="model_add"),
    path("models/<int:pk>/", items.model_detail, name="model_detail"),
    path("models/<int:pk>/delete/", items.model_delete_view, name="model_delete"),
    path("datasets/add/", items.dataset_add_view, name="dataset_add"),
    path("datasets/import/", imports.dataset_import_view, name="dataset_import"),
    path("datasets/<int:pk>/", items.dataset_detail, name="dataset_detail"),
    path("datasets/<int:pk>/import/", imports.dataset_import_card, name="dataset_import_card"),
    path(
        "datasets/<int:pk>/import/resume/",
        imports.dataset_import_resume_view,
        name="dataset_import_resume",
    ),
    path("datasets/<int:pk>/delete/", items.dataset_delete_view, name="dataset_delete"),
]
