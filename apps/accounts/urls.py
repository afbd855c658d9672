from django.urls import path

from apps.accounts import views

app_name = "accounts"
urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token_revoke"),
    path("organization/", views.organization, name="organization"),
    path("organization/members/<int:pk>/remove/", views.member_remove, name="member_remove"),
    path("organization/members/<int:pk>/limit/", views.member_limit, name="member_limit"),
]
