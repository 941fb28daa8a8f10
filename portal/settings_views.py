"""Workspace settings pages: members and roles, teams, API keys, tokens, IP allowlist."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from portal.tenancy import workspace_required


@require_GET
@workspace_required
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "settings/index.html")
