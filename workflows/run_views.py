"""The run page and what people do on it: forms, approvals, the initiating user.

The page is three regions plus a poller (see templates/workflows/run_detail.html):

- `#run-header` (name, status, Cancel run) and `#run-body` (response, blocks,
  tabs) are refreshed by the poller;
- `#run-action` (the pending form, approval or initiator pick) is refreshed only
  when what the run waits for changes, so a form being typed into is left alone;
- `#run-poller` asks `run-status` every 2 s with the fingerprint of what it
  shows; the answer is 204 (nothing changed) or a new poller with the regions
  as out-of-band swaps. A finished run's poller has no trigger, so polling stops.

Every POST answers an htmx request with the `#run-action` region (400 with the
errors, 403 with why this person may not do it) or an HX-Redirect, and a plain
one with the whole page or a redirect.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HTMX_STOP_POLLING, HttpResponseClientRedirect

from catalog.models import Team
from portal.ids import parse_id
from portal.models import User
from portal.permissions import Permission
from portal.tenancy import get_in_workspace, require_permission, workspace_required

from . import engine
from .blocks.manual_approval import REJECTED_BY
from .descriptor import actions_by_slug, root_slug
from .forms import RunInputForm, row_change, rows_changed
from .inputs import InputInvalid
from .models import Decision, Run, RunEvent, Step
from .views import may_cancel_run

TEMPLATE = "workflows/run_detail.html"
TABS = {"outputs": "Outputs", "context": "Run context", "activity": "Activity"}
POLL_SECONDS = 2
# For a while after the page loads or changes, it asks more often (run_detail.html):
FAST_POLL_SECONDS = 0.5
FAST_POLL_FOR = 10
ACTIVITY_LIMIT = 200

StepS = Step.Status


def _runs():
    return Run.objects.select_related(
        "workflow",
        "version",
        "initiator",
        "entity",
        "entity__type",
        "workspace",
        "api_key",
    )


def _get_run(request: HttpRequest, pk: int) -> Run:
    return get_in_workspace(request, _runs(), pk=pk)


def _other_workspace_of(request: HttpRequest, **lookup):
    """(workspace, pk) of the run `lookup` finds when it is in another of the
    user's workspaces where they may see runs, else None."""
    theirs = {
        m.workspace_id: m.workspace
        for m in request.memberships
        if m.workspace_id != request.workspace.pk
        and Permission.VIEW_WORKFLOW_RUNS in m.permission_set()
    }
    found = (
        Run.objects.filter(workspace__in=theirs, **lookup)
        .values_list("workspace_id", "pk")
        .first()
    )
    return (theirs[found[0]], found[1]) if found else None


def _last_event(pk: int) -> int:
    return RunEvent.objects.filter(run_id=pk).aggregate(last=Max("pk"))["last"] or 0


def _fingerprint(request: HttpRequest, run: Run, last_event: int) -> str:
    """Changes whenever anything the page shows changes (every change logs an event).

    Read the last event before the run: a change in between then shows up as
    one more refresh, never as a missed one. While the run waits, what this
    person may do about it also depends on their role and their teams (an
    approver added to an approving team gets the form without reloading),
    which log no event of the run: one more query per poll, only then.
    """
    if run.status != Run.Status.PAUSED:
        return f"{run.status}.{last_event}"
    teams = Team.objects.filter(
        workspace_id=run.workspace_id, members=request.user
    ).values_list("pk", flat=True)
    mine = zlib.crc32(f"{sorted(request.ws_perms)}{sorted(teams)}".encode())
    return f"{run.status}.{last_event}.{mine:x}"


# --- showing values -------------------------------------------------------------------


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


# A timestamp as blocks write them (2026-12-04T18:30:05.123456+00:00):
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})"
)


def _text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, str) and _TIMESTAMP.fullmatch(value):
        # To the second, in UTC, as the page's other times: "2026-12-04
        # 18:30:05 UTC" (the Run context tab has the value as it is).
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(value)


def present(value: Any, column_labels: dict[str, str] | None = None) -> dict:
    """How the page shows one value: text, a list, a small table (its columns
    named by `column_labels` where given), or JSON."""
    if _scalar(value):
        return {"kind": "text", "text": _text(value)}
    if isinstance(value, list) and all(_scalar(v) for v in value):
        if not value:
            return {"kind": "text", "text": "—"}
        return {"kind": "list", "items": [_text(v) for v in value]}
    if (
        isinstance(value, list)
        and value
        and all(
            isinstance(v, dict) and all(_scalar(x) for x in v.values()) for v in value
        )
    ):
        columns = _in_order(
            dict.fromkeys(k for row in value for k in row), column_labels
        )
        if len(columns) <= 8:
            rows = [[_text(row.get(c)) for c in columns] for row in value]
            named = [(column_labels or {}).get(c, c) for c in columns]
            return {"kind": "table", "columns": named, "rows": rows}
    if (
        isinstance(value, dict)
        and (value.get("name") or value.get("email"))
        and len(value) <= 3
        and all(_scalar(v) for v in value.values())
    ):
        # A picked entity ({tag, name, type}) or person ({email, name}):
        label = value.get("name") or value.get("email")
        detail = value.get("tag") or value.get("email")
        text = f"{label} ({detail})" if detail and detail != label else label
        return {"kind": "text", "text": text}
    return {"kind": "json", "text": json.dumps(value, indent=2, ensure_ascii=False)}


def _in_order(keys, labels: dict[str, str] | None) -> list[str]:
    """`keys` with the labelled ones first, in the labels' (the form's) order:
    PostgreSQL's jsonb keeps an object's keys in an order of its own."""
    order = {key: i for i, key in enumerate(labels or ())}
    return sorted(keys, key=lambda key: order.get(key, len(order)))


def _items(values: Any, labels: FormLabels | None = None) -> list[dict]:
    if not isinstance(values, dict):
        return [{"key": "", "label": "", "value": present(values)}] if values else []
    names, columns = labels or ({}, {})
    return [
        {
            "key": key,
            "label": names.get(key, key),
            "value": present(values[key], columns.get(key)),
        }
        for key in _in_order(values, names)
    ]


# --- blocks -----------------------------------------------------------------------------


def graph_order(descriptor: dict) -> list[str]:
    """Action slugs in an order that follows the graph: each block after those leading to it.

    Paths of a branch come one after the other, then its joining action.
    """
    actions = actions_by_slug(descriptor)
    try:
        root = root_slug(descriptor)
    except Exception:
        root = next(iter(actions), None)
    seen: set[str] = set()
    finished: list[str] = []

    def successors(slug: str) -> list[str]:
        action = actions.get(slug) or {}
        following = list(action.get("outgoingActions") or [])
        join = (action.get("schema") or {}).get("joiningAction")
        if join:
            following.append(join)
        return [s for s in following if s in actions]

    # Iterative depth-first search; reverse post-order is a topological order.
    stack: list[tuple[str, list[str]]] = []
    for start in [root, *actions]:
        if start is None or start in seen:
            continue
        seen.add(start)
        stack.append((start, successors(start)))
        while stack:
            slug, todo = stack[-1]
            while todo and todo[-1] in seen:
                todo.pop()
            if todo:
                child = todo.pop()
                seen.add(child)
                stack.append((child, successors(child)))
            else:
                stack.pop()
                finished.append(slug)
    # Children are visited last-first, so in reverse post-order the first comes first:
    return list(reversed(finished))


_ICONS = {
    StepS.COMPLETED: ("check-circle", "text-success"),
    StepS.FAILED: ("x-circle", "text-danger"),
    StepS.RUNNING: ("arrow-path", "text-primary run-spin"),
    StepS.WAITING: ("pause-circle", "text-warning"),
    StepS.SKIPPED: ("minus-circle", "text-body-tertiary"),
    StepS.CANCELLED: ("no-symbol", "text-body-secondary"),
    StepS.PENDING: ("clock", "text-body-tertiary"),
}


def _duration(step: Step) -> str:
    if step.started_at is None or step.finished_at is None:
        return ""
    seconds = (step.finished_at - step.started_at).total_seconds()
    if seconds < 1:
        return f"{int(seconds * 1000)} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min"


@dataclass
class BlockRow:
    slug: str
    name: str
    type: str
    status: str
    status_label: str
    step: Step | None = None
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)

    @property
    def reached(self) -> bool:
        return self.step is not None

    @property
    def icon(self) -> str:
        return _ICONS.get(self.status, ("minus-circle", ""))[0]

    @property
    def icon_class(self) -> str:
        return _ICONS.get(self.status, ("", "text-body-tertiary"))[1]

    @property
    def duration(self) -> str:
        return _duration(self.step) if self.step else ""


def _block_rows(run: Run, steps: list[Step]) -> list[BlockRow]:
    descriptor = run.version.descriptor
    actions = actions_by_slug(descriptor)
    by_slug = {s.slug: s for s in steps}
    order = graph_order(descriptor)
    order += [s.slug for s in steps if s.slug not in actions]
    rows = []
    for slug in order:
        step = by_slug.get(slug)
        action = actions.get(slug) or {}
        if step is None:
            status = StepS.CANCELLED if run.is_terminal else StepS.PENDING
            label = "Not run" if run.is_terminal else "Pending"
            rows.append(
                BlockRow(
                    slug=slug,
                    name=action.get("name") or slug,
                    type=(action.get("schema") or {}).get("type", ""),
                    status="NOT_RUN" if run.is_terminal else status,
                    status_label=label,
                )
            )
            continue
        inputs = step.inputs
        if step.type == "USER_INPUT" and isinstance(inputs.get("form"), list):
            inputs = {
                "form": [d.get("name") or d.get("key") for d in inputs["form"]],
            }
        rows.append(
            BlockRow(
                slug=slug,
                name=step.name or action.get("name") or slug,
                type=step.type,
                status=step.status,
                # The run's label is Cortex's "Canceled"; say it the same way:
                status_label="Canceled"
                if step.status == StepS.CANCELLED
                else step.get_status_display(),
                step=step,
                inputs=_items(inputs),
                outputs=_items(step.outputs, _form_labels(step)),
            )
        )
    return rows


# A form's field names by key, and its nested forms' column names by key:
FormLabels = tuple[dict[str, str], dict[str, dict[str, str]]]


def _form_labels(step: Step | None) -> FormLabels | None:
    """The names a USER_INPUT step's form gives its outputs' keys."""
    inputs = step.inputs if step is not None else None
    form = inputs.get("form") if isinstance(inputs, dict) else None
    if step is None or step.type != "USER_INPUT" or not isinstance(form, list):
        return None
    fields = [d for d in form if isinstance(d, dict)]
    names = {d.get("key"): d.get("name") or d.get("key") for d in fields}
    columns = {
        d.get("key"): {
            sub.get("key"): sub.get("name") or sub.get("key")
            for sub in d.get("inputs") or []
            if isinstance(sub, dict)
        }
        for d in fields
        if d.get("type") == "NESTED_FORM_FIELD"
    }
    return names, columns


# --- what the run waits for ----------------------------------------------------------------


def _members(run: Run):
    return User.objects.filter(
        memberships__workspace=run.workspace_id, is_active=True
    ).order_by("email")


def _action(
    request: HttpRequest,
    run: Run,
    steps: list[Step],
    *,
    form: RunInputForm | None = None,
    reason: str = "",
    error: str = "",
) -> dict:
    """What the run waits for, and what this person may do about it."""
    user = request.user
    waiting = next((s for s in steps if s.status == StepS.WAITING), None)
    if run.status != Run.Status.PAUSED:
        return {"kind": None, "key": "none"}
    if waiting is None:
        if run.initiator_id is None:
            choices = engine.initiator_choices(
                run, by=request.user, perms=request.ws_perms
            )
            return {
                "kind": "initiator" if choices else "initiator-wait",
                "key": f"initiator.{int(bool(choices))}",
                "members": choices,
                "error": error,
            }
        return {"kind": None, "key": "none"}
    action: dict[str, Any] = {"step": waiting, "error": error}
    if waiting.waiting_for == "USER_INPUT":
        # The key names what the region shows (the form, or why not), so that
        # a change of role or team redraws it (see _fingerprint):
        may = engine.may_complete_input(run, user)
        action["key"] = f"{waiting.pk}.input.{int(may)}"
        if may:
            action["kind"] = "input"
            action["form"] = form or RunInputForm(
                waiting.inputs.get("form") or [],
                workspace=run.workspace,
                runner=run.initiator or user,
            )
        else:
            action["kind"] = "input-wait"
            action["restricted"] = bool(
                run.version.descriptor.get("restrictActionCompletionToRunnerUser")
            )
            action["why_not"] = _sentence(_why_not_input(run, user))
        return action
    if waiting.waiting_for == "MANUAL_APPROVAL":
        decisions = list(Decision.objects.filter(step=waiting).select_related("user"))
        decided = any(d.user_id == user.pk for d in decisions)
        may = not decided and engine.may_approve(run, waiting, user)
        action["key"] = f"{waiting.pk}.approval.{len(decisions)}.{int(may)}"
        approvers = engine.approvers(run, waiting)
        required = waiting.inputs.get("requiredApprovals") or 1
        approved = sum(d.verdict == Decision.Verdict.APPROVED for d in decisions)
        decided_ids = {d.user_id for d in decisions}
        undecided = [p for p in approvers if p.pk not in decided_ids]
        action.update(
            kind="approval" if may else "approval-wait",
            description=waiting.inputs.get("approverDescription", ""),
            required=required,
            approved=approved,
            decisions=decisions,
            decided=decided,
            approvers=approvers,
            undecided=undecided,
            # Said before anyone tries (a refused POST says the same):
            why_not=(
                _sentence(_why_not_approver(run, waiting, user))
                if not may and not decided
                else ""
            ),
            too_few=(
                _too_few_approvers(run, waiting, required - approved, undecided)
                if approvers and len(undecided) < required - approved
                else ""
            ),
            # "(not X, who started the run)" only where X would otherwise decide:
            self_approval_prevented=bool(
                waiting.inputs.get("preventSelfApproval")
                and run.initiator_id
                and engine.approving_teams(run, waiting)
                .filter(members=run.initiator_id)
                .exists()
            ),
            # Only worth a query or two when nobody can approve:
            nobody="" if approvers else _why_nobody_approves(run, waiting),
            # A mistyped team among real ones would silently ask fewer people:
            unknown_teams=_unknown_teams(run, waiting) if approvers else "",
            reason=reason,
            inputs_so_far=[
                {"step": s, "items": _items(s.outputs, _form_labels(s))}
                for s in steps
                if s.type == "USER_INPUT" and s.status == StepS.COMPLETED
            ],
        )
        return action
    action["key"] = f"{waiting.pk}.{waiting.waiting_for.lower()}"
    action["kind"] = "callback" if waiting.waiting_for == "CALLBACK" else "other"
    return action


def _teams_phrase(names: list[str]) -> str:
    """ "the approving team Platform", "the approving teams Platform and Release"."""
    if len(names) == 1:
        return f"the approving team {names[0]}"
    return f"the approving teams {', '.join(names[:-1])} and {names[-1]}"


def _too_few_approvers(run: Run, step: Step, needed: int, undecided: list) -> str:
    """Why the approvals still needed can't all be given (fewer people who may
    decide are left than approvals needed), and what an admin can do (one query)."""
    teams = engine.approving_teams(run, step).order_by("name")
    names = list(teams.values_list("name", flat=True))
    approvals = "1 more approval is" if needed == 1 else f"{needed} more approvals are"
    if not undecided:
        left, or_else = "nobody else may decide", "or the run can be cancelled"
    else:
        people = f"{len(undecided)} {'person' if len(undecided) == 1 else 'people'}"
        left, or_else = f"only {people} may still decide", "or one of them rejects"
    return (
        f"{approvals} needed, and {left}. An admin can add members to"
        f" {_teams_phrase(names)} (Settings → Teams), {or_else}."
    )


def _unknown_teams(run: Run, step: Step) -> str:
    """What the page says of approvingTeamIds that name no team of the
    workspace while others do ('' when every one does; one query)."""
    found = engine.approving_teams(run, step).values_list("tag", "pk")
    known = {tag for tag, _ in found} | {str(pk) for _, pk in found}
    unknown = [t for t in engine.approving_team_ids(run, step) if t not in known]
    if not unknown:
        return ""
    it = "it" if len(unknown) == 1 else "them"
    return (
        f"No team of this workspace is called {', '.join(unknown)}, so nobody is"
        f" asked through {it}. An admin can create {it} (Settings → Teams), or"
        " someone who may edit the workflow can change its approving teams."
    )


def _why_nobody_approves(run: Run, step: Step) -> str:
    """Why nobody may decide on `step` (engine.approvers found no one), and what
    an admin can do about it, as the page says it after "Who may decide: nobody:".

    The approving teams named that exist (one query), and when self-approval is
    prevented, whether the initiator is in them, hence their only member (one more).
    """
    ids = engine.approving_team_ids(run, step)
    teams = engine.approving_teams(run, step)
    found = list(teams.order_by("name").values_list("tag", "pk", "name"))
    known = {tag for tag, _, _ in found} | {str(pk) for _, pk, _ in found}
    unknown = [t for t in ids if t not in known]
    names = [name for _, _, name in found]
    only_initiator = (
        bool(found)
        and bool(step.inputs.get("preventSelfApproval"))  # as _action reads it
        and run.initiator is not None
        and teams.filter(members=run.initiator).exists()
    )
    why, fix = [], ""
    if only_initiator:
        why.append(
            f"{run.initiator.display_name}, who started the run, is the only member"
            f" of {_teams_phrase(names)}, and this step prevents self-approval"
        )
        fix = (
            f"An admin can add another member to {'it' if len(names) == 1 else 'them'}"
        )
    elif names:
        why.append(
            f"{_teams_phrase(names)} {'has' if len(names) == 1 else 'have'} no members"
        )
        fix = f"An admin can add members to {'it' if len(names) == 1 else 'them'}"
    if unknown:
        why.append(f"no team of this workspace is called {', '.join(unknown)}")
        if not names:
            fix = (
                f"An admin can create {'it' if len(unknown) == 1 else 'them'},"
                " or someone who may edit the workflow can change its approving teams"
            )
    if not ids:
        why.append("this step names no approving team")
    why_text = "; ".join(why)
    fix_text = f" {fix} (Settings → Teams)." if fix else ""
    return f"{why_text}.{fix_text} Until then the run waits, or cancel it."


# --- the page ---------------------------------------------------------------------------


def _tab(request: HttpRequest) -> str:
    tab = request.GET.get("tab", "outputs")
    return tab if tab in TABS else "outputs"


def _context(
    request: HttpRequest, run: Run, *, fingerprint: str, tab: str, **action_kwargs
) -> dict:
    steps = list(run.steps.select_related("completed_by"))
    blocks = _block_rows(run, steps)
    action = _action(request, run, steps, **action_kwargs)
    state = run.state or {}
    names = {b.slug: b.name for b in blocks}
    position = {slug: index for index, slug in enumerate(names)}
    step_of = {s.slug: s for s in steps}
    outputs = [
        {
            "slug": slug,
            "name": names.get(slug, slug),
            "items": _items(
                (data or {}).get("outputs"), _form_labels(step_of.get(slug))
            ),
        }
        for slug, data in sorted(
            (state.get("actions") or {}).items(),
            key=lambda item: position.get(item[0], len(position)),
        )
        if (data or {}).get("outputs")
    ]
    events = []
    if tab == "activity":
        events = list(
            RunEvent.objects.filter(run=run)
            .select_related("actor")
            .order_by("-pk")[:ACTIVITY_LIMIT]
        )
    # One rule for the Runs tab and this page (workflows.views owns run-cancel):
    can_cancel = may_cancel_run(run, user=request.user, perms=request.ws_perms)
    # The name it ran under, as in the run lists (the workflow may be renamed since):
    run.version_name = run.version.descriptor.get("name") or ""
    status_url = reverse("workflows:run-status", args=[run.pk])
    poll_url = (
        status_url + "?" + urlencode({"v": fingerprint, "a": action["key"], "tab": tab})
    )
    return {
        "run": run,
        "steps": steps,
        "blocks": blocks,
        "action": action,
        "tab": tab,
        "tabs": [
            {"key": key, "label": label, "active": key == tab}
            for key, label in TABS.items()
        ],
        "outputs": outputs,
        "run_context": json.dumps(
            state.get("context") or {}, indent=2, ensure_ascii=False
        ),
        "variables": _items(state.get("variables") or {}),
        "events": events,
        # An approver said no: not a fault of the system (the block's own words).
        "rejected": any(
            s.type == "MANUAL_APPROVAL" and s.error.startswith(REJECTED_BY)
            for s in steps
            if s.status == Step.Status.FAILED
        ),
        "can_cancel": can_cancel,
        "cancel_url": reverse("workflows:run-cancel", args=[run.pk]),
        "workflow_url": reverse("workflows:workflow-detail", args=[run.workflow.tag]),
        "status_url": status_url,
        "poll_url": poll_url,
        "poll_seconds": POLL_SECONDS,
        "fast_poll_seconds": FAST_POLL_SECONDS,
        "fast_poll_for": FAST_POLL_FOR,
        "run_url": run.get_absolute_url(),
    }


@require_GET
@workspace_required
def run_by_uid(request: HttpRequest, uid) -> HttpResponse:
    """The run page of a run known by its API id (a UUID). One in another of
    the user's workspaces leads there too: its page offers to switch."""
    if Permission.VIEW_WORKFLOW_RUNS in request.ws_perms:
        pk = (
            Run.objects.filter(workspace=request.workspace, uid=uid)
            .values_list("pk", flat=True)
            .first()
        )
        if pk is not None:
            return redirect("workflows:run-detail", pk)
    elsewhere = _other_workspace_of(request, uid=uid)
    if elsewhere is not None:
        return redirect("workflows:run-detail", elsewhere[1])
    if Permission.VIEW_WORKFLOW_RUNS not in request.ws_perms:
        raise PermissionDenied
    raise Http404("No such run in this workspace")


@require_GET
@workspace_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    may_view = Permission.VIEW_WORKFLOW_RUNS in request.ws_perms
    last_event = _last_event(pk)
    run = (
        _runs().filter(workspace=request.workspace, pk=pk).first() if may_view else None
    )
    if run is None:
        # A link from an email, opened with another of one's workspaces open:
        elsewhere = _other_workspace_of(request, pk=pk)
        if elsewhere is not None:
            context = {
                "run_pk": pk,
                "other": elsewhere[0],
                "next": request.get_full_path(),
            }
            return render(request, "workflows/run_elsewhere.html", context, status=404)
        if not may_view:
            raise PermissionDenied
        raise Http404("No such run in this workspace")
    fingerprint = _fingerprint(request, run, last_event)
    context = _context(request, run, fingerprint=fingerprint, tab=_tab(request))
    return render(request, TEMPLATE, context)


@require_GET
@require_permission(Permission.VIEW_WORKFLOW_RUNS)
@vary_on_headers("HX-Request")
def run_status(request: HttpRequest, pk: int) -> HttpResponse:
    """The poller's answer: 204 when nothing changed, else the changed regions."""
    if not request.htmx or request.htmx.history_restore_request:
        query = {"tab": request.GET["tab"]} if "tab" in request.GET else {}
        url = reverse("workflows:run-detail", args=[pk])
        return redirect(f"{url}?{urlencode(query)}" if query else url)
    last_event = _last_event(pk)
    run = _get_run(request, pk)
    fingerprint = _fingerprint(request, run, last_event)
    if request.GET.get("v") == fingerprint:
        # Nothing new; a finished run's poller should not be polling at all:
        return HttpResponse(status=HTMX_STOP_POLLING if run.is_terminal else 204)
    context = _context(request, run, fingerprint=fingerprint, tab=_tab(request))
    shown = request.GET.get("a")
    context["refresh_action"] = shown is not None and shown != context["action"]["key"]
    return render(request, f"{TEMPLATE}#run-poll", context)


def _action_response(
    request: HttpRequest, run: Run, *, status: int = 200, **action_kwargs
) -> HttpResponse:
    """The #run-action region for htmx, else the whole page, with a form or errors."""
    last_event = _last_event(run.pk)
    run = _get_run(request, run.pk)  # fresh: the engine may have moved it
    context = _context(
        request,
        run,
        fingerprint=_fingerprint(request, run, last_event),
        tab=_tab(request),
        **action_kwargs,
    )
    template = f"{TEMPLATE}#run-action" if request.htmx else TEMPLATE
    return render(request, template, context, status=status)


def _sentence(message: str) -> str:
    """An engine message ("You are not one of the approvers of this step") as
    the page shows it: a sentence."""
    message = message.strip()
    return message if message.endswith((".", "!", "?")) else f"{message}."


def _refused(request: HttpRequest, run: Run, why: str, **action_kwargs) -> HttpResponse:
    """403, with why on the page where the form was (not the generic 403 page)."""
    return _action_response(
        request, run, status=403, error=_sentence(why), **action_kwargs
    )


def _why_not_input(run: Run, user: User) -> str:
    """Why `user` may not fill in the run's form (engine.may_complete_input is False)."""
    if run.version.descriptor.get("restrictActionCompletionToRunnerUser"):
        # What engine.submit_input says:
        return "Only the person who started this run can fill in this form"
    return (
        "Your role in this workspace does not let you run workflows,"
        " so you can't fill in this form"
    )


def _why_not_approver(run: Run, step: Step, user: User) -> str:
    """Why `user` may not decide on `step` (engine.may_approve is False)."""
    if (
        step.inputs.get("preventSelfApproval")
        and run.initiator_id == user.pk
        and _in_approving_team(run, step, user)
    ):
        return (
            "You started this run, and this step prevents self-approval:"
            " another member of the approving teams decides"
        )
    # What engine.decide says:
    return "You are not one of the approvers of this step"


def _in_approving_team(run: Run, step: Step, user: User) -> bool:
    """Whether `user` is in one of the step's approving teams (by tag or id)."""
    named = {str(t) for t in step.inputs.get("approvingTeamIds") or []}
    teams = Team.objects.filter(workspace=run.workspace_id, members=user)
    return any({tag, str(pk)} & named for tag, pk in teams.values_list("tag", "pk"))


def _back_to_run(request: HttpRequest, run: Run) -> HttpResponse:
    if request.htmx:
        return HttpResponseClientRedirect(run.get_absolute_url())
    return redirect(run)


def _waiting_step(run: Run, request: HttpRequest, waiting_for: str) -> Step | None:
    step_id = parse_id(request.POST.get("step", ""))
    if step_id is None:
        return None
    return Step.objects.filter(
        run=run, pk=step_id, status=StepS.WAITING, waiting_for=waiting_for
    ).first()


@require_POST
@require_permission(Permission.VIEW_WORKFLOW_RUNS)
def run_submit_input(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a row, remove a row, or submit the USER_INPUT form of the waiting step."""
    run = _get_run(request, pk)
    step = _waiting_step(run, request, "USER_INPUT")
    if step is None or run.status != Run.Status.PAUSED:
        messages.error(request, "This form is no longer waiting for input.")
        return _back_to_run(request, run)
    if not engine.may_complete_input(run, request.user):
        return _refused(request, run, _why_not_input(run, request.user))
    definitions = step.inputs.get("form") or []
    runner = run.initiator or request.user
    change = row_change(request.POST)
    if change is not None:
        data, added = rows_changed(request.POST, add=change[0], remove=change[1])
        form = RunInputForm(
            definitions, workspace=run.workspace, runner=runner, data=data, added=added
        )
        return _action_response(request, run, form=form)
    form = RunInputForm(
        definitions, workspace=run.workspace, runner=runner, data=request.POST
    )
    try:
        engine.submit_input(run, step, values=form.values(), by=request.user)
    except InputInvalid as exc:
        form.apply_errors(exc.errors)
        return _action_response(request, run, form=form, status=400)
    except engine.NotAllowed as exc:
        return _refused(request, run, str(exc))
    except engine.EngineError as exc:
        messages.error(request, str(exc))
        return _back_to_run(request, run)
    messages.success(request, f"{step.name or step.slug}: your input was submitted.")
    return _back_to_run(request, run)


def _not_recorded(run: Run, step: Step, user: User, verdict: str, reason: str) -> str:
    """What someone whose decision came too late is told: what became of the
    step, that theirs was not recorded, and (the start of) the reason they
    wrote, to use elsewhere."""
    decisions = list(step.decisions.select_related("user"))
    name = step.name or step.slug
    if any(d.user_id == user.pk for d in decisions):
        return f"{name}: you had decided already."
    said = f"{name} no longer waits for a decision"
    run.refresh_from_db(fields=["status"])  # a cancel may have just come
    if run.status in (Run.Status.CANCELLING, Run.Status.CANCELLED):
        said += " (the run was canceled)"
    elif decisions:
        said += (
            " ("
            + ", ".join(
                f"{d.user.display_name} {d.get_verdict_display().lower()}"
                for d in decisions
            )
            + ")"
        )
    what = {"approve": "approval", "reject": "rejection"}.get(verdict, "decision")
    said += f". Your {what} was not recorded"
    if not reason:
        return said + "."
    shown = reason if len(reason) <= 200 else reason[:200].rstrip() + "…"
    return said + f" (your reason: “{shown}”)."


# A reason is shown on the run page, in its Activity and in notifications:
MAX_REASON = 2000


@require_POST
@require_permission(Permission.VIEW_WORKFLOW_RUNS)
def run_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve or reject the waiting MANUAL_APPROVAL step (a rejection needs a reason)."""
    run = _get_run(request, pk)
    verdict = request.POST.get("verdict")
    reason = request.POST.get("reason", "").strip()
    step = _waiting_step(run, request, "MANUAL_APPROVAL")
    if step is None or run.status != Run.Status.PAUSED:
        step_id = parse_id(request.POST.get("step", ""))
        posted = Step.objects.filter(run=run, pk=step_id).first() if step_id else None
        messages.error(
            request,
            _not_recorded(run, posted, request.user, verdict, reason)
            if posted is not None and posted.type == "MANUAL_APPROVAL"
            else "This approval is no longer waiting for a decision.",
        )
        return _back_to_run(request, run)
    if not engine.may_approve(run, step, request.user):
        return _refused(
            request, run, _why_not_approver(run, step, request.user), reason=reason
        )
    if verdict not in ("approve", "reject"):
        return _action_response(
            request, run, status=400, reason=reason, error="Choose Approve or Reject."
        )
    if verdict == "reject" and not reason:
        return _action_response(
            request,
            run,
            status=400,
            reason=reason,
            error="Give a reason for rejecting.",
        )
    if len(reason) > MAX_REASON:
        return _action_response(
            request,
            run,
            status=400,
            reason=reason,
            error=f"Keep the reason to {MAX_REASON:,} characters (it has"
            f" {len(reason):,}).",
        )
    try:
        engine.decide(
            run, step, by=request.user, approve=verdict == "approve", reason=reason
        )
    except engine.NotAllowed as exc:
        return _refused(request, run, str(exc), reason=reason)
    except engine.NotWaiting:
        messages.error(request, _not_recorded(run, step, request.user, verdict, reason))
        return _back_to_run(request, run)
    except engine.EngineError as exc:
        return _action_response(request, run, status=400, reason=reason, error=str(exc))
    name = step.name or step.slug
    if verdict == "approve":
        messages.success(request, f"{name}: you approved.")
    else:
        messages.success(request, f"{name}: you rejected the run.")
    return _back_to_run(request, run)


@require_POST
@require_permission(Permission.VIEW_WORKFLOW_RUNS, Permission.EXECUTE_WORKFLOW_RUNS)
def run_set_initiator(request: HttpRequest, pk: int) -> HttpResponse:
    """Pick the initiating user of a run started without one; the run resumes."""
    run = _get_run(request, pk)
    user_id = parse_id(request.POST.get("user", ""))
    user = _members(run).filter(pk=user_id).first() if user_id is not None else None
    if user is None:
        return _action_response(
            request, run, status=400, error="Choose a member of this workspace."
        )
    try:
        engine.set_initiator(run, user=user, by=request.user, perms=request.ws_perms)
    except engine.NotAllowed as exc:
        return _refused(request, run, str(exc))
    except engine.EngineError as exc:
        messages.error(request, str(exc))
        return _back_to_run(request, run)
    messages.success(request, f"{user.email} is now the initiating user of this run.")
    return _back_to_run(request, run)
