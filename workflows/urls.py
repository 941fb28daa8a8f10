"""Workflow pages. The run page and its actions live in run_urls.py (own module).

`new`, `runs` and `notifications` come before `<tag>/`, so they are reserved
tags (descriptor.RESERVED_TAGS).
"""

from django.urls import path

from . import views
from .run_urls import run_urlpatterns

app_name = "workflows"
urlpatterns = [
    path("", views.workflow_list, name="workflow-list"),
    path("new/", views.workflow_create, name="workflow-create"),
    path("runs/", views.run_list, name="run-list"),
    path("runs/<id:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("notifications/", views.notifications, name="notifications"),
    path("<str:tag>/", views.workflow_detail, name="workflow-detail"),
    path("<str:tag>/run/", views.workflow_run, name="workflow-run"),
    path("<str:tag>/edit/", views.workflow_edit, name="workflow-edit"),
    path("<str:tag>/yaml/", views.workflow_yaml, name="workflow-yaml"),
    path("<str:tag>/export/", views.workflow_export, name="workflow-export"),
    path("<str:tag>/access/", views.workflow_access, name="workflow-access"),
    path("<str:tag>/delete/", views.workflow_delete, name="workflow-delete"),
] + run_urlpatterns
