from django.urls import path

from . import run_views

run_urlpatterns = [
    path("runs/<int:pk>/", run_views.run_detail, name="run-detail"),
    path("runs/<uuid:uid>/", run_views.run_by_uid, name="run-by-uid"),
    path("runs/<int:pk>/status/", run_views.run_status, name="run-status"),
    path("runs/<int:pk>/input/", run_views.run_submit_input, name="run-submit-input"),
    path("runs/<int:pk>/decision/", run_views.run_decide, name="run-decide"),
    path(
        "runs/<int:pk>/initiator/",
        run_views.run_set_initiator,
        name="run-set-initiator",
    ),
]
