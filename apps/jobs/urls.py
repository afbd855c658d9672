from django.urls import path

from apps.jobs import views

app_name = "jobs"
urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("projects/<int:project_pk>/jobs/new/", views.job_new, name="new"),
    path("jobs/<int:pk>/", views.job_detail, name="detail"),
    path("jobs/<int:pk>/quit/", views.job_quit_view, name="quit"),
    path("jobs/<int:pk>/delete/", views.job_delete_view, name="delete"),
]
