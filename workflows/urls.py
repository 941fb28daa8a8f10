from django.urls import path

from . import views

app_name = "workflows"
urlpatterns = [
    path("", views.workflow_list, name="workflow-list"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
]
