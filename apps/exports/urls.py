from django.urls import path

from apps.exports import views

app_name = "exports"
urlpatterns = [
    path("jobs/<int:pk>/results/", views.results_page, name="results"),
    path("jobs/<int:pk>/results/download/", views.results_download, name="download"),
    path("jobs/<int:pk>/results/panel/", views.results_panel, name="panel"),
    path("jobs/<int:pk>/exports/", views.export_create, name="create"),
    path("jobs/<int:pk>/exports/history/", views.export_history, name="history"),
]
