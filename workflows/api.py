"""Workflows and runs under /api/v1/workflows, in Cortex's paths, fields and statuses.

The Cortex CLI (`cortexapps-cli`) uses these unchanged: `workflows list`,
`get` (JSON, or the descriptor with `Accept: application/yaml`), `create -f`
(JSON or YAML body), `delete`, `run` (`POST …/runs`, then polling
`GET …/runs/{id}` until COMPLETED, FAILED or CANCELLED) and `get-run`.

Rules (DESIGN.md, API):

- each endpoint needs its permission (403 naming it); `tagOrId` is a
  workflow's tag or id, and anything outside the key's workspace is a 404
  exactly like a missing one ("could not find workflow with id: <id>");
- only workflows with `isRunnableViaApi` run here (403 otherwise); drafts run;
- `runAs` (a member's email) sets the initiating user. A personal access token
  runs as its own user and may not name another one; a workspace key may name a
  member who holds no permission the key's roles lack. A workspace key without
  runAs starts a run with no initiating user, acting with the key's roles (as
  Cortex's own CLI expects), unless the workflow needs a person (it restricts
  completion to the runner, or has a SCAFFOLDER block): that run waits (PAUSED)
  until someone picks the initiating user;
- writes honour `Idempotency-Key` (portal.idempotency).

Run ids are the run's UUID (`context.workflowRunId`); the numeric id the pages
use works too.
"""

import uuid
from datetime import datetime
from typing import Any, Literal

import yaml
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import connections, transaction
from django.db.models import F, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Lower
from django.http import HttpResponse
from ninja import Body, Field, Query, Router, Schema
from ninja.errors import HttpError
from pydantic import field_validator

from catalog.models import Entity
from portal import idempotency
from portal.api import (
    IDEMPOTENT_ERRORS,
    BodyError,
    PageParams,
    RequestBody,
    check_storable,
    cortex_page,
    error_docs,
    errors,
    json_response,
    read_body,
    require,
    utc,
)
from portal.idempotency import idempotent
from portal.ids import parse_id, parse_ids
from portal.models import Role, User
from portal.permissions import Permission as P
from portal.rawsql import columns, from_row, split_row
from portal.search import contains_text

from . import descriptor as descriptors
from . import engine
from .blocks.http_request_async import parse_callback
from .models import Run, RunStatus, Step, Workflow, WorkflowVersion
from .permissions import may_cancel_as, visible_workflows
from .selectors import version_field
from .services import run_start, workflow_delete, workflow_upsert

router = Router(tags=["workflows"])

YAML_TYPE = "application/yaml; charset=utf-8"

# --- OpenAPI documentation of bodies the views read themselves -------------------

_DESCRIPTOR_SCHEMA = {
    "type": "object",
    "description": "A Cortex workflow descriptor (WorkflowDefinition)",
    "required": ["tag", "name", "filter", "actions"],
    "properties": {
        "tag": {"type": "string"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "isDraft": {"type": "boolean"},
        "isRunnableViaApi": {"type": "boolean"},
        "filter": {"type": "object"},
        "variables": {"type": "array", "items": {"type": "object"}},
        "actions": {"type": "array", "items": {"type": "object"}},
        "runResponseTemplate": {"type": "string"},
        "failedRunResponseTemplate": {"type": "string"},
        "restrictActionCompletionToRunnerUser": {"type": "boolean"},
        "runRestrictionPolicies": {"type": "array", "items": {"type": "object"}},
    },
}
_DESCRIPTOR_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _DESCRIPTOR_SCHEMA},
            "application/yaml": {"schema": _DESCRIPTOR_SCHEMA},
        },
    }
}
# Ninja documents the run request's JSON; YAML is read too (read_body):
_RUN_REQUEST_AS_YAML = {
    "requestBody": {
        "content": {
            "application/yaml": {"schema": {"$ref": "#/components/schemas/RunRequest"}}
        }
    }
}
_CALLBACK_SCHEMA = {
    "type": "object",
    "required": ["status", "message"],
    "properties": {
        "status": {"type": "string", "enum": ["SUCCESS", "FAILURE", "UPDATE"]},
        "message": {"type": "string"},
        "response": {"type": "object"},
    },
}
_CALLBACK_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": _CALLBACK_SCHEMA}},
    }
}
_IDEMPOTENCY_HEADER = idempotency.OPENAPI_HEADER


# --- OpenAPI documentation of responses ---------------------------------------------
# The views build runs with run_out and answer an HttpResponse, which Ninja passes
# through unchecked; tests/api/test_openapi_responses.py checks real responses
# against these.


class RunScopeOut(Schema):
    type: Literal["GLOBAL", "ENTITY"]
    entityId: str | None = Field(None, description="The entity's tag")
    entityName: str | None = None


class InitiatedByOut(Schema):
    type: Literal["USER", "API_KEY"] = Field(
        description="A person, or the workspace key that started the run without runAs"
    )
    name: str
    email: str | None


class ApiKeyOut(Schema):
    name: str
    prefix: str


class StepOut(Schema):
    slug: str
    name: str
    type: str = Field(description="The block type (HTTP_REQUEST, USER_INPUT, …)")
    status: Literal[tuple(Step.Status.values)]
    waitingFor: str | None = Field(
        description="USER_INPUT, MANUAL_APPROVAL, CALLBACK or INITIATOR"
    )
    attempt: int
    inputs: dict[str, Any]
    outputs: dict[str, Any] = Field(description="Secrets appear as ********")
    error: str | None
    completedBy: str | None = Field(description="Who filled the form in or decided")
    dateStarted: datetime | None
    dateCompleted: datetime | None


class RunOut(Schema):
    id: uuid.UUID = Field(description="Also context.workflowRunId")
    workflowId: str
    workflowTag: str
    workflowName: str
    status: Literal[tuple(RunStatus.values)]
    scope: RunScopeOut
    initiatedBy: InitiatedByOut | None
    runAs: str | None
    apiKey: ApiKeyOut | None = Field(description="The key that started the run")
    source: Literal[tuple(Run.Source.values)]
    notificationRecipients: list[str]
    response: str | None = Field(description="The rendered response template")
    error: str | None
    dateCreated: datetime
    dateStarted: datetime | None
    dateCompleted: datetime | None
    waitingFor: (
        Literal["USER_INPUT", "MANUAL_APPROVAL", "CALLBACK", "INITIATOR"] | None
    ) = Field(
        None,
        description="What a PAUSED run waits for (a run's details); INITIATOR: "
        "someone must pick the initiating user on the run's page",
    )
    steps: list[StepOut] | None = Field(
        None, description="In the order they ran (a run's details)"
    )
    context: dict[str, Any] | None = Field(None, description="A run's details")
    variables: dict[str, Any] | None = Field(None, description="A run's details")


class RunPageOut(Schema):
    page: int
    total: int
    totalPages: int
    runs: list[RunOut]


# --- lookups ------------------------------------------------------------------------


def _find_workflow(qs: QuerySet[Workflow], tag_or_id: str) -> Workflow:
    workflow = qs.filter(tag=tag_or_id).first()
    if workflow is None and parse_id(tag_or_id) is not None:
        workflow = qs.filter(pk=parse_id(tag_or_id)).first()
    if workflow is None:
        raise HttpError(404, f"could not find workflow with id: {tag_or_id}")
    return workflow


def _workspace_workflow(request, tag_or_id: str) -> Workflow:
    """The workflow of the key's workspace with this tag or id, with its current
    version (404 if none); written out by hand, see portal.rawsql."""
    workspace = request.auth.workspace
    workflow = _select_workflow(workspace, "tag", tag_or_id)
    if workflow is None and parse_id(tag_or_id) is not None:
        workflow = _select_workflow(workspace, "id", parse_id(tag_or_id))
    if workflow is None:
        raise HttpError(404, f"could not find workflow with id: {tag_or_id}")
    return workflow


_WORKFLOW_SQL = """
SELECT {workflow}, {version} FROM workflows_workflow wf
LEFT JOIN workflows_workflowversion v ON v.id = wf.current_version_id
WHERE wf.workspace_id = %s AND wf.{column} = %s
"""


def _select_workflow(workspace, column: str, value) -> Workflow | None:
    connection = connections[Workflow.objects.db]
    sql = _WORKFLOW_SQL.format(
        workflow=columns(Workflow, "wf", connection),
        version=columns(WorkflowVersion, "v", connection),
        column=column,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [workspace.pk, value])
        row = cursor.fetchone()
    if row is None:
        return None
    workflow, version = split_row(row, Workflow, WorkflowVersion)
    workflow = from_row(Workflow, connection, workflow)
    workflow.workspace = workspace  # the same row, already loaded
    workflow.current_version = from_row(WorkflowVersion, connection, version)
    return workflow


def _runs(request) -> QuerySet[Run]:
    # With the name and scope of the version each run ran (run_out):
    versions = WorkflowVersion.objects.filter(pk=OuterRef("version_id"))
    return (
        Run.objects.filter(workspace=request.auth.workspace)
        .select_related("workflow", "entity", "initiator", "api_key")
        .annotate(
            version_name=version_field(versions, "name"),
            version_scope=version_field(versions, "filter__type"),
        )
    )


def _find_run(qs: QuerySet[Run], run_id: str) -> Run:
    run = None
    try:
        run = qs.filter(uid=uuid.UUID(run_id)).first()
    except ValueError:
        if parse_id(run_id) is not None:
            run = qs.filter(pk=parse_id(run_id)).first()
    if run is None:
        raise HttpError(404, f"could not find workflow run with id: {run_id}")
    return run


def _find_entity(workspace, tag_or_id: str) -> Entity:
    qs = Entity.objects.filter(workspace=workspace).select_related("type")
    entity = qs.filter(tag=tag_or_id).first()
    if entity is None and parse_id(tag_or_id) is not None:
        entity = qs.filter(pk=parse_id(tag_or_id)).first()
    if entity is None:
        raise HttpError(404, f"could not find entity with tag or id: {tag_or_id}")
    return entity


def _member(workspace, email: str) -> User | None:
    return User.objects.filter(
        email__iexact=email.strip(), memberships__workspace=workspace, is_active=True
    ).first()


def _member_permissions(workspace, user: User) -> frozenset[str]:
    roles = Role.objects.filter(
        memberships__workspace=workspace, memberships__user=user
    ).values_list("permissions", flat=True)
    return frozenset(p for permissions in roles for p in permissions)


_YAML_TYPES = {"yaml", "x-yaml"}  # application/… or text/…


def _wants_yaml(request) -> bool:
    """Whether `Accept` prefers YAML to JSON: the first type it names, by
    q-value then order, that is YAML or JSON (or */*, which means JSON).
    Parameters other than q (`charset=utf-8`) don't matter."""
    if "yaml" not in request.headers.get("Accept", "").lower():
        return False
    for accepted in request.accepted_types:  # best first
        if accepted.quality == 0:
            continue
        if accepted.sub_type.lower() in _YAML_TYPES:
            return True
        if accepted.sub_type in ("json", "*"):
            return False
    return False


# --- shapes -------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _person(user: User | None) -> dict | None:
    return {"name": user.display_name, "email": user.email} if user else None


def _initiated_by(run: Run) -> dict | None:
    """Who started the run, as Cortex writes it: a person, or the workspace API
    key that started it without `runAs` (no person, so no email)."""
    if run.initiator is not None:
        return {"type": "USER", **_person(run.initiator)}
    if run.api_key is not None:
        return {"type": "API_KEY", "name": run.api_key.name, "email": None}
    return None


def _definition(workflow: Workflow, *, actions: bool = True) -> dict:
    data = dict(workflow.descriptor)
    if not actions:
        data.pop("actions", None)
    return data


def _step_out(step: Step) -> dict:
    return {
        "slug": step.slug,
        "name": step.name,
        "type": step.type,
        "status": step.status,
        # Only while it waits (steps cancelled before 2026-12 kept it):
        "waitingFor": (step.status == Step.Status.WAITING and step.waiting_for) or None,
        "attempt": step.attempt,
        "inputs": step.inputs,
        "outputs": step.outputs,  # secrets are stored as ******** already
        "error": step.error or None,
        "completedBy": step.completed_by.email if step.completed_by else None,
        "dateStarted": _iso(step.started_at),
        "dateCompleted": _iso(step.finished_at),
    }


def _waiting_for(run: Run, steps) -> str | None:
    """What a PAUSED run waits for: its waiting step's USER_INPUT,
    MANUAL_APPROVAL or CALLBACK, or INITIATOR (someone must pick the initiating
    user on the run's page)."""
    if run.status != RunStatus.PAUSED:
        return None
    waiting = [s.waiting_for for s in steps if s.status == Step.Status.WAITING]
    if waiting:
        return waiting[0]
    return "INITIATOR" if run.initiator_id is None else None


def run_out(run: Run, *, detail: bool = True, steps: list[Step] | None = None) -> dict:
    """A run as the API shows it; `detail` adds its steps (`steps`, else the
    run's), context and variables."""
    workflow = run.workflow
    if run.entity is not None:
        scope = {
            "type": "ENTITY",
            "entityId": run.entity.tag,
            "entityName": run.entity.name,
        }
    elif (entity := ((run.state or {}).get("context") or {}).get("entity")) or (
        # The scope of the version it ran; a run just started ran the current one.
        getattr(run, "version_scope", workflow.scope) == Workflow.Scope.ENTITY
    ):
        # The entity was deleted since (the run state still names it), or the
        # run waits for one.
        entity = entity or {}
        scope = {
            "type": "ENTITY",
            "entityId": entity.get("tag"),
            "entityName": entity.get("name"),
        }
    else:
        scope = {"type": "GLOBAL"}
    key = run.api_key
    run_as = None
    if (
        run.source == Run.Source.API
        and run.initiator is not None
        and (key is None or key.user_id != run.initiator_id)
    ):
        run_as = run.initiator.email
    out = {
        "id": str(run.uid),
        "workflowId": str(workflow.pk),
        "workflowTag": workflow.tag,
        "workflowName": getattr(run, "version_name", None) or workflow.name,
        "status": run.status,
        "scope": scope,
        "initiatedBy": _initiated_by(run),
        "runAs": run_as,
        "apiKey": {"name": key.name, "prefix": key.prefix} if key else None,
        "source": run.source,
        "notificationRecipients": run.notification_recipients,
        "response": run.response or None,
        "error": run.error or None,
        "dateCreated": _iso(run.created_at),
        "dateStarted": _iso(run.started_at),
        "dateCompleted": _iso(run.finished_at),
    }
    if detail:
        state = run.state or {}
        steps = run.steps.all() if steps is None else steps
        out["waitingFor"] = _waiting_for(run, steps)
        out["steps"] = [_step_out(step) for step in steps]
        out["context"] = state.get("context", {})
        out["variables"] = state.get("variables", {})
    return out


def _with_steps(qs: QuerySet[Run]) -> QuerySet[Run]:
    return qs.prefetch_related(
        Prefetch("steps", Step.objects.select_related("completed_by"))
    )


# --- workflows ----------------------------------------------------------------------


class WorkflowListParams(PageParams):
    searchQuery: str | None = Field(
        None, max_length=200, description="Substring of the name or description"
    )
    includeActions: bool = False


class RunListParams(PageParams):
    workflow: list[str] = Field(
        default_factory=list, description="Workflow tags or ids (repeat or comma)"
    )
    workflowIds: list[str] = Field(
        default_factory=list, description="Same as workflow (Cortex's name)"
    )
    entityId: list[str] = Field(
        default_factory=list, description="Entity tags or ids (repeat or comma)"
    )
    entity: list[str] = Field(default_factory=list, description="Same as entityId")
    initiatedBy: list[str] = Field(
        default_factory=list,
        description="Initiating users' emails (repeat or comma)",
    )
    initiator: list[str] = Field(
        default_factory=list, description="Same as initiatedBy"
    )
    status: list[str] = Field(
        default_factory=list,
        description="QUEUED, IN_PROGRESS, PAUSED, CANCELLING, COMPLETED, FAILED, "
        "CANCELLED (repeat or comma)",
    )
    source: list[str] = Field(
        default_factory=list, description="UI, API or WORKFLOW (repeat or comma)"
    )
    startedAfter: datetime | None = Field(
        None, description="ISO 8601; runs created after"
    )
    startedBefore: datetime | None = Field(
        None, description="ISO 8601; runs created before"
    )
    includeContext: bool = Field(
        False, description="Add each run's steps, context and variables"
    )
    size: int | None = Field(
        None, ge=1, le=1000, description="Same as pageSize (Cortex's MCP name)"
    )
    sort: str | None = Field(
        None,
        description="property,direction: dateCreated, dateStarted or dateCompleted,"
        " asc or desc (default dateCreated,desc)",
    )


def _respond(request, data: Any, *, status: int = 200) -> HttpResponse:
    if _wants_yaml(request):
        return HttpResponse(
            yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
            status=status,
            content_type=YAML_TYPE,
        )
    return json_response(request, data, status)


@router.get("", summary="List workflows", openapi_extra=error_docs())
def workflow_list(request, params: Query[WorkflowListParams]):
    """Workflows of the key's workspace, by name; drafts only with EDIT_WORKFLOWS.

    Needs VIEW_WORKFLOWS.
    """
    principal = request.auth
    require(principal, P.VIEW_WORKFLOWS)
    qs = visible_workflows(principal.workspace, principal.permissions).select_related(
        "current_version"
    )
    if params.searchQuery:
        qs = qs.filter(contains_text(params.searchQuery, "name", "description"))
    page = cortex_page(
        qs.order_by("name", "pk"),
        params.page,
        params.pageSize,
        "workflows",
        lambda w: _definition(w, actions=params.includeActions),
    )
    return _respond(request, page)


@router.post(
    "",
    summary="Create or update a workflow",
    openapi_extra={
        **_DESCRIPTOR_BODY,
        **_IDEMPOTENCY_HEADER,
        **error_docs(*IDEMPOTENT_ERRORS),
    },
)
@idempotent
def workflow_save(request):
    """Create the workflow, or update the one with the same tag (JSON or YAML body).

    Answers the saved descriptor. A descriptor with problems → 400 listing
    every one. Needs EDIT_WORKFLOWS.
    """
    principal = request.auth
    require(principal, P.EDIT_WORKFLOWS)
    clean = _valid_descriptor(request)
    workflow, _ = workflow_upsert(
        workspace=principal.workspace, descriptor=clean, created_by=principal.user
    )
    return json_response(request, _definition(workflow))


class _InvalidDescriptor(HttpError):
    """A 400 listing the descriptor's problems, one message each."""

    def __init__(self, problems: list[str]):
        super().__init__(400, f"Invalid workflow descriptor: {'; '.join(problems)}")
        self.problems = problems


def _valid_descriptor(request) -> dict:
    said_yaml = "yaml" in (request.content_type or "").lower()
    try:
        clean = descriptors.validate(
            descriptors.parse(request.body, said_yaml=said_yaml)
        )
        check_storable(clean, "descriptor")
    except descriptors.DescriptorError as exc:
        raise _InvalidDescriptor(exc.errors) from None
    except BodyError as exc:
        raise _InvalidDescriptor([str(exc)]) from None
    return clean


@router.post(
    "/validate",
    summary="Validate a workflow descriptor",
    openapi_extra={**_DESCRIPTOR_BODY, **error_docs(413)},
)
def workflow_validate(request):
    """Check a descriptor (JSON or YAML body) without saving it.

    Answers `{ok, violations}`, each violation naming where the problem is.
    Needs VIEW_WORKFLOWS.
    """
    require(request.auth, P.VIEW_WORKFLOWS)
    try:
        _valid_descriptor(request)
    except _InvalidDescriptor as exc:
        violations = [_violation(problem) for problem in exc.problems]
        return json_response(request, {"ok": False, "violations": violations})
    return json_response(request, {"ok": True, "violations": []})


def _violation(error: str) -> dict:
    where, sep, what = error.partition(": ")
    path = where if sep and " " not in where else ""
    violation = {
        "title": "Invalid workflow descriptor",
        "description": error,
        "paths": [path] if path else [],
        "violationType": "MUST",
    }
    if path:  # a string in Cortex's ViolationDTO, never null
        violation["pointer"] = path
    return violation


# --- runs: the list comes before /{tagOrId}, so "runs" is not taken for a tag -------


# Values one filter of a list takes (more would be no filter, and SQLite
# refuses a statement with a thousand of them):
MAX_FILTER_VALUES = 100


def _values(*lists: list[str], field: str) -> list[str]:
    """Repeated and comma-separated query values, flattened, stripped and
    without repeats; a 400 naming `field` past MAX_FILTER_VALUES."""
    values = list(
        dict.fromkeys(
            part.strip()
            for values in lists
            for value in values
            for part in value.split(",")
            if part.strip()
        )
    )
    if len(values) > MAX_FILTER_VALUES:
        raise HttpError(
            400, f"{field}: at most {MAX_FILTER_VALUES} values, not {len(values)}"
        )
    return values


_RUN_SORTS = {
    "dateCreated": "created_at",
    "dateStarted": "started_at",
    "dateCompleted": "finished_at",
}


def _run_order(sort: str | None) -> list:
    """Cortex's `sort=property,direction` as an ordering (ties: newest id first
    for desc, oldest for asc; runs not started or finished yet last)."""
    field, _, direction = (sort or "dateCreated,desc").partition(",")
    field, direction = field.strip(), (direction.strip() or "asc").lower()
    if field not in _RUN_SORTS:
        raise HttpError(400, f"sort: {field!r} is not one of {', '.join(_RUN_SORTS)}")
    if direction not in ("asc", "desc"):
        raise HttpError(400, f"sort: the direction {direction!r} is not asc or desc")
    name = _RUN_SORTS[field]
    if name == "created_at":  # never null: plain, so the index serves it
        return ["-created_at", "-pk"] if direction == "desc" else ["created_at", "pk"]
    if direction == "desc":
        return [F(name).desc(nulls_last=True), "-pk"]
    return [F(name).asc(nulls_last=True), "pk"]


@router.get(
    "/runs",
    summary="List workflow runs",
    response={200: RunPageOut, **errors()},
)
def run_list(request, params: Query[RunListParams]):
    """Runs of the key's workspace, newest first, filtered by workflow (tags or
    ids), entity, initiator, status, source and creation date. Needs
    VIEW_WORKFLOW_RUNS.
    """
    principal = request.auth
    require(principal, P.VIEW_WORKFLOW_RUNS)
    qs = _runs(request)
    workflows = _values(params.workflow, params.workflowIds, field="workflow")
    if workflows:
        ids = parse_ids(workflows)
        qs = qs.filter(Q(workflow__tag__in=workflows) | Q(workflow__pk__in=ids))
    entities = _values(params.entityId, params.entity, field="entityId")
    if entities:
        qs = qs.filter(
            Q(entity__tag__in=entities)
            | Q(entity__pk__in=parse_ids(entities))
            # An entity deleted since: the run's state still names it.
            | Q(entity__isnull=True, state__context__entity__tag__in=entities)
        )
    initiators = _values(params.initiatedBy, params.initiator, field="initiatedBy")
    if initiators:
        qs = qs.alias(initiator_email=Lower("initiator__email")).filter(
            initiator_email__in={email.lower() for email in initiators}
        )
    statuses = [s.upper() for s in _values(params.status, field="status")]
    unknown = sorted(set(statuses) - set(RunStatus.values))
    if unknown:
        raise HttpError(
            400,
            f"status: {', '.join(unknown)} is not one of {', '.join(RunStatus.values)}",
        )
    if statuses:
        qs = qs.filter(status__in=statuses)
    sources = [s.upper() for s in _values(params.source, field="source")]
    unknown = sorted(set(sources) - set(Run.Source.values))
    if unknown:
        raise HttpError(
            400, f"source: {', '.join(unknown)} is not one of UI, API, WORKFLOW"
        )
    if sources:
        qs = qs.filter(source__in=sources)
    if params.startedAfter:
        qs = qs.filter(created_at__gt=utc(params.startedAfter, "startedAfter"))
    if params.startedBefore:
        qs = qs.filter(created_at__lt=utc(params.startedBefore, "startedBefore"))
    qs = qs.order_by(*_run_order(params.sort))
    if params.includeContext:
        qs = _with_steps(qs)
    page = cortex_page(
        qs,
        params.page,
        params.size or params.pageSize,
        "runs",
        lambda run: run_out(run, detail=params.includeContext),
    )
    return json_response(request, page)


# --- one workflow -------------------------------------------------------------------


@router.get("/{tagOrId}", summary="Retrieve a workflow", openapi_extra=error_docs(404))
def workflow_get(request, tagOrId: str):
    """The workflow's descriptor as JSON, or as YAML with `Accept: application/yaml`.

    Needs VIEW_WORKFLOWS (and EDIT_WORKFLOWS for a draft).
    """
    principal = request.auth
    require(principal, P.VIEW_WORKFLOWS)
    workflow = _find_workflow(
        visible_workflows(principal.workspace, principal.permissions).select_related(
            "current_version"
        ),
        tagOrId,
    )
    if _wants_yaml(request):
        return HttpResponse(
            descriptors.export(workflow.descriptor, "yaml"), content_type=YAML_TYPE
        )
    return json_response(request, _definition(workflow))


@router.delete(
    "/{tagOrId}",
    summary="Delete a workflow",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def workflow_remove(request, tagOrId: str):
    """Delete the workflow with its versions and runs. Needs EDIT_WORKFLOWS."""
    require(request.auth, P.EDIT_WORKFLOWS)
    workflow = _workspace_workflow(request, tagOrId)
    workflow_delete(workflow=workflow)
    return json_response(request, {"message": "Workflow deleted successfully"})


# --- starting and following runs ----------------------------------------------------


class RunScope(RequestBody):
    type: Literal["GLOBAL", "ENTITY"] = Field(description="GLOBAL or ENTITY")
    entityId: str | None = Field(
        None, max_length=200, description="The entity's tag or id (ENTITY)"
    )

    @field_validator("type", mode="before")
    @classmethod
    def _upper(cls, value):
        return value.upper() if isinstance(value, str) else value


class RunRequest(RequestBody):
    scope: RunScope | None = Field(
        None,
        description='{"type": "GLOBAL"} (the default) or {"type": "ENTITY", "entityId": …}',
    )
    initialContext: dict[str, Any] | None = Field(
        None,
        description="Kept at context.initialContext; keys naming declared variables "
        "set their starting values",
    )
    runAs: str | None = Field(
        None, max_length=254, description="Email of the member to run the workflow as"
    )
    notificationRecipients: list[str] | None = Field(
        None,
        max_length=50,
        description="Emails told when the run needs someone and when it ends",
    )


def _recipients(emails: list[str] | None) -> list[str]:
    cleaned = []
    for i, email in enumerate(emails or []):
        try:
            validate_email(email.strip())
        except DjangoValidationError:
            raise HttpError(
                400, f"notificationRecipients[{i}]: {email!r} is not an email address"
            ) from None
        cleaned.append(email.strip().lower())
    return list(dict.fromkeys(cleaned))


@router.post(
    "/{tagOrId}/runs",
    summary="Run a workflow",
    response={201: RunOut, **errors(404, *IDEMPOTENT_ERRORS)},
    openapi_extra={**_IDEMPOTENCY_HEADER, **_RUN_REQUEST_AS_YAML},
)
@idempotent(atomic=False)
def run_create(request, tagOrId: str, payload: Body[RunRequest | None] = None):
    """Start a run of a workflow that is runnable via the API; answers 201 with the
    run (status QUEUED when the workspace is at its concurrency cap, PAUSED when
    it waits for an initiating user). Needs EXECUTE_WORKFLOW_RUNS.
    """
    principal = request.auth
    require(principal, P.EXECUTE_WORKFLOW_RUNS)
    payload = payload or RunRequest()
    workflow = _workspace_workflow(request, tagOrId)
    if workflow.is_draft and P.EDIT_WORKFLOWS not in principal.permissions:
        # Hidden from whoever may not edit workflows, as GET /workflows/{tag}:
        raise HttpError(404, f"could not find workflow with id: {tagOrId}")
    if not workflow.is_runnable_via_api:
        raise HttpError(
            403,
            f"Workflow {workflow.tag} is not runnable via the API: turn on "
            "Runnable via API (isRunnableViaApi) to run it here",
        )
    user, perms = principal.user, principal.permissions
    if payload.runAs is not None and not payload.runAs.strip():
        # Likely an unset variable in a script: refused rather than read as
        # "no runAs", which would act with the key's roles instead.
        raise HttpError(
            400, "runAs: must be a member's email; leave it out to run as the key"
        )
    if payload.runAs:
        run_as = _member(principal.workspace, payload.runAs)
        if run_as is None:
            raise HttpError(
                400, f"runAs: {payload.runAs!r} is not a member of this workspace"
            )
        if user is not None and run_as != user:
            raise HttpError(
                403,
                "runAs: a personal access token runs workflows as its own user only",
            )
        if user is None:
            theirs = _member_permissions(principal.workspace, run_as)
            # The run acts with its initiator's rights: a key names no one
            # holding a permission its own roles lack.
            beyond = sorted(theirs - perms)
            if beyond:
                raise HttpError(
                    403,
                    f"runAs: {run_as.email} has permissions this key's roles lack"
                    f" ({', '.join(beyond)}), and the run would act with them",
                )
            user, perms = run_as, theirs
    descriptor = workflow.descriptor
    if user is None and descriptor.get("runRestrictionPolicies"):
        raise HttpError(
            403,
            f"Workflow {workflow.tag} restricts who may run it: send runAs with the "
            "email of someone allowed to",
        )
    entity = _scope_entity(request, workflow, payload.scope)
    recipients = _recipients(payload.notificationRecipients)
    try:
        # Only the writes hold the transaction (SQLite's write lock):
        with transaction.atomic():
            run = run_start(
                workflow=workflow,
                user=user,
                perms=perms,
                entity=entity,
                source=Run.Source.API,
                initial_context=payload.initialContext or {},
                notification_recipients=recipients,
                api_key=principal.api_key,
                initiator=user,
                idempotency_key=request.headers.get(idempotency.HEADER, ""),
            )
            # A new run has no steps yet: its first block runs after the commit.
            response = json_response(request, run_out(run, steps=[]), 201)
            idempotency.complete(request, response)
    except engine.NotAllowed as exc:
        # Which field it is about; the message names the member itself:
        who = "runAs: " if payload.runAs and exc.personal else ""
        raise HttpError(403, f"{who}{exc}") from None
    except engine.EngineError as exc:
        raise HttpError(400, str(exc)) from None
    return response


def _scope_entity(request, workflow: Workflow, scope: RunScope | None) -> Entity | None:
    kind = scope.type if scope else "GLOBAL"
    if workflow.scope == Workflow.Scope.ENTITY:
        if kind != "ENTITY" or not scope.entityId:
            raise HttpError(
                400,
                f"scope: workflow {workflow.tag} runs on an entity: send "
                '{"type": "ENTITY", "entityId": "<entity tag>"}',
            )
        return _find_entity(request.auth.workspace, scope.entityId)
    if kind == "ENTITY":
        raise HttpError(
            400, f'scope: workflow {workflow.tag} is GLOBAL: send {{"type": "GLOBAL"}}'
        )
    return None


@router.get(
    "/{tagOrId}/runs/{runId}",
    summary="Get a workflow run",
    response={200: RunOut, **errors(404)},
)
def run_get(request, tagOrId: str, runId: str):
    """The run with its steps (status, inputs, outputs with secrets as ********,
    errors), context, variables, response and dates. Needs VIEW_WORKFLOW_RUNS.
    """
    require(request.auth, P.VIEW_WORKFLOW_RUNS)
    workflow = _workspace_workflow(request, tagOrId)
    run = _find_run(_with_steps(_runs(request).filter(workflow=workflow)), runId)
    return json_response(request, run_out(run))


@router.post(
    "/{tagOrId}/runs/{runId}/cancel",
    summary="Cancel a workflow run",
    response={200: RunOut, **errors(404, *IDEMPOTENT_ERRORS)},
    openapi_extra=_IDEMPOTENCY_HEADER,
)
@idempotent
def run_cancel(request, tagOrId: str, runId: str):
    """Cancel a QUEUED, IN_PROGRESS or PAUSED run (a run with a block in flight is
    CANCELLING until the block stops); completed blocks are not undone. Needs
    EDIT_WORKFLOW_RUNS, or a personal token of the run's initiator while they
    have EXECUTE_WORKFLOW_RUNS. The run comes back with its steps, context and
    variables when the key may also view runs (VIEW_WORKFLOW_RUNS).
    """
    principal = request.auth
    workflow = _workspace_workflow(request, tagOrId)
    run = _find_run(_runs(request).filter(workflow=workflow), runId)
    # The pages' rule: a personal token of the initiator also needs
    # EXECUTE_WORKFLOW_RUNS (a member demoted to Viewer no longer cancels).
    if not may_cancel_as(run, user=principal.user, perms=principal.permissions):
        require(principal, P.EDIT_WORKFLOW_RUNS)
    try:
        engine.cancel(run, by=principal.user)
    except engine.IllegalTransition:
        # In the API's statuses (the engine's message has the pages' words):
        run.refresh_from_db(fields=["status"])
        raise HttpError(
            409,
            f"The run is {run.status}: only QUEUED, IN_PROGRESS and PAUSED runs"
            " can be cancelled",
        ) from None
    run = _find_run(_with_steps(_runs(request)), str(run.uid))
    # Its steps, context and variables only for a key that may read them:
    detail = P.VIEW_WORKFLOW_RUNS in principal.permissions
    return json_response(request, run_out(run, detail=detail))


@router.post(
    "/{tagOrId}/callback/{callbackId}",
    summary="Update an asynchronous HTTP request block",
    openapi_extra={
        **_CALLBACK_BODY,
        **_IDEMPOTENCY_HEADER,
        **error_docs(404, 406, *IDEMPOTENT_ERRORS),
    },
)
@idempotent
def callback(request, tagOrId: str, callbackId: str):
    """The callee of an HTTP_REQUEST_ASYNC block reports back:
    `{"status": "SUCCESS"|"FAILURE"|"UPDATE", "message": …, "response": {…}}`.
    SUCCESS completes the block, FAILURE fails it, UPDATE keeps it waiting.
    406 once the block no longer waits. Needs EDIT_WORKFLOW_RUNS (as Cortex).
    """
    require(request.auth, P.EDIT_WORKFLOW_RUNS)
    payload = read_body(request)
    step = None
    try:
        step = (
            Step.objects.select_related("run", "run__workflow")
            .filter(
                callback_id=uuid.UUID(callbackId),
                run__workspace=request.auth.workspace,
            )
            .first()
        )
    except ValueError:
        pass
    workflow = step.run.workflow if step else None
    # Or a tag the workflow had before: the block sent its {{callbackUrl}}
    # before someone changed the tag (once or more).
    if workflow is None or (
        tagOrId not in (workflow.tag, str(workflow.pk))
        and not workflow.versions.filter(descriptor__tag=tagOrId).exists()
    ):
        raise HttpError(404, "Workflow run or block not found")
    try:
        parse_callback(payload)
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    try:
        engine.callback(step, payload)
    except engine.NotWaiting:
        raise HttpError(406, "Workflow block is not waiting for callback") from None
    except ValueError as exc:
        raise HttpError(400, str(exc)) from None
    return json_response(
        request, {"message": "Successfully received Workflow callback"}
    )
