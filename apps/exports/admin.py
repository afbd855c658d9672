from django.contrib import admin

from apps.exports.models import ResultsExport


@admin.register(ResultsExport)
class ResultsExportAdmin(admin.ModelAdmin):
    list_display = ["job", "user", "bucket", "folder", "status", "size_bytes", "created_at"]
    list_filter = ["status"]
