from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.permissions import Permission
from portal.tenancy import require_permission


@require_GET
@require_permission(Permission.VIEW_WORKFLOWS)
def workflow_list(request: HttpRequest) -> HttpResponse:
    # TODO(4): the Workflows page with Run, the Runs tab and pending approvals.
    return render(request, "workflows/workflow_list.html", {"workflows": []})
