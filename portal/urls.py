from django.urls import include, path, re_path

from . import views
from .api import api

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("workspaces/switch/", views.workspace_switch, name="workspace-switch"),
    path("health/", views.health, name="health"),
    path("settings/", include("portal.settings_urls")),
    path("catalog/", include("catalog.urls")),
    path("workflows/", include("workflows.urls")),
    path("api/v1/", api.urls),
    re_path(r"^api/", views.api_not_found),  # after the API: what it doesn't serve
]

handler400 = "portal.views.error_400"
handler403 = "portal.views.error_403"
handler404 = "portal.views.error_404"
handler500 = "portal.views.error_500"
