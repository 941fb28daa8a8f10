"""The run page and what people do on it (forms, approvals)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.permissions import Permission
from portal.tenancy import get_in_workspace, require_permission

from .models import Run


@require_GET
@require_permission(Permission.VIEW_WORKFLOW_RUNS)
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    # TODO(4): forms, approvals, tabs, live updates and Cancel run.
    run = get_in_workspace(
        request, Run.objects.select_related("workflow", "initiator"), pk=pk
    )
    return render(
        request, "workflows/run_detail.html", {"run": run, "steps": run.steps.all()}
    )
