from django.contrib import admin

from apps.jobs.models import Job, JobShard


class JobShardInline(admin.TabularInline):
    model = JobShard
    extra = 0
    can_delete = False
    readonly_fields = [f.name for f in JobShard._meta.fields]


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "owner", "ml_app", "status", "done_samples", "created_at"]
    list_filter = ["status", "ml_app"]
    search_fields = ["name", "project__name", "owner__username"]
    inlines = [JobShardInline]
