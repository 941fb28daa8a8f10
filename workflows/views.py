"""Workflow pages: the Workflows page and its Runs tab, a workflow's page, its
editors, the Run dialogs (Confirm, Select an entity), Cancel run and notifications.

The run page and what people do on it live in run_views.py.

Dialogs are ordinary pages: with htmx they come back as a <dialog> that opens
as a modal (see static/workflows/workflows.js); without JavaScript the same
URL renders a full page, so every action works from a plain link and form.

Who may do what:

- The Workflows page and a workflow's page need VIEW_WORKFLOWS; drafts are
  only visible to members with EDIT_WORKFLOWS (a 404 for the others).
- Run needs `permissions.may_run`; an entity workflow runs only on the
  entities `permissions.entities_for` lists (services.run_start checks both).
- Creating, editing, the Access dialog and deleting need EDIT_WORKFLOWS.
- The Runs tab needs VIEW_WORKFLOW_RUNS.
- Cancel run (`may_cancel_run`): members with EDIT_WORKFLOW_RUNS cancel any
  run; the person who started a run may cancel it while they may run
  workflows (EXECUTE_WORKFLOW_RUNS).
"""

from dataclasses import dataclass
from datetime import datetime, time

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, trigger_client_event

from catalog.models import Entity, Team
from portal.middleware import said_above_the_page
from portal.models import Membership, User
from portal.permissions import Permission
from portal.search import contains_text
from portal.tenancy import get_in_workspace, require_permission

from . import descriptor as descriptor_lib
from . import engine, services
from .integrations import missing_integrations
from .models import (
    Decision,
    Notification,
    Run,
    RunStatus,
    Step,
    Workflow,
    WorkflowVersion,
)
from .permissions import (
    Runner,
    entities_for,
    may_cancel_as,
    may_run,
    visible_workflows,
    why_not_on,
)
from .selectors import version_field, with_version_name
from .workflow_forms import (
    AccessForm,
    DescriptorForm,
    RunFilterForm,
    WorkflowCreateForm,
    WorkflowImportForm,
    WorkflowSettingsForm,
)

P = Permission
WORKFLOWS_PAGE_SIZE = 25
RUNS_PAGE_SIZE = 25
ENTITY_CHOICES = 20  # entities listed in Select an entity; search for the others
RECENT_RUNS = 5
WAITING_SHOWN = 20
ENTITY_RUN_TILES = 8
POLL_SECONDS = 3  # the Runs tab and run tiles while a run on them is unfinished
IDLE_POLL_SECONDS = 10  # the Runs tab when all its runs have ended: any new one?

# What a runs table needs from each row; the run state and secrets stay behind:
_HEAVY_RUN_FIELDS = (
    "state",
    "cursor",
    "secrets_blob",
    "initial_context",
    "response",
    "notification_recipients",
    "workflow__description",
    "entity__description",
    "entity__descriptor",
)


# Helpers


def _is_htmx(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.history_restore_request


def _frame(request: HttpRequest) -> str:
    """Dialogs: a <dialog> for htmx, else a page of their own."""
    if _is_htmx(request):
        return "workflows/dialog_frame.html"
    return "workflows/page_frame.html"


def _next_url(request: HttpRequest, name: str = "next") -> str:
    """The local URL in parameter `name` (GET or POST), or ""."""
    target = request.POST.get(name) or request.GET.get(name) or ""
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def _workflow(request: HttpRequest, tag: str, *, edit: bool = False) -> Workflow:
    """The workflow if the member may see it (404 if not); 403 for edits without
    EDIT_WORKFLOWS."""
    qs = visible_workflows(request.workspace, request.ws_perms).select_related(
        "current_version__created_by"
    )
    workflow = get_object_or_404(qs, tag=tag)
    if edit and P.EDIT_WORKFLOWS not in request.ws_perms:
        raise PermissionDenied
    return workflow


def _save(request: HttpRequest, descriptor: dict) -> Workflow:
    workflow, _ = services.workflow_upsert(
        workspace=request.workspace, descriptor=descriptor, created_by=request.user
    )
    return workflow


def _save_to(request: HttpRequest, workflow: Workflow, descriptor: dict) -> Workflow:
    """Save a new version of the workflow being edited (raises
    services.WorkflowChanged when it was renamed or deleted meanwhile)."""
    return services.workflow_save(
        workflow=workflow, descriptor=descriptor, created_by=request.user
    )


def may_cancel_run(run: Run, *, user: User, perms: frozenset[str]) -> bool:
    """Whether `user` may cancel `run` now (see the module docstring)."""
    return run.can_be_cancelled and may_cancel_as(run, user=user, perms=perms)


def _runs(request: HttpRequest) -> QuerySet[Run]:
    return with_version_name(
        Run.objects.filter(workspace=request.workspace)
        .select_related("workflow", "entity", "initiator", "api_key")
        .defer(*_HEAVY_RUN_FIELDS)
        .order_by("-created_at", "-pk")
    )


def _mark_rows(request: HttpRequest, runs: list[Run]) -> list[Run]:
    """Give each run what its row shows: may it be cancelled, its queue position."""
    queued = [r for r in runs if r.status == RunStatus.QUEUED]
    positions = {}
    if queued:
        # The engine admits resumed runs first, then first in, first out:
        order = Run.objects.filter(
            workspace=request.workspace, status=RunStatus.QUEUED
        ).order_by("queue_priority", "queued_at", "pk")
        positions = {
            pk: n for n, pk in enumerate(order.values_list("pk", flat=True), 1)
        }
    for run in runs:
        run.can_cancel = may_cancel_run(run, user=request.user, perms=request.ws_perms)
        run.queue_position = positions.get(run.pk)
    return runs


def _waiting_for_me(request: HttpRequest) -> list[Step]:
    """Paused steps the member can act on: their own forms and their approvals.

    A fixed number of queries however many runs wait: the member's teams, the
    waiting steps as small tuples (whether the member already decided is a
    subquery), then the rows shown.
    """
    user, ws = request.user, request.workspace
    if P.VIEW_WORKFLOW_RUNS not in request.ws_perms:
        return []
    my_teams = set()
    for pk, tag in Team.objects.filter(workspace=ws, members=user).values_list(
        "pk", "tag"
    ):
        my_teams |= {str(pk), tag}
    # Approvals naming one of the member's teams (a text match on the JSON,
    # checked exactly below), so approvals for other teams stay in the database:
    names_my_team = Q(pk__in=[])
    for key in my_teams:
        names_my_team |= Q(inputs__approvingTeamIds__icontains=f'"{key}"')
    candidates = (
        Step.objects.filter(
            run__workspace=ws,
            run__status=RunStatus.PAUSED,
            status=Step.Status.WAITING,
        )
        .filter(
            Q(waiting_for="USER_INPUT", run__initiator=user)
            | (Q(waiting_for="MANUAL_APPROVAL") & names_my_team)
        )
        .annotate(
            decided=Exists(Decision.objects.filter(step=OuterRef("pk"), user=user))
        )
        .values_list(
            "pk", "waiting_for", "inputs", "run__initiator_id", "decided", "run_id"
        )
    )
    mine = []
    for pk, waiting_for, inputs, initiator_id, decided, run_id in candidates:
        if waiting_for == "MANUAL_APPROVAL":
            teams = {str(t) for t in (inputs or {}).get("approvingTeamIds") or []}
            self_blocked = (inputs or {}).get("preventSelfApproval") and (
                initiator_id == user.pk
            )
            if decided or self_blocked or not teams & my_teams:
                continue
        mine.append((run_id, pk))
    # Newest runs first (run ids grow with time):
    shown = [pk for _, pk in sorted(mine, reverse=True)[:WAITING_SHOWN]]
    if not shown:
        return []
    versions = WorkflowVersion.objects.filter(pk=OuterRef("run__version_id"))
    return list(
        Step.objects.filter(pk__in=shown)
        .select_related("run__workflow", "run__entity", "run__initiator")
        .defer(*(f"run__{f}" for f in _HEAVY_RUN_FIELDS), "inputs", "outputs")
        .annotate(run_version_name=version_field(versions, "name"))
        .order_by("-run__created_at", "-run_id", "pk")
    )


# The Workflows page


def _mark_runnable(workflows, user, perms: frozenset[str], workspace_id: int) -> None:
    """Set `can_run` on each workflow of a list, `restricted` where the person
    may run workflows but this one's runRestrictionPolicies leave them out, and
    `blockless` where they may run it but it has no blocks yet (a stub).
    Their teams and roles are read once, and only if a workflow has policies."""
    runner = SimpleLazyObject(lambda: Runner.of(user, workspace_id))
    for workflow in workflows:
        allowed = may_run(workflow, user=user, perms=perms, runner=runner)
        workflow.blockless = allowed and not workflow.descriptor.get("actions")
        workflow.can_run = allowed and not workflow.blockless
        workflow.restricted = not allowed and P.EXECUTE_WORKFLOW_RUNS in perms


@require_GET
@require_permission(P.VIEW_WORKFLOWS)
@vary_on_headers("HX-Request")
def workflow_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()
    workflows = visible_workflows(request.workspace, request.ws_perms).select_related(
        "current_version"
    )
    if q:
        workflows = workflows.filter(contains_text(q, "name", "tag"))
    page = Paginator(workflows, WORKFLOWS_PAGE_SIZE).get_page(request.GET.get("page"))
    for workflow in page:
        flt = workflow.descriptor.get("filter") or {}
        workflow.entity_types = (
            (flt.get("entityFilter") or {}).get("typeFilter") or {}
        ).get("types") or []
    _mark_runnable(page, request.user, request.ws_perms, request.workspace.pk)
    context = {"page": page, "q": q, "tab": "workflows"}
    template = "workflows/workflow_list.html"
    if _is_htmx(request):
        return render(request, template + "#workflow-results", context)
    recent = []
    if P.VIEW_WORKFLOW_RUNS in request.ws_perms:
        recent = list(_runs(request).filter(initiator=request.user)[:RECENT_RUNS])
    context |= {"waiting": _waiting_for_me(request), "recent_runs": recent}
    return render(request, template, context)


# The Runs tab


def _filtered_runs(request: HttpRequest, values: dict) -> QuerySet[Run]:
    runs = _runs(request)
    if values["workflow"]:
        runs = runs.filter(workflow__tag=values["workflow"])
    if values["status"]:
        runs = runs.filter(status=values["status"])
    if values["entity"]:
        runs = runs.filter(entity__tag=values["entity"])
    if values["initiator"]:
        runs = runs.filter(initiator__email__iexact=values["initiator"])
    if values["source"]:
        runs = runs.filter(source=values["source"])
    tz = timezone.get_current_timezone()
    if values["after"]:
        runs = runs.filter(
            created_at__gte=datetime.combine(values["after"], time.min, tzinfo=tz)
        )
    if values["before"]:
        runs = runs.filter(
            created_at__lte=datetime.combine(values["before"], time.max, tzinfo=tz)
        )
    return runs


@dataclass(frozen=True)
class RunsPage:
    """One page of a run list: Newer/Older links, and a count capped at COUNT_CAP.

    Counting every run of a big workspace costs more than the page itself
    (PostgreSQL: ~45 ms for 100,000 runs), so the total stops at COUNT_CAP
    and the page only looks one row ahead to know whether there is an older one.
    A page past the end (an old link, runs deleted since) knows the last page:
    from the capped count when it is under the cap, else from one exact count,
    paid only on that page.
    """

    number: int
    rows: list
    has_next: bool
    count: int  # min(total, COUNT_CAP + 1)
    last_page: int = 0  # set on a page past the end of a list that has runs

    COUNT_CAP = 1000
    MAX_PAGE = 1_000_000

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def past_end(self) -> bool:
        return self.last_page > 0

    @property
    def paged(self) -> bool:
        """Whether this page is one of several (an empty page links nowhere)."""
        return bool(self.rows) and (self.has_previous or self.has_next)

    @property
    def start(self) -> int:
        return (self.number - 1) * RUNS_PAGE_SIZE + 1 if self.rows else 0

    @property
    def end(self) -> int:
        return (self.number - 1) * RUNS_PAGE_SIZE + len(self.rows)

    @property
    def count_is_capped(self) -> bool:
        return self.count > self.COUNT_CAP

    @classmethod
    def number_of(cls, number: str | None) -> int:
        try:  # past MAX_PAGE the offset overflows the database's integers
            return min(max(1, int(number or 1)), cls.MAX_PAGE)
        except ValueError:
            return 1

    @classmethod
    def of(cls, runs: QuerySet[Run], number: str | None) -> "RunsPage":
        number = cls.number_of(number)
        offset = (number - 1) * RUNS_PAGE_SIZE
        rows = list(runs[offset : offset + RUNS_PAGE_SIZE + 1])
        count = runs.order_by().values("pk")[: cls.COUNT_CAP + 1].count()
        last_page = 0
        if not rows and number > 1 and count:
            total = count if count <= cls.COUNT_CAP else runs.order_by().count()
            last_page = -(-total // RUNS_PAGE_SIZE)
        return cls(
            number, rows[:RUNS_PAGE_SIZE], len(rows) > RUNS_PAGE_SIZE, count, last_page
        )


def _newest_run(runs: QuerySet[Run]) -> int:
    """The id of the newest run of a list (0 for none): one LIMIT 1 query."""
    return runs.values_list("pk", flat=True).first() or 0


def _unchanged_since(request: HttpRequest, runs: QuerySet[Run]) -> bool:
    """Whether an idle poll (`since`: the newest run of the list the page shows)
    finds no newer run in `runs`, so it is answered 204 (one query)."""
    since = request.GET.get("since")
    return since is not None and _is_htmx(request) and since == str(_newest_run(runs))


def entity_tiles_unchanged(request: HttpRequest, tag: str) -> bool:
    """_unchanged_since for the run tiles of the entity with this tag."""
    return _unchanged_since(request, _runs(request).filter(entity__tag=tag))


@require_GET
@require_permission(P.VIEW_WORKFLOWS, P.VIEW_WORKFLOW_RUNS)
@vary_on_headers("HX-Request")
def run_list(request: HttpRequest) -> HttpResponse:
    """The Runs tab. It keeps itself up to date in one of two ways:

    - while a run on the page is unfinished, `#runs-table` reloads itself every
      POLL_SECONDS;
    - when every run on it has ended (they can't change any more), a hidden
      `#runs-poller` asks every IDLE_POLL_SECONDS with `since`, the newest run
      of the list it shows: the answer is 204 (one query on runs) until a run is
      started, then the new table.
    """
    form = RunFilterForm(request.GET)
    values = form.values()
    runs = _filtered_runs(request, values)
    if _unchanged_since(request, runs):
        return HttpResponse(status=204)
    number = RunsPage.number_of(request.GET.get("page"))
    # Past page 1 the newest run is read before the page, so a run started in
    # between shows up as one more refresh, never as a missed one:
    newest = _newest_run(runs) if number > 1 else None
    page = RunsPage.of(runs, str(number))
    rows = _mark_rows(request, page.rows)
    if newest is None:
        newest = rows[0].pk if rows else 0
    has_active_runs = any(not r.is_terminal for r in rows)
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("since", None)
    querystring = query.urlencode()
    runs_url = reverse("workflows:run-list")
    here = query.copy()
    if number > 1:
        here["page"] = number
    table_url = f"{runs_url}?{here.urlencode()}" if here else runs_url
    here["since"] = newest
    last_page = query.copy()
    last_page["page"] = page.last_page
    context = {
        "page": page,
        "runs": rows,
        "has_active_runs": has_active_runs,
        "poll_seconds": POLL_SECONDS,
        "idle_poll_seconds": IDLE_POLL_SECONDS,
        "table_url": table_url,
        "idle_poll_url": f"{runs_url}?{here.urlencode()}",
        "last_page_url": f"{runs_url}?{last_page.urlencode()}",
        "querystring": querystring,
        "filters": values,
        "filtered": any(values.values()),
        # Both dates count inclusively, so only a reversed range is empty by itself:
        "dates_reversed": bool(
            values["after"] and values["before"] and values["after"] > values["before"]
        ),
        "runs_url": runs_url,
        "tab": "runs",
    }
    template = "workflows/workflow_list.html"
    if _is_htmx(request):
        return render(request, template + "#runs-table", context)
    context |= {
        "form": form,
        "workflow_choices": visible_workflows(
            request.workspace, request.ws_perms
        ).values_list("tag", "name"),
        "initiator_choices": Membership.objects.filter(
            workspace=request.workspace
        ).values_list("user__email", flat=True),
        "statuses": RunStatus.choices,
        "sources": Run.Source.choices,
    }
    return render(request, template, context)


@require_http_methods(["GET", "POST"])
@require_permission(P.VIEW_WORKFLOW_RUNS)
@vary_on_headers("HX-Request")
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the confirmation (a dialog or page). POST: cancel, then go back.

    POST answers an htmx request aimed at the run's row (`HX-Target: run-<pk>`)
    with the row; any other request is sent to `next`, else the run page.
    """
    run = get_in_workspace(
        request,
        with_version_name(
            Run.objects.select_related(
                "workflow", "entity", "initiator", "api_key"
            ).defer(*_HEAVY_RUN_FIELDS)
        ),
        pk=pk,
    )
    back = _next_url(request) or run.get_absolute_url()
    if request.method == "GET":
        if not may_cancel_as(run, user=request.user, perms=request.ws_perms):
            raise PermissionDenied
        context = {
            "frame": _frame(request),
            "run": run,
            "back_url": back,
            "next": _next_url(request),
            "row": request.GET.get("row") == "1",
        }
        return render(request, "workflows/cancel_confirm.html", context)
    if not may_cancel_as(run, user=request.user, perms=request.ws_perms):
        raise PermissionDenied
    try:
        engine.cancel(run, by=request.user)
        problem = ""
    except engine.IllegalTransition as exc:
        # Finished meanwhile (or twice clicked): show the run as it is now.
        problem = str(exc)
    run.refresh_from_db()
    name = run.version_name or run.workflow.name
    done = (
        f"Run {run.pk} of {name} canceled."
        if run.status == Run.Status.CANCELLED
        else f"Canceling run {run.pk} of {name}: its block in flight"
        " finishes first, then nothing more runs."
    )
    if request.htmx and request.htmx.target == f"run-{run.pk}":
        if problem:
            # Said above the page until dismissed (base.html), as a row's
            # message went with the list's next refresh; the list shows the
            # run as it is now.
            response = said_above_the_page(problem, status=409)
            return trigger_client_event(response, "runs-changed")
        context = {
            "run": _mark_rows(request, [run])[0],
            "runs_url": reverse("workflows:run-list"),
        }
        response = render(request, "workflows/workflow_list.html#run-row", context)
        # Said in the page's status region (workflows.js), as the run page says it:
        trigger_client_event(response, "cairn:announce", {"message": done})
        return trigger_client_event(response, "runs-changed")
    if problem:
        messages.error(request, problem)
    elif run.status == Run.Status.CANCELLING:
        # The run page drops it once the run has ended (run_detail.html):
        messages.success(request, done, extra_tags="run-cancelling")
    else:
        messages.success(request, done)
    if request.htmx:
        return HttpResponseClientRedirect(back)
    return redirect(back)


# A workflow's page


def _blocks(descriptor: dict) -> list[dict]:
    """The blocks as the workflow page lists them, with a one-line summary each."""
    names = {a["slug"]: a.get("name") or a["slug"] for a in descriptor["actions"]}
    rows = []
    for action in descriptor.get("actions", []):
        schema = action.get("schema", {})
        kind = schema.get("type", "")
        if kind in ("USER_INPUT", "SCAFFOLDER"):
            count = len(schema.get("inputs") or [])
            summary = f"{count} input{'s' if count != 1 else ''}"
        elif kind == "MANUAL_APPROVAL":
            summary = "Approvers: " + ", ".join(
                str(t) for t in schema.get("approvingTeamIds") or []
            )
        elif kind in ("HTTP_REQUEST", "HTTP_REQUEST_ASYNC"):
            summary = f"{schema.get('httpMethod', '')} {schema.get('url', '')}"
        elif kind == "ADVANCED_HTTP_REQUEST":
            summary = str(schema.get("actionIdentifier") or schema.get("url") or "")
        elif kind == "CONDITIONAL_BRANCH":
            branches = [
                b.get("name") or b.get("slug")
                for b in schema.get("branches") or []
                if isinstance(b, dict)
            ]
            if isinstance(fallback := schema.get("fallbackBranch"), dict):
                branches.append(f"else {fallback.get('name') or 'fallback'}")
            summary = "Branches: " + ", ".join(branches)
        elif kind == "JQ":
            summary = schema.get("expression", "")
        else:
            summary = ""
        rows.append(
            {
                "name": action.get("name") or action["slug"],
                "slug": action["slug"],
                "type": kind,
                "root": action.get("isRootAction") is True,
                "outgoing": [
                    {"slug": s, "name": names.get(s, s)}
                    for s in action.get("outgoingActions") or []
                ],
                "summary": summary,
            }
        )
    return rows


def _detail_context(request: HttpRequest, workflow: Workflow) -> dict:
    descriptor = workflow.descriptor
    flt = descriptor.get("filter") or {}
    entity_filter = flt.get("entityFilter") or {}
    _mark_runnable([workflow], request.user, request.ws_perms, request.workspace.id)
    recent = []
    if P.VIEW_WORKFLOW_RUNS in request.ws_perms:
        recent = _mark_rows(
            request, list(_runs(request).filter(workflow=workflow)[:RECENT_RUNS])
        )
    return {
        "workflow": workflow,
        "descriptor": descriptor,
        "version": workflow.current_version,
        "blocks": _blocks(descriptor),
        "entity_types": (entity_filter.get("typeFilter") or {}).get("types") or [],
        "groups": entity_filter.get("entityGroupFilter") or {},
        "ownership_scope": flt.get("ownershipScope", "ALL"),
        "policies": descriptor.get("runRestrictionPolicies") or [],
        "can_run": workflow.can_run,
        "can_edit": P.EDIT_WORKFLOWS in request.ws_perms,
        "recent_runs": recent,
    }


@require_GET
@require_permission(P.VIEW_WORKFLOWS)
def workflow_detail(request: HttpRequest, tag: str) -> HttpResponse:
    workflow = _workflow(request, tag)
    return render(
        request, "workflows/workflow_detail.html", _detail_context(request, workflow)
    )


@require_GET
@require_permission(P.VIEW_WORKFLOWS)
def workflow_export(request: HttpRequest, tag: str) -> HttpResponse:
    workflow = _workflow(request, tag)
    response = HttpResponse(
        descriptor_lib.export(workflow.descriptor),
        content_type="application/yaml; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{workflow.tag}.yaml"'
    return response


# Run: the Confirm and Select an entity dialogs, and starting the run


def _entity_choices(request: HttpRequest, allowed: QuerySet[Entity], q: str) -> dict:
    found = allowed.search(q).select_related("type").defer("descriptor", "description")
    found = found.order_by("name", "pk")
    choices = list(found[: ENTITY_CHOICES + 1])
    return {
        "choices": choices[:ENTITY_CHOICES],
        "more": len(choices) > ENTITY_CHOICES,
        "q": q,
        # The entity picked before this search, still picked if it matches:
        "picked": request.GET.get("picked", ""),
    }


@require_http_methods(["GET", "POST"])
@require_permission(P.VIEW_WORKFLOWS)
@vary_on_headers("HX-Request")
def workflow_run(request: HttpRequest, tag: str) -> HttpResponse:
    """GET: Confirm (global, or an entity given) or Select an entity. POST: start.

    The run starts through services.run_start, which checks may_run and the
    entity filter again; then the browser goes to `next` or the run page.
    """
    workflow = _workflow(request, tag)
    if not may_run(workflow, user=request.user, perms=request.ws_perms):
        raise PermissionDenied
    data = request.POST if request.method == "POST" else request.GET
    is_entity = workflow.scope == Workflow.Scope.ENTITY
    entity = None
    if is_entity and data.get("entity"):
        entity = get_in_workspace(
            request, Entity.objects.select_related("type"), tag=data["entity"]
        )
    next_url = _next_url(request)
    error = ""
    if request.method == "POST":
        try:
            run = services.run_start(
                workflow=workflow,
                user=request.user,
                perms=request.ws_perms,
                entity=entity,
            )
        except engine.NotAllowed as exc:
            raise PermissionDenied(str(exc)) from None
        except engine.EngineError as exc:
            error = str(exc)
        else:
            where = f" on {entity.name}" if entity else ""
            started = f"{workflow.name} started{where}."
            if next_url:  # the run page is elsewhere: link to it
                started = format_html(
                    '{} <a href="{}">Open run {}</a>',
                    started,
                    run.get_absolute_url(),
                    run.pk,
                )
            messages.success(request, started)
            return redirect(next_url or run.get_absolute_url())
    allowed = None
    if is_entity:
        allowed = entities_for(
            workflow.descriptor,
            workspace=request.workspace,
            user=request.user,
            perms=request.ws_perms,
        )
        if entity is not None and not allowed.filter(pk=entity.pk).exists():
            reason, _ = why_not_on(
                workflow.descriptor,
                entity,
                workspace_id=workflow.workspace_id,
                user=request.user,
                perms=request.ws_perms,
            )
            raise PermissionDenied(f"This workflow can't run on {entity.tag}: {reason}")
    template = "workflows/workflow_start.html"
    context = {
        "frame": _frame(request),
        "workflow": workflow,
        "entity": entity,
        "next": next_url,
        # Where Cancel goes without JavaScript (`back`), if not back to `next`:
        "back_url": next_url
        or _next_url(request, "back")
        or reverse("workflows:workflow-list"),
        "error": error,
        "choose": is_entity and entity is None,
    }
    if context["choose"]:
        context |= _entity_choices(request, allowed, data.get("q", "").strip())
        if _is_htmx(request) and request.htmx.target == "entity-choices":
            return render(request, template + "#entity-choices", context)
    context["missing_integrations"] = missing_integrations(
        workflow.descriptor, request.workspace
    )
    return render(request, template, context, status=400 if error else 200)


# Creating and editing workflows


@require_http_methods(["GET", "POST"])
@require_permission(P.VIEW_WORKFLOWS, P.EDIT_WORKFLOWS)
def workflow_create(request: HttpRequest) -> HttpResponse:
    """From scratch (a name) or from a descriptor pasted or uploaded."""
    ws = request.workspace
    scratch = WorkflowCreateForm(workspace=ws, prefix="new")
    imported = WorkflowImportForm(workspace=ws, prefix="import")
    if request.method == "POST":
        if "import" in request.POST:
            imported = WorkflowImportForm(
                request.POST, request.FILES, workspace=ws, prefix="import"
            )
            form = imported
        else:
            scratch = WorkflowCreateForm(request.POST, workspace=ws, prefix="new")
            form = scratch
        if form.is_valid():
            workflow = _save(request, form.cleaned_data["descriptor"])
            messages.success(request, f"Workflow {workflow.name} created.")
            return redirect("workflows:workflow-detail", workflow.tag)
    context = {"scratch": scratch, "imported": imported}
    status = 400 if request.method == "POST" else 200
    return render(request, "workflows/workflow_create.html", context, status=status)


@require_http_methods(["GET", "POST"])
@require_permission(P.VIEW_WORKFLOWS, P.EDIT_WORKFLOWS)
def workflow_edit(request: HttpRequest, tag: str) -> HttpResponse:
    """The settings: name, description, draft, scope, response templates."""
    workflow = _workflow(request, tag, edit=True)
    kwargs = {"workspace": request.workspace, "current": workflow.descriptor}
    if request.method == "POST":
        form = WorkflowSettingsForm(request.POST, **kwargs)
        if form.is_valid():
            old_tag = workflow.tag
            try:
                workflow = _save_to(request, workflow, form.cleaned_data["descriptor"])
            except IntegrityError:  # taken between the form's check and now
                form.add_error("tag", "That tag was just taken; choose another.")
            except services.WorkflowChanged as exc:
                form.add_error(None, str(exc))
            else:
                if workflow.tag == old_tag:
                    messages.success(request, "Settings saved.")
                else:
                    messages.success(
                        request, f"Settings saved; the tag is now “{workflow.tag}”."
                    )
                return redirect("workflows:workflow-detail", workflow.tag)
    else:
        form = WorkflowSettingsForm(**kwargs)
    status = 400 if form.is_bound else 200
    return render(
        request,
        "workflows/workflow_form.html",
        {"workflow": workflow, "form": form},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@require_permission(P.VIEW_WORKFLOWS, P.EDIT_WORKFLOWS)
def workflow_yaml(request: HttpRequest, tag: str) -> HttpResponse:
    """The descriptor in a YAML editor; errors are listed and nothing is saved."""
    workflow = _workflow(request, tag, edit=True)
    if request.method == "POST":
        form = DescriptorForm(request.POST, tag=workflow.tag)
        if form.is_valid():
            try:
                _save_to(request, workflow, form.cleaned_data["descriptor"])
            except services.WorkflowChanged as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Descriptor saved.")
                return redirect("workflows:workflow-detail", workflow.tag)
    else:
        form = DescriptorForm(
            tag=workflow.tag,
            initial={"yaml": descriptor_lib.export(workflow.descriptor)},
        )
    status = 400 if form.is_bound else 200
    return render(
        request,
        "workflows/workflow_yaml.html",
        {"workflow": workflow, "form": form},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@require_permission(P.VIEW_WORKFLOWS, P.EDIT_WORKFLOWS)
@vary_on_headers("HX-Request")
def workflow_access(request: HttpRequest, tag: str) -> HttpResponse:
    """The Access dialog: Runnable via API."""
    workflow = _workflow(request, tag, edit=True)
    if request.method == "POST":
        form = AccessForm(request.POST)
        form.is_valid()  # a checkbox can't be invalid
        descriptor = dict(workflow.descriptor)
        descriptor["isRunnableViaApi"] = form.cleaned_data["runnable_via_api"]
        try:
            _save_to(request, workflow, descriptor_lib.validate(descriptor))
        except services.WorkflowChanged as exc:
            messages.error(request, str(exc))
            return redirect("workflows:workflow-list")
        state = "can" if descriptor["isRunnableViaApi"] else "can no longer"
        messages.success(request, f"{workflow.name} {state} be run via the API.")
        return redirect("workflows:workflow-detail", workflow.tag)
    form = AccessForm(initial={"runnable_via_api": workflow.is_runnable_via_api})
    context = {
        "frame": _frame(request),
        "workflow": workflow,
        "form": form,
        "policies": workflow.descriptor.get("runRestrictionPolicies") or [],
        "back_url": reverse("workflows:workflow-detail", args=[workflow.tag]),
    }
    return render(request, "workflows/workflow_access.html", context)


@require_http_methods(["GET", "POST"])
@require_permission(P.VIEW_WORKFLOWS, P.EDIT_WORKFLOWS)
@vary_on_headers("HX-Request")
def workflow_delete(request: HttpRequest, tag: str) -> HttpResponse:
    workflow = _workflow(request, tag, edit=True)
    if request.method == "POST":
        name = workflow.name
        services.workflow_delete(workflow=workflow)
        messages.success(request, f"Workflow {name} deleted.")
        return redirect("workflows:workflow-list")
    context = {
        "frame": _frame(request),
        "workflow": workflow,
        "run_count": workflow.runs.count(),
        "back_url": reverse("workflows:workflow-detail", args=[workflow.tag]),
    }
    return render(request, "workflows/workflow_confirm_delete.html", context)


# The entity page's Workflows section (rendered by catalog.views.entity_workflows)


def applies_to_entity(
    flt: dict, *, entity: Entity, owned: bool, perms: frozenset[str]
) -> bool:
    """Whether `permissions.entities_for` with this filter holds `entity`.

    The same rule, decided in Python from what the entity page has loaded
    (its type, groups and whether the member owns it), so the page asks no
    query per workflow; tests/workflows/test_views.py checks that both agree.
    `entity` needs its type and prefetched groups.
    """
    if flt.get("type") != "ENTITY" or entity.archived:
        return False
    entity_filter = flt.get("entityFilter") or {}
    types = (entity_filter.get("typeFilter") or {}).get("types") or []
    if types and entity.type.tag not in types:
        return False
    groups = entity_filter.get("entityGroupFilter") or {}
    tags = {g.tag for g in entity.groups.all()}
    if groups.get("entityGroups") and not tags & set(groups["entityGroups"]):
        return False
    if tags & set(groups.get("excludedEntityGroups") or []):
        return False
    scope = flt.get("ownershipScope") or "ALL"
    if scope == "OWNER" or (scope == "EDITOR" and P.EDIT_ENTITIES not in perms):
        return owned
    return True


def entity_workflows_context(request: HttpRequest, entity: Entity) -> dict:
    """The entity workflows that apply to `entity` for this member, and run tiles.

    `entity` comes with its type, groups, owner teams and owner users loaded
    (catalog.views._entity); the queries do not grow with workflows or runs.
    """
    perms, user = request.ws_perms, request.user
    workflows = list(
        visible_workflows(request.workspace, perms)
        .filter(scope=Workflow.Scope.ENTITY)
        .select_related("current_version")
    )
    owned = any(u.pk == user.pk for u in entity.owner_users.all())
    teams = [t.pk for t in entity.owner_teams.all()]
    if not owned and teams and workflows:
        owned = user.teams.filter(pk__in=teams).exists()
    workflows = [
        wf
        for wf in workflows
        if applies_to_entity(
            wf.descriptor.get("filter") or {}, entity=entity, owned=owned, perms=perms
        )
    ]
    _mark_runnable(workflows, user, perms, entity.workspace_id)
    tiles = []
    if P.VIEW_WORKFLOW_RUNS in perms:
        tiles = list(_runs(request).filter(entity=entity)[:ENTITY_RUN_TILES])
    return {
        "workflows": workflows,
        "tiles": tiles,
        "has_active_runs": any(not r.is_terminal for r in tiles),
        "poll_seconds": POLL_SECONDS,
    }


# Notifications


@require_http_methods(["GET", "POST"])
@require_permission()
@vary_on_headers("HX-Request")
def notifications(request: HttpRequest) -> HttpResponse:
    """The member's recent notifications; opening them marks them read.

    Only the shown ones: older unread ones stay counted on the bell until the
    member opens more or posts here to mark them all read.
    """
    mine = Notification.objects.filter(user=request.user, workspace=request.workspace)
    if request.method == "POST":
        marked = mine.filter(read_at__isnull=True).update(read_at=timezone.now())
        messages.success(
            request,
            f"Marked {marked} notification{pluralize(marked)} read."
            if marked
            else "No unread notifications.",
        )
        return redirect("workflows:notifications")
    limit = 10 if _is_htmx(request) else 50
    items = list(
        mine.select_related("run__workflow").only(
            "pk",
            "kind",
            "message",
            "created_at",
            "read_at",
            "run_id",
            "run__status",
            "run__workflow__name",
        )[:limit]
    )
    unread = [n.pk for n in items if n.read_at is None]
    if unread:
        Notification.objects.filter(pk__in=unread).update(read_at=timezone.now())
    older_unread = mine.filter(read_at__isnull=True).count()  # beyond those shown
    context = {"items": items, "unread": set(unread), "older_unread": older_unread}
    if _is_htmx(request):
        return render(
            request, "workflows/notifications.html#notification-panel", context
        )
    return render(request, "workflows/notifications.html", context)
