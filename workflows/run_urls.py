from django.urls import path

from . import run_views

run_urlpatterns = [
    path("runs/<int:pk>/", run_views.run_detail, name="run-detail"),
]
