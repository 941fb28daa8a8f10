from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from portal.models import User
from portal.permissions import Permission
from portal.tenancy import get_in_workspace, workspace_required
from workflows.views import (
    IDLE_POLL_SECONDS,
    entity_tiles_unchanged,
    entity_workflows_context,
)

from .models import Entity, EntityType, Group, Team

PAGE_SIZE = 25
DEPLOYS_SHOWN = 5  # on the Overview; the API lists them all


@require_GET
@workspace_required
@vary_on_headers("HX-Request")
def entity_list(request: HttpRequest) -> HttpResponse:
    ws = request.workspace
    q = request.GET.get("q", "").strip()
    entities = (
        Entity.objects.filter(workspace=ws, archived=False)
        .search(q)
        .select_related("type")
        .prefetch_related(
            "groups", Prefetch("owner_teams", Team.objects.only("tag", "name"))
        )
    )
    filters = {"type": "", "group": "", "team": ""}
    if type_tag := request.GET.get("type"):
        entities = entities.filter(type__tag=type_tag)
        filters["type"] = type_tag
    if group_tag := request.GET.get("group"):
        entities = entities.filter(groups__tag=group_tag)
        filters["group"] = group_tag
    if team_tag := request.GET.get("team"):
        entities = entities.filter(owner_teams__tag=team_tag)
        filters["team"] = team_tag
    page = Paginator(entities.distinct(), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "q": q,
        "filters": filters,
        "querystring": query.urlencode(),
        "types": EntityType.objects.filter(workspace=ws),
        "groups": Group.objects.filter(workspace=ws),
        "teams": Team.objects.filter(workspace=ws),
    }
    template = "catalog/entity_list.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#results"
    return render(request, template, context)


def _entity(request: HttpRequest, tag: str) -> Entity:
    qs = Entity.objects.select_related("type").prefetch_related(
        "groups", "owner_teams", Prefetch("owner_users", User.objects.only("email"))
    )
    return get_in_workspace(request, qs, tag=tag)


@require_GET
@workspace_required
def entity_detail(request: HttpRequest, tag: str) -> HttpResponse:
    entity = _entity(request, tag)
    context = {
        "entity": entity,
        "section": "overview",
        "deploys": list(entity.deploys.all()[:DEPLOYS_SHOWN]),
    }
    return render(request, "catalog/entity_detail.html", context)


@require_GET
@workspace_required
@vary_on_headers("HX-Request")
def entity_workflows(request: HttpRequest, tag: str) -> HttpResponse:
    """The workflows that apply to the entity, with Run, and tiles of its recent runs.

    The tiles (`#run-tiles`) keep themselves up to date as the Runs tab does:

    - while one of them is unfinished, the section reloads itself every
      POLL_SECONDS;
    - when they have all ended, a hidden `#run-tiles-poller` asks every
      IDLE_POLL_SECONDS with `since`, the newest run on the entity it shows: the
      answer is 204 (one query on runs) until a run is started on the entity
      (here, elsewhere, or by the API), then the new tiles.
    """
    if Permission.VIEW_WORKFLOW_RUNS in request.ws_perms and entity_tiles_unchanged(
        request, tag
    ):
        return HttpResponse(status=204)
    entity = _entity(request, tag)
    context = {
        "entity": entity,
        "section": "workflows",
        **entity_workflows_context(request, entity),
    }
    tiles = context["tiles"]
    context |= {
        "idle_poll_seconds": IDLE_POLL_SECONDS,
        "idle_poll_url": request.path
        + "?"
        + urlencode({"since": tiles[0].pk if tiles else 0}),
    }
    template = "catalog/entity_detail.html"
    if request.htmx and not request.htmx.history_restore_request:
        template += "#run-tiles"
    return render(request, template, context)
