"""Workflow pages. The run page and its actions live in run_urls.py (own module)."""

from django.urls import path

from . import views
from .run_urls import run_urlpatterns

app_name = "workflows"
urlpatterns = [
    path("", views.workflow_list, name="workflow-list"),
] + run_urlpatterns
