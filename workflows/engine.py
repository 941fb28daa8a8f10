"""The run state machine: start, advance, pause, resume, cancel, admission, sweep.

Every change of a Run's or Step's status happens here. Changes are
compare-and-set updates (`filter(pk=…, status=old).update(…)`), so web
requests, API calls and workers can't overwrite each other, on SQLite and
PostgreSQL alike.

A worker holds a run through a lease (a UUID on the row) and a heartbeat. It
runs consecutive blocks that need no human inside one task, bounded by a time
slice, then re-enqueues the run: one broker round trip per slice, not per block.
A block with an outside effect has its start committed before it runs and its
end right after; blocks without one (JQ, JAVASCRIPT, SET_VARIABLES,
CONDITIONAL_BRANCH) are written in a batch with the next write (see _Batch).
So a worker that dies loses nothing: the sweep re-enqueues runs whose
heartbeat went stale, or whose holder, a process of its machine, has died
(workflows.holder; a worker does so too as it starts), completed steps are
never run again, unwritten
side-effect-free steps run again, and a step with an outside effect that was
in flight is retried once, marked as a retry.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from portal import rawsql
from portal.ids import parse_ids
from portal.models import Membership, User, Workspace
from portal.permissions import Permission
from portal.storable import Unstorable, check_storable

from . import holder, notify, signing
from .blocks import get_block
from .blocks.base import BlockContext, BlockFailed, Outcome
from .descriptor import actions_by_slug, root_slug
from .inputs import ALL, InputInvalid
from .models import (
    CANCELLABLE_STATUSES,
    MAPPING_KEYS,
    LinkedAccount,
    Run,
    RunEvent,
    RunStatus,
    Secret,
    Step,
    Workflow,
    WorkflowVersion,
)
from .secrets import MASK, decrypt, encrypt, scrub, scrub_message
from .templating import TemplateError, render

log = logging.getLogger(__name__)

S = RunStatus
StepS = Step.Status


class EngineError(Exception):
    """A request the engine refuses; the message says why (shown to the user)."""


class IllegalTransition(EngineError):
    pass


class NotAllowed(EngineError):
    def __init__(self, message: str, *, personal: bool = True):
        super().__init__(message)
        self.personal = personal  # about who asks, not about what is asked


class NotWaiting(EngineError):
    """The step is no longer waiting (answered, cancelled, timed out)."""


def _slice_seconds() -> float:
    return float(getattr(settings, "RUN_TIME_SLICE_SECONDS", 10))


def _stale_after() -> timedelta:
    return timedelta(seconds=float(getattr(settings, "RUN_STALE_SECONDS", 60)))


def _heartbeat_every() -> float:
    return float(getattr(settings, "RUN_HEARTBEAT_SECONDS", 10))


# --- descriptor helpers -------------------------------------------------------


def _declared_variables(descriptor: dict) -> dict[str, dict]:
    return {v["slug"]: v for v in descriptor.get("variables") or []}


def _needs_initiator(descriptor: dict) -> bool:
    return bool(descriptor.get("restrictActionCompletionToRunnerUser")) or any(
        a.get("schema", {}).get("type") == "SCAFFOLDER"
        for a in descriptor.get("actions", [])
    )


# --- events ---------------------------------------------------------------------


def _event(
    run: Run, kind: str, message: str = "", *, step: str = "", actor=None, data=None
):
    RunEvent.objects.create(
        run=run,
        kind=kind,
        message=message,
        step_slug=step,
        actor=actor,
        data=data or {},
    )


# --- start ------------------------------------------------------------------------


def _person(
    user: User | None,
    workspace: Workspace,
    role_names: list[str] | None = None,
    accounts: list[tuple[str, str, str]] | None = None,
) -> dict | None:
    """What templates see of a user: `context.initiatedBy` and the like.
    `role_names` and `accounts` ((kind, alias, account) of their linked
    accounts, by kind and alias) when the caller has read them already."""
    if user is None:
        return None
    if role_names is None:
        from portal.models import Role

        role_names = Role.objects.filter(
            memberships__user=user, memberships__workspace=workspace
        ).values_list("name", flat=True)
    if accounts is None:
        accounts = LinkedAccount.objects.filter(
            membership__user=user, membership__workspace=workspace
        ).values_list("integration__kind", "integration__alias", "account")
    roles = [{"name": name} for name in role_names]
    # Cortex's shape: a person's accounts per integration configuration, and
    # per kind the default configuration's (or, without one, the first).
    by_alias: dict[str, dict[str, str]] = {}
    for kind, alias, account in sorted(accounts):
        by_alias.setdefault(MAPPING_KEYS[kind], {})[alias] = account
    return {
        "name": user.display_name,
        "email": user.email,
        "roles": roles,
        "identityMappings": {
            key: found.get("default", next(iter(found.values())))
            for key, found in by_alias.items()
        },
        "identityMappingsByAlias": by_alias,
    }


def _entity_context(entity) -> dict | None:
    if entity is None:
        return None
    return {
        "id": str(entity.pk),
        "tag": entity.tag,
        "name": entity.name,
        "type": entity.type.tag,
        "description": entity.description,
        "groups": [g.tag for g in entity.groups.all()],
        "descriptor": {"info": entity.descriptor},
    }


def _initial_variables(descriptor: dict, initial_context: dict) -> dict:
    """The declared variables' starting values; an EngineError naming every
    initialContext value of the wrong type."""
    from .paths import check_type

    variables, problems = {}, []
    for slug, var in _declared_variables(descriptor).items():
        value = var.get("defaultValue")
        # null is "not given", as in descriptors: the default stays.
        if initial_context.get(slug) is not None:
            value = initial_context[slug]
            problem = check_type(value, var.get("type", "STRING"))
            if problem:
                problems.append(f"initialContext.{slug}: {problem}")
        variables[slug] = value
    if problems:
        raise EngineError("; ".join(problems))
    return variables


# start()'s reads: the initiator's role names (as _person), the workspace's
# secret tags and the initiator's linked accounts, each a JSON array in the
# models' order. [PostgreSQL, SQLite]
_START_READS = [
    """
SELECT
  (SELECT CAST(COALESCE(json_agg(r.name ORDER BY r.is_builtin DESC, r.name), '[]') AS TEXT)
   FROM portal_role r
   JOIN portal_membership_roles mr ON mr.role_id = r.id
   JOIN portal_membership m ON m.id = mr.membership_id
   WHERE m.user_id = %s AND m.workspace_id = %s),
  (SELECT CAST(COALESCE(json_agg(json_build_array(s.tag, s.encrypted_value)
                                  ORDER BY s.tag), '[]') AS TEXT)
   FROM workflows_secret s WHERE s.workspace_id = %s),
  (SELECT CAST(COALESCE(json_agg(json_build_array(i.kind, i.alias, a.account)
                                  ORDER BY i.kind, i.alias), '[]') AS TEXT)
   FROM workflows_linkedaccount a
   JOIN workflows_integration i ON i.id = a.integration_id
   JOIN portal_membership m ON m.id = a.membership_id
   WHERE m.user_id = %s AND m.workspace_id = %s)
""",
    """
SELECT
  (SELECT json_group_array(name) FROM (
     SELECT r.name FROM portal_role r
     JOIN portal_membership_roles mr ON mr.role_id = r.id
     JOIN portal_membership m ON m.id = mr.membership_id
     WHERE m.user_id = %s AND m.workspace_id = %s
     ORDER BY r.is_builtin DESC, r.name)),
  (SELECT json_group_array(json_array(tag, encrypted_value)) FROM (
     SELECT s.tag, s.encrypted_value FROM workflows_secret s WHERE s.workspace_id = %s
     ORDER BY s.tag)),
  (SELECT json_group_array(json_array(kind, alias, account)) FROM (
     SELECT i.kind, i.alias, a.account FROM workflows_linkedaccount a
     JOIN workflows_integration i ON i.id = a.integration_id
     JOIN portal_membership m ON m.id = a.membership_id
     WHERE m.user_id = %s AND m.workspace_id = %s
     ORDER BY i.kind, i.alias))
""",
]


def start(
    *,
    workflow: Workflow,
    initiator: User | None,
    entity=None,
    source: str = Run.Source.UI,
    initial_context: dict | None = None,
    notification_recipients: list[str] | None = None,
    api_key=None,
    idempotency_key: str = "",
    version: WorkflowVersion | None = None,
) -> Run:
    """Create a run of the workflow's current version and queue it.

    Without an initiator, the run waits (PAUSED) for someone to pick the
    initiating user when the workflow needs a person (its forms are only the
    runner's, or it scaffolds); otherwise it runs with its API key's rights.

    Raises EngineError for a bad initialContext (a declared variable of the
    wrong type), a scope mismatch or a workflow without blocks;
    nothing is stored then.
    """
    version = version or workflow.current_version
    if version is None:
        raise EngineError("This workflow has no saved version")
    descriptor = version.descriptor
    if not descriptor.get("actions"):
        raise EngineError("This workflow has no blocks yet: add one before running it")
    initial_context = dict(initial_context or {})
    scope = (descriptor.get("filter") or {}).get("type", "GLOBAL")
    if scope == "ENTITY" and entity is None:
        raise EngineError("This workflow runs on an entity: choose one")
    variables = _initial_variables(descriptor, initial_context)
    # The writes, in one transaction. No savepoint inside a caller's (the
    # API's): it would cost two statements, one of them while the admission
    # lock is held; the checks that raise EngineError come before it.
    with transaction.atomic(savepoint=False):
        now = timezone.now()
        # The initiator's role names and the workspace's secrets in one
        # statement, and the run and its first event by hand-written INSERTs:
        # the ORM's query building cost more CPU than the rest of an API start.
        with connection.cursor() as cursor:
            cursor.execute(
                _START_READS[connection.vendor == "sqlite"],
                [
                    getattr(initiator, "pk", None),
                    *[workflow.workspace_id] * 2,
                    getattr(initiator, "pk", None),
                    workflow.workspace_id,
                ],
            )
            role_names, secret_rows, accounts = (
                json.loads(v) for v in cursor.fetchone()
            )
        # The run keeps the workspace's secrets as they are now (encrypted in
        # its blob): as in Cortex, changing one later changes no run under way.
        workspace_tokens = dict(secret_rows)
        uid = uuid.uuid4()
        entity = entity if scope == "ENTITY" else None
        paused = initiator is None and _needs_initiator(descriptor)
        # One INSERT with the whole starting state:
        run = Run(
            workspace=workflow.workspace,
            uid=uid,
            workflow=workflow,
            version=version,
            status=S.PAUSED if paused else S.QUEUED,
            entity=entity,
            initiator=initiator,
            source=source,
            api_key=api_key,
            idempotency_key=idempotency_key,
            initial_context=initial_context,
            notification_recipients=list(notification_recipients or []),
            cursor={"pending": [root_slug(descriptor)], "joins": [], "steps": 0},
            secrets_blob=_secrets_blob({}, {}, workspace_tokens),
            queued_at=now,
            created_at=now,
            state={
                "context": {
                    "initiatedBy": _person(
                        initiator, workflow.workspace, role_names, accounts
                    ),
                    "workflowRunId": str(uid),
                    "initiatedAtIso8601Timestamp": now.isoformat(
                        timespec="milliseconds"
                    ),
                    "entity": _entity_context(entity),
                    "secrets": dict.fromkeys(workspace_tokens, MASK),
                    "initialContext": initial_context,
                },
                "actions": {},
                "variables": variables,
            },
        )
        rawsql.insert([run])
        if paused:
            _event(run, "created", f"Started via {run.get_source_display()}")
            _event(run, "paused", "Waiting for someone to pick the initiating user")
            notify.run_needs_initiator(run)
            return run
        with rawsql.together():  # one round trip on PostgreSQL
            rawsql.insert(
                [
                    RunEvent(
                        run=run,
                        kind="created",
                        message=f"Started via {run.get_source_display()}",
                        actor=initiator,
                    )
                ],
                pks=False,
            )
            admitted = admit(run.workspace_id)
        if run.pk in admitted:  # the time stored, which the API answers with
            run.status, run.started_at = S.IN_PROGRESS, admitted[run.pk]
        return run


def _may_be_initiator(
    run: Run, membership: Membership, runner, *, by: User, perms
) -> bool:
    """Whether `by` (holding `perms`) may make this member a run's initiating
    user: the run acts with that person's rights, so only themselves, or a
    member who holds no permission `by` lacks; and they must be allowed to run it.
    `runner` is the member as `permissions.Runner` describes them."""
    from .permissions import may_run  # permissions imports the models only

    theirs = membership.permission_set()
    return (
        Permission.EXECUTE_WORKFLOW_RUNS in perms
        and (membership.user_id == by.pk or theirs <= perms)
        and may_run(run.workflow, user=membership.user, perms=theirs, runner=runner)
    )


def _memberships(run: Run):
    return (
        Membership.objects.filter(workspace=run.workspace_id, user__is_active=True)
        .select_related("user")
        .prefetch_related("roles")
    )


def _runners(run: Run, memberships: list[Membership]) -> dict[int, object]:
    """Each member as `permissions.Runner` describes them, from their prefetched
    roles and one query for their teams."""
    from catalog.models import Team

    from .permissions import Runner

    teams: dict[int, list[tuple[int, str]]] = {}
    for user_id, *team in Team.members.through.objects.filter(
        team__workspace=run.workspace_id,
        user__in=[m.user_id for m in memberships],
    ).values_list("user_id", "team_id", "team__tag"):
        teams.setdefault(user_id, []).append(team)
    return {
        m.user_id: Runner.from_rows(
            m.user_id,
            m.user.email,
            teams.get(m.user_id, []),
            [(role.pk, role.name) for role in m.roles.all()],
        )
        for m in memberships
    }


def initiator_choices(run: Run, *, by: User, perms: frozenset[str]) -> list[User]:
    """The members `by` may make the initiating user of a run started without one
    (in three queries, however many members)."""
    if Permission.EXECUTE_WORKFLOW_RUNS not in perms:
        return []
    memberships = list(_memberships(run).order_by("user__email"))
    runners = _runners(run, memberships)
    return [
        m.user
        for m in memberships
        if _may_be_initiator(run, m, runners[m.user_id], by=by, perms=perms)
    ]


@transaction.atomic
def set_initiator(run: Run, *, user: User, by: User, perms: frozenset[str]) -> None:
    """Give a run started without an initiator its initiating user, and resume it."""
    if run.initiator_id is not None or run.status != S.PAUSED:
        raise IllegalTransition("This run does not wait for an initiating user")
    membership = _memberships(run).filter(user=user).first()
    if membership is None or not _may_be_initiator(
        run, membership, _runners(run, [membership])[user.pk], by=by, perms=perms
    ):
        raise NotAllowed(
            f"You may not make {user.email} the initiating user: the run would act"
            " with permissions you don't have, or they may not run this workflow"
        )
    state = run.state
    state["context"]["initiatedBy"] = _person(user, run.workspace)
    updated = Run.objects.filter(
        pk=run.pk, status=S.PAUSED, initiator__isnull=True
    ).update(
        initiator=user,
        state=state,
        status=S.QUEUED,
        queue_priority=Run.Priority.RESUMED,
        queued_at=timezone.now(),
    )
    if not updated:
        raise IllegalTransition("Someone else picked the initiating user first")
    notify.requests_answered(run)
    _event(run, "initiator_set", f"Initiating user set to {user.email}", actor=by)
    admit(run.workspace_id)


# --- admission (the concurrency cap) -------------------------------------------


# Promote the queued runs that fit under the cap, in one statement: the
# candidates in admission order, at most the free slots, and only those still
# QUEUED (a run cancelled meanwhile is left alone); RETURNING says which.
# `{now}` is the time they start: read once, when the statement runs. On
# PostgreSQL a queued run locked by another transaction is passed over
# ({skip}): a cancel holds its run and then asks for the admission lock, so
# waiting for that run while holding the lock would deadlock. A run passed
# over while briefly locked for another reason (an answer that came for it
# just as it went back to the queue) is admitted by the next admission: a run
# ending, or the sweep.
_ADMIT = """
WITH candidates AS (
  SELECT id FROM workflows_run
  WHERE workspace_id = %s AND status = 'QUEUED'
  ORDER BY queue_priority, queued_at, id
  LIMIT (SELECT {greatest}(0, %s - COUNT(*)) FROM workflows_run
         WHERE workspace_id = %s AND status IN ('IN_PROGRESS', 'CANCELLING'))
  {skip}
), started AS {materialized} (SELECT {now} AS at)
UPDATE workflows_run
SET status = 'IN_PROGRESS', lease = NULL, heartbeat_at = (SELECT at FROM started),
    started_at = COALESCE(started_at, (SELECT at FROM started))
WHERE id IN (SELECT id FROM candidates) AND status = 'QUEUED'
RETURNING id, queue_priority, queued_at, started_at
"""
# The admission lock: FOR NO KEY UPDATE, not FOR UPDATE, so that it does not
# block the FOR KEY SHARE that PostgreSQL's foreign-key checks take on the
# workspace row: every INSERT of a row that points at the workspace (an
# Idempotency-Key record, a run, …) would otherwise wait for the admission
# holder's commit. Two admissions still exclude each other.
_ADMISSION_LOCK = "SELECT 1 FROM portal_workspace WHERE id = %s FOR NO KEY UPDATE"


def admit(workspace_id: int) -> dict[int, datetime]:
    """Promote QUEUED runs to IN_PROGRESS while the workspace is under its cap;
    return their ids, in admission order, with the time each started.

    Holds a lock on the workspace row (PostgreSQL) or the database write lock
    (SQLite's IMMEDIATE transactions) until the caller's transaction commits,
    so concurrent admissions can't both see a free slot. Resumed runs go
    first, then first in, first out.

    The lock is held from here to the commit, and every start in the
    workspace waits for it, so callers call this last in their transaction
    and it makes one round trip: on PostgreSQL the lock and the promotion are
    two statements (the promotion's snapshot must be taken after the lock is
    granted, to see the previous holder's promotions) sent together. Inside
    a together() block it makes none, and the list it returns is filled when
    the block ends.
    """
    with transaction.atomic(savepoint=False):  # no partial rollback: no savepoint
        sqlite = connection.vendor == "sqlite"
        if sqlite:  # the write lock is held since BEGIN: the time is now
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            sql = _ADMIT.format(greatest="MAX", materialized="", now="%s", skip="")
            params = [workspace_id, settings.MAX_CONCURRENT_RUNS, workspace_id, now]
        else:
            # The time once the lock is granted (so that runs start in
            # admission order), read once for all the runs admitted:
            sql = _ADMIT.format(
                greatest="GREATEST",
                materialized="MATERIALIZED",
                now="clock_timestamp()",
                skip="FOR UPDATE SKIP LOCKED",
            )
            params = [workspace_id, settings.MAX_CONCURRENT_RUNS, workspace_id]
        candidates: dict[int, datetime] = {}
        cursor = connection.cursor()

        def promote():
            with cursor:
                if client_side:
                    cursor.nextset()
                promoted = sorted(
                    cursor.fetchall(), key=lambda row: (*row[1:3], row[0])
                )
            for pk, _, _, started_at in promoted:
                if isinstance(started_at, str):
                    started_at = parse_datetime(started_at)
                if timezone.is_naive(started_at):  # SQLite's, in UTC
                    started_at = started_at.replace(tzinfo=UTC)
                candidates[pk] = started_at
                _enqueue(pk)

        client_side = not sqlite and isinstance(cursor.cursor, psycopg.ClientCursor)
        if sqlite:
            cursor.execute(sql, params)
        elif client_side:
            # Client-side binding (Django's default) sends both as one text:
            cursor.execute(f"{_ADMISSION_LOCK};\n{sql}", [workspace_id, *params])
        else:
            # Server-side binding takes one statement per execute; a
            # pipeline sends both before waiting for either.
            with rawsql.together():
                cursor.execute(_ADMISSION_LOCK, [workspace_id])
                cursor.execute(sql, params)
                rawsql.after(promote)
            return candidates
        promote()
    return candidates


def _enqueue(run_id: int) -> None:
    from .tasks import advance_run_task

    advance_run_task.delay_on_commit(run_id)


# --- advancing a run ------------------------------------------------------------


@dataclass
class _Secrets:
    paths: dict[str, Any]  # run secrets: "actions.form.outputs.token" -> value
    workspace: dict[str, Any]  # workspace secrets by tag, as the run started
    # Values blocks built from secrets ("Bearer <token>"), by path: revealed to
    # later blocks as secrets are, but not looked for themselves (the secret
    # inside them is), so masking costs the same however many there are.
    derived: dict[str, Any] = field(default_factory=dict)
    changed: bool = False  # since blob() was last called
    # The workspace's secrets as stored (each encrypted), kept in the blob:
    workspace_tokens: dict[str, str] = field(default_factory=dict)
    _blob: str | None = None  # the last blob() while nothing changed
    # Values the workspace's secrets have now and didn't have at the start: never
    # revealed to the run, but masked wherever they turn up (a callee echoing
    # the rotated token, an approver pasting it).
    since: list[str] = field(default_factory=list)

    @property
    def values(self) -> list[str]:
        return _strings(
            list(self.paths.values()) + list(self.workspace.values()) + self.since
        )

    def blob(self) -> str:
        """The run's secrets, encrypted, for Run.secrets_blob."""
        if self.changed or self._blob is None:
            self._blob = _secrets_blob(self.paths, self.derived, self.workspace_tokens)
            self.changed = False
        return self._blob


def _secrets_blob(paths: dict, derived: dict, workspace_tokens: dict) -> str:
    # The workspace's secrets are in it even when empty: the run keeps the
    # ones it started with, as Cortex's context is set when a run begins.
    return encrypt({"paths": paths, "derived": derived, "workspace": workspace_tokens})


def _strings(value: Any) -> list[str]:
    """Every string inside value (secret values can be lists of rows)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def _load_secrets(run: Run, rows: list[tuple[str, str]] | None = None) -> _Secrets:
    """The run's secrets, and the workspace's as they were when it started;
    `rows` are the workspace's (tag, encrypted value) now, read when not given."""
    if rows is None:
        rows = Secret.objects.filter(workspace=run.workspace_id).values_list(
            "tag", "encrypted_value"
        )
    kept = (decrypt(run.secrets_blob) or {}) if run.secrets_blob else {}
    if not set(kept) <= {"paths", "derived", "workspace"}:  # before derived values
        kept = {"paths": kept}
    tokens = kept.get("workspace")
    if tokens is None:  # started before runs kept them: the workspace's secrets now
        tokens = dict(rows)
    # An unchanged secret keeps its stored token: only changed ones are decrypted.
    since = [decrypt(token) for tag, token in rows if tokens.get(tag) != token]
    return _Secrets(
        paths=kept.get("paths", {}),
        derived=kept.get("derived", {}),
        workspace={tag: decrypt(value) for tag, value in tokens.items()},
        workspace_tokens=tokens,
        _blob=run.secrets_blob if "workspace" in kept else None,
        since=[value for value in since if isinstance(value, str)],
    )


def _revealed_state(run: Run, secrets: _Secrets) -> dict:
    """The state a block sees: secrets revealed, in copies of the dicts on their
    paths only (blocks read the state; copying all of it per block is costly)."""
    state = dict(run.state)
    state["context"] = {**state.get("context", {}), "secrets": dict(secrets.workspace)}
    copies = {id(state)}  # each dict or list on the paths is copied once
    for path, value in [*secrets.derived.items(), *secrets.paths.items()]:
        *parents, last = path.split(".")
        node: Any = state
        try:
            for part in parents:
                key = _key(node, part)
                child = node[key] if _has(node, key) else None
                if id(child) not in copies:
                    child = (
                        dict(child)
                        if isinstance(child, dict)
                        else list(child)
                        if isinstance(child, list)
                        else {}
                    )
                    node[key] = child
                    copies.add(id(child))
                node = child
            node[_key(node, last)] = value
        except (IndexError, ValueError):
            continue  # a row that is not there any more: nothing to reveal
    return state


def _key(node: dict | list, part: str) -> str | int:
    """A path part as a dict key, or as an index into a list (a form's rows)."""
    return int(part) if isinstance(node, list) else part


def _has(node: dict | list, key: str | int) -> bool:
    return key in node if isinstance(node, dict) else 0 <= key < len(node)


def _context(run: Run, step: Step, action: dict, secrets: _Secrets) -> BlockContext:
    callback_url = ""
    if step.callback_id:
        callback_url = f"{settings.BASE_URL}/api/v1/workflows/{run.workflow.tag}/callback/{step.callback_id}"
    return BlockContext(
        run=run,
        step=step,
        action=action,
        state=_revealed_state(run, secrets),
        workspace=run.workspace,
        initiator=run.initiator,
        callback_url=callback_url,
        secret_values=tuple(secrets.values),
    )


class _Heartbeat:
    """Refresh the run's heartbeat from a side thread while a block runs."""

    def __init__(self, run_id: int, lease: uuid.UUID):
        self.run_id, self.lease = run_id, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(_heartbeat_every()):
                Run.objects.filter(pk=self.run_id, lease=self.lease).update(
                    heartbeat_at=timezone.now()
                )
        finally:
            connection.close()

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# Side-effect-free blocks completed but not written yet are written together
# with the next write the run needs anyway, or once this long has passed since
# the first of them started:
_BATCH_SECONDS = 1.0
# Before such a block, the run's status is read when it was last known this
# long ago, so a cancel stops a chain of them about this soon, not at the
# next write:
_CANCEL_POLL_SECONDS = 0.02


class _Batch:
    """Completed steps of side-effect-free blocks, not written yet.

    Such a block changes nothing outside the run, so if the worker dies before
    the batch is written the block simply runs again: no completed step (as
    stored) ever repeats. Writing them with the next write the run needs (a
    block with side effects, a pause, the end, the slice) saves two
    transactions per block.
    """

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.events: list[RunEvent] = []
        self.since = 0.0
        # When the run's status was last known: read (the claim, just before
        # the batch is made; _cancel_requested) or confirmed by a guarded write.
        self.polled = time.monotonic()
        self.secrets_blob: str | None = None  # the run's secrets, when they changed

    def begin(self) -> None:
        """A side-effect-free block starts: the first of a batch starts its clock."""
        if not self.steps:
            self.since = time.monotonic()

    def add(self, steps: list[Step], event: RunEvent) -> None:
        self.steps += steps
        self.events.append(event)

    def due(self) -> bool:
        return bool(self.steps) and time.monotonic() - self.since > _BATCH_SECONDS

    def write(self, *extra_steps: Step, events: tuple[RunEvent, ...] = ()) -> None:
        """Insert the batch (and extra rows) and empty it; inside the caller's
        transaction. One round trip on PostgreSQL, or none inside a together()
        block (which sends it)."""
        self.send(*extra_steps, events=events)
        self.clear()

    def send(self, *extra_steps: Step, events: tuple[RunEvent, ...] = ()) -> None:
        """`write`, keeping the batch: for a write that may yet be undone."""
        with rawsql.together():
            rawsql.insert([*self.events, *events], pks=False)
            rawsql.insert([*self.steps, *extra_steps])

    def clear(self) -> None:
        self.steps, self.events, self.secrets_blob = [], [], None


def _hold(
    run: Run, lease: uuid.UUID, batch: _Batch, *new_steps: Step, release=False
) -> bool:
    """Write the run's state from memory, the batch and new steps, if the run is
    still ours and running.

    The lease holder is the only writer of a running run's state and cursor.
    First in the caller's transaction (an atomic block of its own). The rows
    go with the guarded update, in one round trip on PostgreSQL, as the run
    is nearly always still ours. False when a cancel or another worker got
    there first; then the caller's transaction is rolled back at its end,
    except that a cancelled run keeps the batch, whose blocks did complete.
    """
    # No heartbeat_at here: the heartbeat thread keeps it, and leaving indexed
    # columns alone lets PostgreSQL update the row in place (a HOT update).
    fields = {"state": run.state, "cursor": run.cursor}
    if batch.secrets_blob is not None:
        fields["secrets_blob"] = batch.secrets_blob
    if release:  # end of the slice: let the next delivery claim it
        fields["lease"] = None
    with rawsql.together():
        ours = rawsql.update_later(
            Run, fields, pk=run.pk, lease=lease, status=S.IN_PROGRESS
        )
        batch.send(*new_steps)
    if ours.rowcount:
        batch.clear()
        batch.polled = time.monotonic()
        return True
    # Cancelled meanwhile: the batched blocks did complete, so keep them.
    fields.pop("lease", None)
    if batch.steps and rawsql.update(
        Run,
        fields,
        pk=run.pk,
        lease=lease,
        status=S.CANCELLING,
    ):
        if new_steps:  # the block won't run
            Step.objects.filter(pk__in=[step.pk for step in new_steps]).delete()
        batch.clear()
    else:
        transaction.set_rollback(True)
    return False


def _claim(run_id: int, lease: uuid.UUID) -> tuple[Run, _Secrets] | None:
    """Take the run's lease if it is running and no one holds a fresh one; then
    the run with its workspace, workflow, version and initiator, and the
    secrets. Once per slice, so written by hand (see portal.rawsql), and in one
    round trip on PostgreSQL."""
    now = timezone.now()
    lease_field, at = Run._meta.get_field("lease"), Run._meta.get_field("heartbeat_at")
    with (
        connection.cursor() as claim,
        connection.cursor() as load,
        connection.cursor() as secrets,
    ):
        with rawsql.together():
            claim.execute(
                "UPDATE workflows_run SET lease = %s, heartbeat_at = %s,"
                " lease_holder = %s WHERE id = %s AND status = %s"
                " AND (lease IS NULL OR heartbeat_at IS NULL OR heartbeat_at < %s)",
                [
                    lease_field.get_db_prep_value(lease, connection),
                    at.get_db_prep_value(now, connection),
                    holder.name(lease),
                    run_id,
                    S.IN_PROGRESS,
                    at.get_db_prep_value(now - _stale_after(), connection),
                ],
            )
            # Read whether or not the claim took: a lost claim is rare.
            load.execute(_run_query(), [run_id])
            secrets.execute(_SECRETS_QUERY, [run_id])
        claimed = claim.rowcount
        row = load.fetchone()
        secret_rows = secrets.fetchall()
    if row is None:
        return None
    models = (Run, Workspace, Workflow, WorkflowVersion, User)
    *parts, signing_token = rawsql.split_row(row, *models)
    run, workspace, workflow, version, initiator = (
        rawsql.from_row(model, connection, values)
        for model, values in zip(models, parts, strict=True)
    )
    signing.preload(workspace, signing_token)  # for HTTP blocks, this slice
    if not claimed and not _take_over(run, lease):
        return None
    run.workspace, run.workflow, run.version = workspace, workflow, version
    run.initiator = initiator
    return run, _load_secrets(run, secret_rows)


def _take_over(run: Run, lease: uuid.UUID) -> bool:
    """Take the lease of a running run whose holder, a process on this machine,
    has died: a worker killed with SIGKILL leaves a fresh heartbeat behind, and
    its runs would otherwise wait RUN_STALE_SECONDS for the sweep."""
    if run.status != S.IN_PROGRESS or not holder.is_dead(run.lease_holder, run.lease):
        return False  # alive, or elsewhere: the heartbeat decides
    now, me = timezone.now(), holder.name(lease)
    took = Run.objects.filter(pk=run.pk, status=S.IN_PROGRESS, lease=run.lease).update(
        lease=lease, heartbeat_at=now, lease_holder=me
    )
    if took:
        log.warning(
            "Run %s: its worker (%s) has died; taking it over", run.pk, run.lease_holder
        )
        run.lease, run.heartbeat_at, run.lease_holder = lease, now, me
    return bool(took)


# The workspace's secrets now (to mask values changed since the run started),
# by the run's id (not known to be claimed yet):
_SECRETS_QUERY = (
    "SELECT tag, encrypted_value FROM workflows_secret"
    " WHERE workspace_id = (SELECT workspace_id FROM workflows_run WHERE id = %s)"
)


@functools.cache
def _run_query() -> str:
    return (
        "SELECT {}, {}, {}, {}, {}, {} FROM workflows_run r"
        " JOIN portal_workspace ws ON ws.id = r.workspace_id"
        " JOIN workflows_workflow wf ON wf.id = r.workflow_id"
        " JOIN workflows_workflowversion v ON v.id = r.version_id"
        " LEFT JOIN portal_user u ON u.id = r.initiator_id"
        " WHERE r.id = %s"
    ).format(
        *(
            rawsql.columns(model, alias, connection)
            for model, alias in (
                (Run, "r"),
                (Workspace, "ws"),
                (Workflow, "wf"),
                (WorkflowVersion, "v"),
                (User, "u"),
            )
        ),
        signing.SUBQUERY.format("r.workspace_id"),
    )


def advance(run_id: int) -> None:
    """Run the run's next blocks until it pauses, ends, or its time slice is used up.

    Safe to call twice for the same run: only the holder of the lease works.
    """
    try:
        _advance(run_id)
    except Run.DoesNotExist:
        # Its workflow was deleted (with its runs) while the run was queued or running.
        log.info("Run %s no longer exists; nothing to advance", run_id)


def _advance(run_id: int) -> None:
    lease = uuid.uuid4()
    claimed = _claim(run_id, lease)
    if claimed is None:
        _finish_cancelling_if_idle(run_id)
        return
    # Secrets are read once per slice; _record keeps them up to date.
    run, secrets = claimed
    # Steps that exist already (after a crash or a redelivery), loaded once;
    # a run that has recorded none says so in its cursor.
    steps = (
        {}
        if run.cursor.get("steps") == 0
        else dict(run.steps.values_list("slug", "status"))
    )
    with _Heartbeat(run.pk, lease):
        try:
            _walk(run, lease, secrets, steps)
        except IntegrityError:
            # What it wrote repeats steps that a worker which took the run
            # over (this one stalled past RUN_STALE_SECONDS) has written since:
            # the transaction is undone, and the run is the other worker's.
            if Run.objects.filter(pk=run.pk, lease=lease).exists():
                raise
            log.warning("Run %s: taken over by another worker; giving it up", run.pk)


def _walk(run: Run, lease: uuid.UUID, secrets: _Secrets, steps: dict[str, str]) -> None:
    """The slice: run blocks until the run pauses, ends or the slice is over."""
    deadline = time.monotonic() + _slice_seconds()
    batch, ran = _Batch(), 0
    while True:
        if run.lease != lease:
            return  # another worker took over
        if run.status == S.CANCELLING:
            _finish_cancel(run)
            return
        if run.status != S.IN_PROGRESS:
            return
        pending = [
            slug
            for slug in run.cursor.get("pending", [])
            if steps.get(slug) not in (StepS.COMPLETED, StepS.SKIPPED)
        ]
        if not pending:
            open_steps = any(
                s not in (StepS.COMPLETED, StepS.SKIPPED) for s in steps.values()
            )
            if _end(run, S.COMPLETED, lease=lease, batch=batch, open_steps=open_steps):
                return
            with transaction.atomic():
                _hold(run, lease, batch)  # cancelled at the last moment
            run.refresh_from_db(fields=["status", "lease", "cursor", "state"])
            continue
        if ran and time.monotonic() > deadline:  # at least one block per slice
            with transaction.atomic():
                if _hold(run, lease, batch, release=True):
                    _enqueue(run.pk)
            return
        if _cancel_requested(run, batch):
            with transaction.atomic():
                _hold(run, lease, batch)  # the blocks that did complete
            run.refresh_from_db(fields=["status", "lease", "cursor", "state"])
            continue
        ran += 1
        if not _run_step(run, pending[0], lease, secrets, steps, batch):
            # Cancelled, failed or taken over meanwhile: look at the row again.
            run.refresh_from_db(fields=["status", "lease", "cursor", "state"])
            if run.status == S.IN_PROGRESS and run.lease == lease:
                return  # nothing more this worker can do


def _cancel_requested(run: Run, batch: _Batch) -> bool:
    """Whether the run was cancelled, read before a block when the status was
    last known _CANCEL_POLL_SECONDS ago or more (the time blocks took counts:
    a run whose blocks are quick reads nothing)."""
    now = time.monotonic()
    if now - batch.polled < _CANCEL_POLL_SECONDS:
        return False
    batch.polled = now
    status = Run.objects.filter(pk=run.pk).values_list("status", flat=True).first()
    return status != S.IN_PROGRESS


def _execute(block, run: Run, step: Step, action: dict, secrets: _Secrets) -> Outcome:
    try:
        ctx = _context(
            run, step, _with_declared(action, run.version.descriptor), secrets
        )
        return _storable(block.execute(ctx), step.type)
    except (BlockFailed, TemplateError) as exc:
        return Outcome.failed(str(exc))
    except Exception as exc:  # a bug in a block must fail the step, not kill the worker
        log.exception("Block %s of run %s crashed", step.slug, run.pk)
        return Outcome.failed(
            f"Internal error in {step.type} block: {exc.__class__.__name__}"
        )


# What one step may add to the run state (an HTTP body is at most 5 MiB):
STEP_MAX_CHARS = 8_000_000


def _storable(outcome: Outcome, block_type: str) -> Outcome:
    """The outcome, or a failure naming what in it the database can't store
    (NaN in an HTTP response's JSON, a date, too much text…)."""
    try:
        check_storable(outcome.inputs, "inputs", max_chars=STEP_MAX_CHARS)
    except Unstorable as exc:
        return Outcome.failed(f"The {block_type} block's {exc}")
    try:
        check_storable(outcome.outputs, "outputs", max_chars=STEP_MAX_CHARS)
        if outcome.variables is not None:
            check_storable(outcome.variables, "variables", max_chars=STEP_MAX_CHARS)
    except Unstorable as exc:  # what was asked stays shown (the URL called…)
        return Outcome.failed(f"The {block_type} block's {exc}", inputs=outcome.inputs)
    return outcome


def _run_step(
    run: Run,
    slug: str,
    lease: uuid.UUID,
    secrets: _Secrets,
    steps: dict[str, str],
    batch: _Batch,
) -> bool:
    """Run one block and record its outcome; False if the run was not ours to move on.

    A new side-effect-free block runs before anything is written and, once
    completed, joins the batch. Any other block has its step row written
    (with the batch) before it runs, so a crash mid-block is seen as one.
    `steps` maps the run's existing step slugs to their status; it is kept
    up to date here, so the common case costs no lookup.
    """
    descriptor = run.version.descriptor
    action = actions_by_slug(descriptor).get(slug)
    if action is None:
        _fail(run, lease, None, f"Action '{slug}' is not in the workflow", batch=batch)
        return False
    block_type = action.get("schema", {}).get("type", "")
    try:
        block = get_block(block_type)
    except BlockFailed as exc:
        block, unknown = None, str(exc)
    now = timezone.now()
    outcome = None
    if slug not in steps:
        position = run.cursor.get("steps", 0) + 1
        run.cursor["steps"] = position
        step = Step(
            run=run,
            slug=slug,
            type=block_type,
            name=action.get("name", slug),
            position=position,
            status=StepS.RUNNING,
            started_at=now,
            callback_id=uuid.uuid4() if block_type == "HTTP_REQUEST_ASYNC" else None,
        )
        if block is not None and not block.side_effects:
            batch.begin()
            outcome = _execute(block, run, step, action, secrets)
            if outcome.status == "COMPLETED" and not outcome.secrets:
                return _batch_step(
                    run, step, action, outcome, secrets, lease, steps, batch
                )
        with transaction.atomic():
            if not _hold(run, lease, batch, step):
                return False
    else:
        with transaction.atomic():
            # Still ours and still running? (A cancel or a takeover stops here.)
            if not _hold(run, lease, batch):
                return False
            step = Step.objects.get(run=run, slug=slug)
            if step.status == StepS.RUNNING:
                # The worker that ran it died mid-block: retry, and say so.
                if step.attempt >= settings.RUN_BLOCK_MAX_ATTEMPTS:
                    _fail(
                        run,
                        lease,
                        step,
                        f"The block was interrupted {step.attempt} times (its worker"
                        " died each time); not retrying again",
                    )
                    return False
                step.attempt += 1  # started_at stays the first attempt's
                step.save(update_fields=["attempt"])
                _event(
                    run,
                    "step_retried",
                    f"Retrying {step.name or slug} (attempt {step.attempt})",
                    step=slug,
                )
            elif step.status == StepS.FAILED:
                _fail(run, lease, step, step.error)  # failed just before a crash
                return False
            elif step.status == StepS.PENDING:
                step.status, step.started_at = StepS.RUNNING, now
                if block_type == "HTTP_REQUEST_ASYNC" and step.callback_id is None:
                    step.callback_id = uuid.uuid4()
                step.save(update_fields=["status", "started_at", "callback_id"])
            else:
                return False
    steps[slug] = StepS.RUNNING
    if outcome is None:
        outcome = (
            Outcome.failed(unknown)
            if block is None
            else _execute(block, run, step, action, secrets)
        )
    skipped = _record(run, step, action, outcome, secrets, lease=lease)
    if skipped is not None:  # written under the guard: the run still runs
        batch.polled = time.monotonic()
    if outcome.status == "WAITING" and outcome.waiting_for == "CALLBACK":
        _apply_early_callback(step.pk)  # one that came before the block waited
    if skipped is None or outcome.status != "COMPLETED":
        return False
    steps[slug] = StepS.COMPLETED
    steps.update(dict.fromkeys(skipped, StepS.SKIPPED))
    return True


def _batch_step(
    run: Run,
    step: Step,
    action: dict,
    outcome: Outcome,
    secrets: _Secrets,
    lease: uuid.UUID,
    steps: dict[str, str],
    batch: _Batch,
) -> bool:
    """Record a completed side-effect-free block in memory (see _Batch)."""
    now = timezone.now()
    fields = _outcome_fields(run, step, outcome, secrets)
    if secrets.changed:  # written with the batch, so a later slice has them
        batch.secrets_blob = secrets.blob()
    skipped = _advance_cursor(run, action, outcome) - steps.keys()
    step.status, step.finished_at = StepS.COMPLETED, now
    step.inputs, step.outputs = fields["inputs"], fields["outputs"]
    batch.add(
        [step, *_skipped_steps(run, skipped)],
        RunEvent(
            run=run,
            kind="step_completed",
            message=f"{step.name or step.slug} completed",
            step_slug=step.slug,
            created_at=now,
        ),
    )
    steps[step.slug] = StepS.COMPLETED
    steps.update(dict.fromkeys(skipped, StepS.SKIPPED))
    if batch.due():
        with transaction.atomic():
            return _hold(run, lease, batch)
    return True


def _with_declared(action: dict, descriptor: dict) -> dict:
    """The action with the declared variables' types (`_declared`), for the
    blocks that set variables: SET_VARIABLES, and USER_INPUT's write-back."""
    if action.get("schema", {}).get("type") not in ("SET_VARIABLES", "USER_INPUT"):
        return action
    declared = {
        slug: v.get("type", "STRING")
        for slug, v in _declared_variables(descriptor).items()
    }
    return {**action, "_declared": declared}


def _successors(
    descriptor: dict, action: dict, outcome: Outcome, joins: list[str]
) -> tuple[list[str], list[str]]:
    """The slugs to run next, and the joins left behind. `joins` is the stack
    of the joining actions of the branches the path is inside (innermost
    last); changed in place."""
    if action.get("schema", {}).get("type") == "CONDITIONAL_BRANCH":
        join = action["schema"].get("joiningAction")
        if outcome.branch:
            if outcome.branch in joins:  # straight to an enclosing branch's join
                left = _unwind(joins, outcome.branch)
                if join and join != outcome.branch:
                    left.append(join)  # this branch's own join, gone past too
                return [outcome.branch], left
            # The path goes on at the join when it ends; a path that *is* the
            # join (the branch points straight at it) has nothing to come back to.
            if join and outcome.branch != join:
                joins.append(join)
            return [outcome.branch], []
        if join:
            return [join], []
        # No path taken and no join: this branch ends here, so the path it is
        # on (inside an outer branch) goes on at that branch's join.
        return ([joins.pop()] if joins else []), []
    following = list(action.get("outgoingActions") or [])
    if len(following) == 1 and following[0] in joins:
        # The path reached a join by an edge: its own branch's, or an outer
        # one's, leaving the branches in between (their joins don't run).
        return following, _unwind(joins, following[0])
    if not following and joins:
        return [joins.pop()], []  # the branch path ended: continue at the join
    return following, []


def _unwind(joins: list[str], join: str) -> list[str]:
    """Pop the stack down to `join`, reached now; the joins above it, left behind."""
    at = len(joins) - 1 - joins[::-1].index(join)
    left = joins[at + 1 :]
    del joins[at:]
    return left


def _reach(actions: dict, starts, stop: set[str]) -> set[str]:
    """The blocks reachable from `starts` without passing a slug in `stop`."""
    seen: set[str] = set()
    stack = [s for s in starts if s]
    while stack:
        slug = stack.pop()
        if slug in seen or slug in stop or slug not in actions:
            continue
        seen.add(slug)
        stack.extend(actions[slug].get("outgoingActions") or [])
        # A branch nested in the path goes on at its own join:
        if actions[slug].get("schema", {}).get("type") == "CONDITIONAL_BRANCH":
            stack.append(actions[slug]["schema"].get("joiningAction"))
    return seen


def _skipped_by_branch(
    descriptor: dict, action: dict, outcome: Outcome, enclosing: set[str]
) -> set[str]:
    """Blocks only reachable through the branch targets that were not taken,
    up to the branch's join or the join of a branch it is inside."""
    if action.get("schema", {}).get("type") != "CONDITIONAL_BRANCH":
        return set()
    actions = actions_by_slug(descriptor)
    stop = {action["schema"].get("joiningAction"), *enclosing}
    taken = _reach(actions, [outcome.branch], stop)
    others = _reach(
        actions,
        [t for t in action.get("outgoingActions") or [] if t != outcome.branch],
        stop,
    )
    return others - taken


def _outcome_fields(run: Run, step: Step, outcome: Outcome, secrets: _Secrets) -> dict:
    """Scrub an outcome of secrets and put it into run.state (in memory).

    Returns the step's fields: inputs, outputs, error.
    """
    if outcome.secrets:
        secrets.paths.update(outcome.secrets)
        secrets.changed = True
    known = secrets.values
    inputs, outputs = scrub(outcome.inputs, known), scrub(outcome.outputs, known)
    state = run.state
    state.setdefault("actions", {})[step.slug] = {"inputs": inputs, "outputs": outputs}
    prefix = f"actions.{step.slug}"
    _forget_derived(secrets, lambda path: path.startswith(f"{prefix}."))  # replaced
    derived = _derived(f"{prefix}.inputs", outcome.inputs, inputs)
    derived |= _derived(f"{prefix}.outputs", outcome.outputs, outputs)
    if outcome.variables:
        variables = scrub(outcome.variables, known)
        state.setdefault("variables", {}).update(variables)
        _forget_derived(  # set again: the old values are gone
            secrets,
            lambda path: (
                path.startswith("variables.") and path.split(".")[1] in variables
            ),
        )
        derived |= _derived("variables", outcome.variables, variables)
    _keep_derived(secrets, derived)
    error = scrub_message(outcome.error, known)
    return {"inputs": inputs, "outputs": outputs, "error": error}


# What a run keeps of values built from secrets, in characters. Past it they
# stay masked for later blocks too (which then get "********").
_DERIVED_MAX = 1_000_000


def _forget_derived(secrets: _Secrets, gone: Callable[[str], bool]) -> None:
    for path in [p for p in secrets.derived if gone(p)]:
        del secrets.derived[path]
        secrets.changed = True


def _keep_derived(secrets: _Secrets, found: dict[str, Any]) -> None:
    if not found:
        return
    room = _DERIVED_MAX - sum(len(str(v)) for v in secrets.derived.values())
    for path, value in found.items():
        room -= len(str(value))
        if room < 0:
            break
        secrets.derived[path] = value
        secrets.changed = True


def _derived(path: str, clear: Any, masked: Any) -> dict[str, Any]:
    """The texts (and numbers) inside clear that held a secret (masking changed
    them), by path, as they were: later blocks see them so (a header a script
    built from a secret, a variable set from one), while the stored state has
    them masked. Those under a key that was masked, or has a dot, can't be named
    by a path."""
    if clear == masked:
        return {}
    if isinstance(clear, str | int | float):
        return {path: clear}
    found: dict[str, Any] = {}
    if (
        isinstance(clear, dict)
        and isinstance(masked, dict)
        and len(clear) == len(masked)
    ):
        for (key, value), (masked_key, masked_value) in zip(
            clear.items(), masked.items(), strict=True
        ):
            if key == masked_key and isinstance(key, str) and "." not in key:
                found |= _derived(f"{path}.{key}", value, masked_value)
    elif isinstance(clear, list) and isinstance(masked, list):
        for index, (value, masked_value) in enumerate(zip(clear, masked, strict=True)):
            found |= _derived(f"{path}.{index}", value, masked_value)
    return found


def _advance_cursor(run: Run, action: dict, outcome: Outcome) -> set[str]:
    """Move run.cursor (in memory) past a completed step; the slugs its branch skipped."""
    descriptor = run.version.descriptor
    cursor = run.cursor
    joins = list(cursor.get("joins", []))
    enclosing = set(joins)
    pending = [s for s in cursor.get("pending", []) if s != action["slug"]]
    following, left = _successors(descriptor, action, outcome, joins)
    run.cursor = {**cursor, "pending": following + pending, "joins": joins}
    skipped = _skipped_by_branch(descriptor, action, outcome, enclosing)
    if left:  # joins the path went past, and what only they lead to
        stop = {*joins, *following}
        skipped |= _reach(actions_by_slug(descriptor), left, stop)
    return skipped


def _skipped_steps(run: Run, skipped: set[str]) -> list[Step]:
    actions = actions_by_slug(run.version.descriptor)
    return [
        Step(
            run=run,
            slug=slug,
            type=actions[slug].get("schema", {}).get("type", ""),
            name=actions[slug].get("name", slug),
            status=StepS.SKIPPED,
        )
        for slug in sorted(skipped)
    ]


def _record(
    run: Run,
    step: Step,
    action: dict,
    outcome: Outcome,
    secrets: _Secrets,
    *,
    lease: uuid.UUID | None,
    by: User | None = None,
) -> set[str] | None:
    """Store a block's outcome and move the run on, in one transaction.

    With a lease (a worker ran the block) the lease holder is the only writer
    of the run's state and cursor, so they are written from memory, guarded
    by the lease. Without one (a person or a callback resumed a paused run)
    the row is locked and read first. Returns the slugs skipped by a branch,
    or None when the run is not ours any more or is being cancelled.
    """
    now = timezone.now()
    with transaction.atomic():
        live = Run.objects.filter(pk=run.pk)
        if lease is None:
            current = live.select_for_update().values_list("status", flat=True).first()
            run.refresh_from_db()
        else:
            live = live.filter(lease=lease)
            current = S.IN_PROGRESS  # checked by the guarded writes below
        step_fields = {
            **_outcome_fields(run, step, outcome, secrets),
            "completed_by": by,
        }
        state = run.state
        blob = secrets.blob()

        if outcome.status == "COMPLETED":
            skipped = _advance_cursor(run, action, outcome)
            if skipped:  # a block some other path ran already stays as it is
                skipped -= set(
                    Step.objects.filter(run=run, slug__in=skipped).values_list(
                        "slug", flat=True
                    )
                )
            fields = {
                "state": state,
                "cursor": run.cursor,
                "secrets_blob": blob,
            }  # no heartbeat_at: see _hold
            if current == S.PAUSED:
                # Resumed by a person or a callback: back in the queue, ahead of new runs.
                fields.update(
                    status=S.QUEUED,
                    queue_priority=Run.Priority.RESUMED,
                    queued_at=now,
                    lease=None,
                )
            ours = {"pk": run.pk} if lease is None else {"pk": run.pk, "lease": lease}
            name = step.name or step.slug
            events = [
                RunEvent(
                    run=run,
                    kind="step_completed",
                    message=f"{name} completed",
                    step_slug=step.slug,
                    actor=by,
                    created_at=now,
                )
            ]
            if current == S.PAUSED:
                events.append(
                    RunEvent(run=run, kind="resumed", message="Run resumed", actor=by)
                )
            # Sent with the guarded update, in one round trip on PostgreSQL:
            with rawsql.together():
                moved = rawsql.update_later(
                    Run, fields, **ours, status=[S.IN_PROGRESS, S.PAUSED]
                )
                rawsql.update_later(
                    Step,
                    {
                        "status": StepS.COMPLETED,
                        "finished_at": now,
                        "waiting_for": "",
                        **step_fields,
                    },
                    pk=step.pk,
                )
                _Batch().write(*_skipped_steps(run, skipped), events=tuple(events))
                if current == S.PAUSED:
                    admit(run.workspace_id)
            cancelling = False
            if not moved.rowcount:
                # A cancel came while the block ran: record it, then stop.
                if lease is None or not rawsql.update(Run, fields, **ours):
                    # Lost the lease: another worker owns the run now.
                    transaction.set_rollback(True)
                    return None
                cancelling = True
            for name, value in fields.items():
                setattr(run, name, value)
            return None if cancelling else skipped

        if outcome.status == "WAITING":
            if lease is None:
                paused = live.update(state=state, secrets_blob=blob)
            else:
                paused = live.filter(status=S.IN_PROGRESS).update(
                    state=state, secrets_blob=blob, status=S.PAUSED, lease=None
                )
                if not paused:
                    current = live.values_list("status", flat=True).first()
                    if current is None:
                        return None
                    live.update(
                        state=state, secrets_blob=blob
                    )  # CANCELLING: closes below
            Step.objects.filter(pk=step.pk).update(
                status=StepS.WAITING,
                waiting_for=outcome.waiting_for,
                deadline_at=outcome.deadline or step.deadline_at,
                **step_fields,
            )
            run.state = state
            if current == S.IN_PROGRESS:
                run.status = S.PAUSED
                message = _waiting_message(outcome.waiting_for, step)
                _event(run, "paused", message, step=step.slug)
                notify.run_waiting(run, step, outcome.waiting_for)
                admit(run.workspace_id)
            elif current == S.CANCELLING:
                _finish_cancel(run)
            return set()

        if not live.update(state=state):
            return None
        Step.objects.filter(pk=step.pk).update(
            status=StepS.FAILED,
            finished_at=now,
            waiting_for="",
            early_callback=None,
            **step_fields,
        )
        run.refresh_from_db()
        _fail(run, lease, step, step_fields["error"] or "The block failed", by=by)
        return set()


def _waiting_message(waiting_for: str, step: Step) -> str:
    return {
        "USER_INPUT": f"Waiting for input in {step.name or step.slug}",
        "MANUAL_APPROVAL": f"Waiting for approval in {step.name or step.slug}",
        "CALLBACK": f"Waiting for the callback of {step.name or step.slug}",
    }.get(waiting_for, f"Waiting in {step.slug}")


# --- ending a run ----------------------------------------------------------------


def _render_response(run: Run, template_key: str) -> str:
    template = run.version.descriptor.get(template_key) or ""
    if not template:
        return ""
    try:
        return render(template, run.state)
    except Exception as exc:  # a broken template must not hide the run's outcome
        return f"(The response template could not be rendered: {exc})"


def _end(
    run: Run,
    status: str,
    *,
    error: str = "",
    lease=None,
    expected=(S.IN_PROGRESS,),
    batch: _Batch | None = None,
    open_steps: bool = True,
) -> bool:
    """End the run in one transaction: its row, any batched steps, the steps
    still open (cancelled), the event, the notifications and admission. All
    are sent with the guarded update of the row, in one round trip on
    PostgreSQL, and undone in the rare case that the run was not as expected."""
    template = (
        "runResponseTemplate" if status == S.COMPLETED else "failedRunResponseTemplate"
    )
    if not lease:
        run.refresh_from_db(fields=["state"])
    # Before the transaction: a big template takes a while, and SQLite's
    # write lock would be held for all of it.
    response = _render_response(run, template) if status != S.CANCELLED else ""
    batch = batch or _Batch()
    # A savepoint when called inside another transaction, so that undoing
    # this leaves the caller's writes alone:
    with transaction.atomic():
        ours = {"pk": run.pk, "status": list(expected)}
        if lease:
            ours["lease"] = lease
        now = timezone.now()
        fields = {
            "status": status,
            "error": error,
            "response": response,
            "finished_at": now,
            "lease": None,
            "secrets_blob": "",  # secret values live only as long as the run
        }
        if lease:  # the lease holder's state and cursor are in memory
            fields.update(state=run.state, cursor=run.cursor)
        was = {name: getattr(run, name) for name in fields}
        for name, value in fields.items():
            setattr(run, name, value)  # the notifications read the status
        ended = RunEvent(
            run=run,
            kind=status.lower(),
            message=error or run.get_status_display(),
            created_at=now,
        )
        with rawsql.together():
            ended_now = rawsql.update_later(Run, fields, **ours)
            batch.send(events=(ended,))
            if open_steps:
                Step.objects.filter(
                    run=run, status__in=[StepS.WAITING, StepS.PENDING, StepS.RUNNING]
                ).update(
                    status=StepS.CANCELLED,
                    finished_at=now,
                    early_callback=None,
                    waiting_for="",  # as any ended step: it waits no more
                )
                notify.requests_answered(run)  # a step that waited asks no more
            notify.run_ended(run)
            admit(run.workspace_id)
        if not ended_now.rowcount:
            transaction.set_rollback(True)  # mails and enqueues go with it
            for name, value in was.items():
                setattr(run, name, value)
            return False
    batch.clear()
    return True


def _fail(
    run: Run,
    lease,
    step: Step | None,
    error: str,
    *,
    by: User | None = None,
    batch: _Batch | None = None,
) -> None:
    if (
        run.status == S.CANCELLING
        or Run.objects.filter(pk=run.pk, status=S.CANCELLING).exists()
    ):
        _finish_cancel(run)
        return
    where = f"{step.name or step.slug}: " if step else ""
    if step is not None:
        # The step that failed says why (the run's end cancels the other open ones).
        Step.objects.filter(
            pk=step.pk, status__in=[StepS.RUNNING, StepS.PENDING, StepS.WAITING]
        ).update(
            status=StepS.FAILED,
            error=error,
            finished_at=timezone.now(),
            waiting_for="",
            early_callback=None,
        )
    _end(
        run,
        S.FAILED,
        error=f"{where}{error}",
        lease=lease,
        expected=(S.IN_PROGRESS, S.PAUSED),
        batch=batch,
    )


def _finish_cancel(run: Run) -> None:
    _end(run, S.CANCELLED, expected=(S.CANCELLING, S.PAUSED, S.QUEUED))


def _abandoned(run: Run) -> bool:
    """No worker holds the run: none took it, its heartbeat is stale, or the
    process that holds it, on this machine, has died."""
    stale = timezone.now() - _stale_after()
    return (
        run.lease is None
        or run.heartbeat_at is None
        or run.heartbeat_at < stale
        or holder.is_dead(run.lease_holder, run.lease)
    )


def _finish_cancelling_if_idle(run_id: int) -> None:
    """A CANCELLING run nobody holds (its worker died) becomes CANCELLED."""
    run = Run.objects.filter(pk=run_id, status=S.CANCELLING).first()
    if run and _abandoned(run):
        _finish_cancel(run)


# --- people and callers acting on a paused run --------------------------------------


def cancel(run: Run, *, by: User | None) -> str:
    """Cancel a queued, running or paused run; completed blocks stay as they are.

    A run with a block in flight becomes CANCELLING until its worker stops it.
    Returns the new status.
    """
    if run.status not in CANCELLABLE_STATUSES:
        raise IllegalTransition(
            f"A run that is {run.get_status_display().lower()} can't be canceled"
        )
    with transaction.atomic():
        # An answer resuming the run (or a block pausing it) can land between
        # two tries: try again while the run is still cancellable.
        for _ in range(5):
            if Run.objects.filter(pk=run.pk, status=S.IN_PROGRESS).update(
                status=S.CANCELLING
            ):
                _event(run, "cancel_requested", "Cancel requested", actor=by)
                run.refresh_from_db()
                if run.lease is None:
                    _finish_cancel(run)  # admitted but not picked up by a worker yet
                    run.refresh_from_db()
                return run.status
            if Run.objects.filter(pk=run.pk, status__in=[S.QUEUED, S.PAUSED]).update(
                status=S.CANCELLING
            ):
                _event(run, "cancel_requested", "Cancel requested", actor=by)
                _finish_cancel(run)
                run.refresh_from_db()
                return run.status
            run.refresh_from_db(fields=["status"])
            if run.status not in CANCELLABLE_STATUSES:
                break
    run.refresh_from_db()
    raise IllegalTransition(
        f"A run that is {run.get_status_display().lower()} can't be canceled"
    )


def _lock_run(run_id: int) -> None:
    """Lock the run's row before its steps', as cancel and _record do: writers
    that took a step and then the run deadlocked with a cancel on PostgreSQL."""
    Run.objects.select_for_update().filter(pk=run_id).values_list("pk").first()


def _waiting_step(run: Run, step: Step, waiting_for: str) -> None:
    run.refresh_from_db()
    step.refresh_from_db()
    if (
        run.status != S.PAUSED
        or step.status != StepS.WAITING
        or step.waiting_for != waiting_for
    ):
        raise NotWaiting("This step is no longer waiting")
    if step.deadline_at and step.deadline_at < timezone.now():
        # Past its timeout: failed now, not when the sweep next looks.
        _time_out(run, step)
        raise NotWaiting(_timed_out(step))


def _timed_out(step: Step) -> str:
    return f"Timed out: no answer by {step.deadline_at:%Y-%m-%d %H:%M:%S} UTC"


def _time_out(run: Run, step: Step) -> bool:
    """Fail a waiting step past its deadline, and its run; False if it no
    longer waits (answered or timed out meanwhile)."""
    message = _timed_out(step)
    with transaction.atomic():
        _lock_run(run.pk)
        if not Step.objects.filter(pk=step.pk, status=StepS.WAITING).update(
            status=StepS.FAILED,
            error=message,
            finished_at=timezone.now(),
            waiting_for="",  # as any failed step: it waits no more
            early_callback=None,
        ):
            return False
        _fail(run, None, step, message)
    return True


def may_complete_input(run: Run, user: User) -> bool:
    """The initiator when the workflow restricts completion to them, else members who may run workflows."""
    if run.version.descriptor.get("restrictActionCompletionToRunnerUser"):
        return run.initiator_id == user.pk
    membership = (
        run.workspace.memberships.filter(user=user).prefetch_related("roles").first()
    )
    return (
        membership is not None
        and Permission.EXECUTE_WORKFLOW_RUNS in membership.permission_set()
    )


def submit_input(run: Run, step: Step, *, values: dict, by: User) -> None:
    """Complete a USER_INPUT step with a person's values and resume the run.

    Raises workflows.inputs.InputInvalid (nothing stored) when values are bad.
    """
    _waiting_step(run, step, "USER_INPUT")
    if not may_complete_input(run, by):
        raise NotAllowed("Only the person who started this run can fill in this form")
    _resume(run, step, {"values": values, "user": by}, by=by)


def approving_team_ids(run: Run, step: Step) -> list[str]:
    """The step's approvingTeamIds, as text (tags or ids)."""
    action = actions_by_slug(run.version.descriptor)[step.slug]
    return [str(t) for t in action.get("schema", {}).get("approvingTeamIds") or []]


def approving_teams(run: Run, step: Step):
    """The teams of the run's workspace that the step's approvingTeamIds name."""
    from catalog.models import Team

    ids = approving_team_ids(run, step)
    numeric = parse_ids(ids)
    from django.db.models import Q

    return Team.objects.filter(workspace=run.workspace).filter(
        Q(tag__in=ids) | Q(pk__in=numeric)
    )


def self_approval_prevented(run: Run, step: Step) -> bool:
    action = actions_by_slug(run.version.descriptor)[step.slug]
    return bool(action.get("schema", {}).get("preventSelfApproval"))


def approvers(run: Run, step: Step) -> list[User]:
    """Who may decide on the step (and is told it waits for them)."""
    people = User.objects.filter(teams__in=approving_teams(run, step))
    if self_approval_prevented(run, step) and run.initiator_id:
        people = people.exclude(pk=run.initiator_id)
    return list(people.distinct())


def may_approve(run: Run, step: Step, user: User) -> bool:
    if self_approval_prevented(run, step) and run.initiator_id == user.pk:
        return False
    return approving_teams(run, step).filter(members=user).exists()


def decide(run: Run, step: Step, *, by: User, approve: bool, reason: str = "") -> None:
    """Record an approver's decision; enough approvals resume the run, a rejection fails it."""
    from .models import Decision

    _waiting_step(run, step, "MANUAL_APPROVAL")
    if not may_approve(run, step, by):
        raise NotAllowed("You are not one of the approvers of this step")
    if not approve and not reason.strip():
        raise EngineError("Give a reason for rejecting")
    try:  # a NUL pasted into the reason: the databases can't store it
        check_storable(reason, "The reason")
    except Unstorable as exc:
        raise EngineError(str(exc)) from None
    # A reason is shown to every viewer of the run: no secret of the run in it.
    secrets = _load_secrets(run)
    reason = scrub(reason, secrets.values)
    with transaction.atomic():
        # The run's lock first: two approvers deciding at once would otherwise
        # each count only their own decision, and both leave the step waiting.
        _lock_run(run.pk)
        decision, created = Decision.objects.get_or_create(
            step=step,
            user=by,
            defaults={
                "verdict": Decision.Verdict.APPROVED
                if approve
                else Decision.Verdict.REJECTED,
                "reason": reason,
            },
        )
        if not created:
            raise EngineError("You have already decided on this step")
        verb = "approved" if approve else "rejected"
        # The Activity tab shows the message: it says the verdict, then why.
        said = f"{verb.title()}: {reason}" if reason.strip() else verb.title()
        _event(run, verb, said, step=step.slug, actor=by)
        notify.approval_given(run, by)
        decisions = list(step.decisions.select_related("user"))
        _resume(run, step, {"decisions": decisions}, by=by, secrets=secrets)


def callback(step: Step, payload: dict) -> None:
    """Apply an async HTTP callback (SUCCESS, FAILURE, UPDATE) to its waiting step.

    Raises NotWaiting once the step no longer waits (the API answers 406) and
    ValueError for a malformed payload (400).
    """
    run = step.run
    secrets = _load_secrets(run)
    if isinstance(payload, dict) and isinstance(payload.get("message"), str):
        # Messages get the error rule: a callee may quote a secret cut short.
        payload = {
            **payload,
            "message": scrub_message(payload["message"], secrets.values),
        }
    kept = _keep_early(step, payload, secrets)
    if kept == StepS.WAITING:  # behind others not applied yet: apply them all
        _apply_early_callback(step.pk)
    if kept:
        return
    _waiting_step(run, step, "CALLBACK")
    _resume(run, step, payload, by=None, secrets=secrets)


# Callbacks kept for one block while it runs; past this, a new UPDATE replaces
# the last one kept (its message is the latest, as before it waited).
_EARLY_MAX = 100


def _kept(value) -> list[dict]:
    """The callbacks kept in `Step.early_callback`, oldest first, each
    `{"id", "callback"}` (the id tells appliers which one is at the head).
    Rows written before held one callback, or a list of bare ones."""
    if not value:
        return []
    items = [value] if isinstance(value, dict) else value
    return [
        item
        if isinstance(item, dict) and set(item) == {"id", "callback"}
        else {"id": f"old-{index}", "callback": item}
        for index, item in enumerate(items)
    ]


def _is_final(kept: list[dict]) -> bool:
    return (
        bool(kept) and str(kept[-1]["callback"].get("status", "")).upper() != "UPDATE"
    )


def _keep_early(step: Step, payload: dict, secrets: _Secrets) -> str:
    """Keep a callback that came while its block still runs (the callee answered
    before the request returned, or the block's worker died mid-call), or
    while those kept before are still being applied, to apply after them.
    Returns the step's status then (RUNNING or WAITING), or "" when the
    callback is to be applied as it is (or refused: the step no longer waits,
    or is past its timeout).

    They are applied in the order they came: UPDATEs, then the first SUCCESS
    or FAILURE, after which nothing more is kept. The run's row, then the
    step's, are locked while the list is read and written, as every writer of
    the two does (the worker's switch to WAITING, appliers, cancel): that
    switch and this can't miss each other, and no callback drops another.
    """
    # Masked before it is kept, as the answer it becomes is: the callee may
    # echo a secret it was sent.
    payload = scrub(payload, secrets.values)
    with transaction.atomic():
        _lock_run(step.run_id)
        row = (
            Step.objects.select_for_update(of=("self",))
            .filter(pk=step.pk)
            .values_list("status", "early_callback", "run__status", "deadline_at")
            .first()
        )
        if row is None:
            return ""
        status, value, run_status, deadline = row
        kept = _kept(value)
        if status == StepS.RUNNING and run_status == S.CANCELLING:
            # The block ends CANCELLED when its call returns: the callee must
            # not be told its answer counts.
            raise NotWaiting("The run is being cancelled")
        behind = status == StepS.WAITING and kept
        if status != StepS.RUNNING and not behind:
            return ""  # it waits, nothing ahead of it: the caller applies it
        if behind and deadline and deadline < timezone.now():
            return ""  # too late: the caller times the step out and refuses it
        if _is_final(kept):
            # A SUCCESS or FAILURE came first and will end the wait: this one
            # is refused as it would be once the block has ended (406).
            raise NotWaiting("A final callback came first")
        if len(kept) >= _EARLY_MAX:
            kept.pop()
        entry = {"id": uuid.uuid4().hex, "callback": payload}
        Step.objects.filter(pk=step.pk).update(early_callback=[*kept, entry])
    return status  # kept


def _apply_early_callback(step_id: int) -> None:
    """Apply the callbacks kept for a block that waits now, oldest first.

    Each is taken off the list by the transaction that applies it (_resume),
    so a worker that dies before or while applying one leaves it and the rest
    for the sweep; of two appliers (the worker, the sweep, a callback's
    request) only one applies each, the one at the head.
    """
    while True:
        step = (
            Step.objects.select_related("run")
            .filter(pk=step_id, status=StepS.WAITING, early_callback__isnull=False)
            .first()
        )
        kept = _kept(step.early_callback) if step else []
        if not kept:
            return
        head = kept[0]
        try:
            _waiting_step(step.run, step, "CALLBACK")
            _resume(step.run, step, head["callback"], by=None, early=head["id"])
        except (NotWaiting, IllegalTransition) as exc:
            log.info("Early callback of step %s not applied: %s", step_id, exc)
            now = _kept(
                Step.objects.filter(pk=step_id, status=StepS.WAITING)
                .values_list("early_callback", flat=True)
                .first()
            )
            if not now or now[0]["id"] == head["id"]:
                return  # not applied by another either: it can't be, now
        except ValueError as exc:  # checked when it came, so never expected
            with transaction.atomic(), contextlib.suppress(NotWaiting):
                _lock_run(step.run_id)
                rest = _kept_after(step_id, head["id"])
                Step.objects.filter(pk=step_id).update(early_callback=rest)
            log.warning("Early callback of step %s dropped: %s", step_id, exc)


def _kept_after(step_id: int, head: str) -> list[dict] | None:
    """What stays kept once the callback `head` is taken off; NotWaiting when
    it is not at the head any more (another applier took it). Call with the
    run locked, as every writer of the list does."""
    kept = _kept(
        Step.objects.filter(pk=step_id).values_list("early_callback", flat=True).first()
    )
    if not kept or kept[0]["id"] != head:
        raise NotWaiting("This callback was applied already")
    return kept[1:] or None


def _resume(
    run: Run,
    step: Step,
    payload: dict,
    *,
    by: User | None,
    secrets: _Secrets | None = None,
    early: str = "",
) -> None:
    """Apply an answer (a form, a decision, a callback) to a waiting step.
    `early`: the answer is the first of the callbacks kept in the step, the
    one with this id."""
    descriptor = run.version.descriptor
    action = actions_by_slug(descriptor)[step.slug]
    block = get_block(action.get("schema", {}).get("type", step.type))
    secrets = secrets or _load_secrets(run)

    def answer() -> Outcome:
        # May raise InputInvalid / ValueError: nothing stored.
        resumed = block.resume(
            _context(run, step, _with_declared(action, descriptor), secrets), payload
        )
        outcome = _storable(resumed, step.type)
        if by is not None and outcome is not resumed:
            # A person's answer the databases can't store is refused, as a bad
            # value is: the step goes on waiting (the inputs' checks catch most).
            if step.waiting_for == "USER_INPUT":
                raise InputInvalid({ALL: [outcome.error]})
            raise EngineError(outcome.error)
        return outcome

    # Worked out before the lock (a form's validator may take a while)…
    seen, outcome = step.outputs, answer()
    with transaction.atomic():
        _lock_run(run.pk)
        # …and again if another answer changed the step meanwhile (an async
        # call's UPDATE, whose list of updates this one extends):
        step.refresh_from_db(fields=["outputs"])
        if step.outputs != seen:
            outcome = answer()
        # Exactly one resumer wins the step:
        taken = Step.objects.filter(pk=step.pk, status=StepS.WAITING)
        fields = {}
        if early:  # the kept callback is used up with this commit, not before
            fields["early_callback"] = _kept_after(step.pk, early)
        if not taken.update(
            status=StepS.RUNNING if outcome.status != "WAITING" else StepS.WAITING,
            **fields,
        ):
            raise NotWaiting("This step is no longer waiting")
        if outcome.status == "WAITING":
            # An approval still short of approvals has its decision's event.
            if step.waiting_for != "MANUAL_APPROVAL":
                message = str(outcome.outputs.get("message", "Update"))
                _event(
                    run,
                    "step_updated",
                    scrub_message(message, secrets.values),
                    step=step.slug,
                )
        else:
            notify.requests_answered(run)
        _record(run, step, action, outcome, secrets, lease=None, by=by)


# --- the periodic sweep -------------------------------------------------------------


def requeue_orphans() -> int:
    """Hand on the running runs whose worker died on this machine: their
    heartbeat is still fresh, but nothing will beat it again. Their lease is
    let go (any worker, of any machine, may then claim them) and they are
    enqueued. Called by the sweep, and by a worker as it starts."""
    count = 0
    for run_id, lease, who in (
        Run.objects.filter(
            status=S.IN_PROGRESS, heartbeat_at__gte=timezone.now() - _stale_after()
        )
        .exclude(lease=None)
        .exclude(lease_holder="")
        .values_list("pk", "lease", "lease_holder")
    ):
        if holder.is_dead(who, lease) and Run.objects.filter(
            pk=run_id, status=S.IN_PROGRESS, lease=lease
        ).update(lease=None):
            log.warning("Run %s: its worker (%s) has died; handing it on", run_id, who)
            _enqueue_now(run_id)
            count += 1
    return count


def requeue_unclaimed() -> int:
    """Send again the runs admitted but taken by no worker yet. A worker that
    died may have taken their message from the broker, which gives it back
    only after its visibility timeout (an hour on Redis); their heartbeat, set
    at admission, would have the sweep find them only once it is stale. Called
    by a worker as it starts: where the first message is still waiting, one of
    the two finds the run taken, or further on, and does nothing."""
    ids = list(
        Run.objects.filter(status=S.IN_PROGRESS, lease=None).values_list(
            "pk", flat=True
        )
    )
    for run_id in ids:
        _enqueue_now(run_id)
    return len(ids)


def sweep() -> dict[str, int]:
    """Re-enqueue stale runs, finish orphaned cancels, apply kept callbacks,
    time out waits, admit, purge."""
    now = timezone.now()
    counts = dict.fromkeys(
        ("requeued", "cancelled", "callbacks", "timed_out", "admitted", "purged"), 0
    )
    stale = now - _stale_after()
    for run_id in (
        Run.objects.filter(status=S.IN_PROGRESS)
        .exclude(heartbeat_at__gte=stale)
        .values_list("pk", flat=True)
    ):
        _enqueue_now(run_id)
        counts["requeued"] += 1
    counts["requeued"] += requeue_orphans()
    for run in Run.objects.filter(status=S.CANCELLING):
        if _abandoned(run):
            _finish_cancel(run)
            counts["cancelled"] += 1
    # A callback kept while its block ran, whose worker died before applying it:
    for step_id in Step.objects.filter(
        status=StepS.WAITING, early_callback__isnull=False, run__status=S.PAUSED
    ).values_list("pk", flat=True):
        _apply_early_callback(step_id)
        counts["callbacks"] += 1
    for step in Step.objects.filter(
        status=StepS.WAITING, deadline_at__lt=now, run__status=S.PAUSED
    ).select_related("run", "run__version", "run__workspace"):
        counts["timed_out"] += _time_out(step.run, step)
    for workspace_id in (
        Run.objects.filter(status=S.QUEUED)
        .values_list("workspace_id", flat=True)
        .distinct()
    ):
        counts["admitted"] += len(admit(workspace_id))
    cutoff = now - timedelta(days=settings.RUN_RETENTION_DAYS)
    _, deleted = Run.objects.filter(
        created_at__lt=cutoff, status__in=[S.COMPLETED, S.FAILED, S.CANCELLED]
    ).delete()
    counts["purged"] = deleted.get("workflows.Run", 0)
    return counts


def _enqueue_now(run_id: int) -> None:
    from .tasks import advance_run_task

    advance_run_task.delay(run_id)
