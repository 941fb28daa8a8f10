from django.urls import path

from . import settings_views as views

app_name = "settings"
urlpatterns = [
    path("", views.index, name="index"),
    path("members/", views.members, name="members"),
    path("members/add/", views.member_add, name="member-add"),
    path("members/<int:pk>/", views.member_edit, name="member-edit"),
    path("members/<int:pk>/update/", views.member_update, name="member-update"),
    path("members/<int:pk>/remove/", views.member_remove, name="member-remove"),
    path("roles/", views.roles, name="roles"),
    path("roles/add/", views.role_add, name="role-add"),
    path("roles/<int:pk>/", views.role_edit, name="role-edit"),
    path("roles/<int:pk>/update/", views.role_update, name="role-update"),
    path("roles/<int:pk>/delete/", views.role_delete, name="role-delete"),
    path("teams/", views.teams, name="teams"),
    path("teams/add/", views.team_add, name="team-add"),
    path("teams/<int:pk>/", views.team_edit, name="team-edit"),
    path("teams/<int:pk>/update/", views.team_update, name="team-update"),
    path("teams/<int:pk>/delete/", views.team_delete, name="team-delete"),
    path("api-keys/", views.api_keys, name="api-keys"),
    path("api-keys/add/", views.api_key_add, name="api-key-add"),
    path("api-keys/<int:pk>/revoke/", views.api_key_revoke, name="api-key-revoke"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/add/", views.token_add, name="token-add"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("ip-allowlist/", views.ip_allowlist, name="ip-allowlist"),
    path("ip-allowlist/add/", views.ip_allowlist_add, name="ip-allowlist-add"),
    path(
        "ip-allowlist/<int:pk>/remove/",
        views.ip_allowlist_remove,
        name="ip-allowlist-remove",
    ),
]
