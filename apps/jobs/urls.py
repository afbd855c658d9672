from django.urls import path

from apps.jobs.views import dashboard, window, wizard

app_name = "jobs"
urlpatterns = [
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("projects/<int:project_pk>/jobs/new/", wizard.job_new, name="new"),
    path(
        "projects/<int:project_pk>/jobs/new/check-name/", wizard.job_name_check, name="check_name"
    ),
    path(
        "projects/<int:project_pk>/jobs/new/check-path/", wizard.job_path_check, name="check_path"
    ),
    path("jobs/<int:pk>/", window.job_detail, name="detail"),
    path("jobs/<int:pk>/row/", dashboard.job_row, name="row"),
    path("jobs/<int:pk>/preview/", window.job_preview, name="preview"),
    path("jobs/<int:pk>/quit/", window.job_quit_view, name="quit"),
    path("jobs/<int:pk>/delete/", window.job_delete_view, name="delete"),
]
