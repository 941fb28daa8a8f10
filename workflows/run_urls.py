from django.urls import path

from . import run_views

run_urlpatterns = [
    path("runs/<id:pk>/", run_views.run_detail, name="run-detail"),
    path("runs/<uuid:uid>/", run_views.run_by_uid, name="run-by-uid"),
    path("runs/<id:pk>/status/", run_views.run_status, name="run-status"),
    path("runs/<id:pk>/input/", run_views.run_submit_input, name="run-submit-input"),
    path("runs/<id:pk>/decision/", run_views.run_decide, name="run-decide"),
    path(
        "runs/<id:pk>/initiator/",
        run_views.run_set_initiator,
        name="run-set-initiator",
    ),
]
