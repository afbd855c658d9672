from django.contrib import admin

from apps.catalog.models import Dataset, MLApp, MLModel


@admin.register(MLApp)
class MLAppAdmin(admin.ModelAdmin):
    list_display = ["name", "key", "input_kind", "results_filename"]
    readonly_fields = ["key"]


@admin.register(MLModel)
class MLModelAdmin(admin.ModelAdmin):
    list_display = ["name", "ml_app", "visibility", "source_type", "owner", "created_at"]
    list_filter = ["ml_app", "visibility", "source_type"]
    search_fields = ["name"]


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "visibility", "owner", "folder", "sample_count", "created_at"]
    list_filter = ["visibility", "ml_apps"]
    search_fields = ["name"]
