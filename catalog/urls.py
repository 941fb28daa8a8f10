from django.urls import path

from . import views

app_name = "catalog"
urlpatterns = [
    path("", views.entity_list, name="entity-list"),
    path("<str:tag>/", views.entity_detail, name="entity-detail"),
    path("<str:tag>/workflows/", views.entity_workflows, name="entity-workflows"),
]
