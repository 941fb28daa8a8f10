"""Writes to workflows that touch several rows, each in one transaction.

Saving and deleting workflows comes first (`workflow_upsert`, `workflow_delete`);
the functions that start and act on runs follow below it. Callers validate
descriptors with `workflows.descriptor.validate` before saving them here.
"""

import json

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from portal.models import User, Workspace

from .models import Run, Workflow, WorkflowVersion

# Workflows: save and delete


def _indexed_columns(descriptor: dict) -> dict:
    """The Workflow columns that mirror descriptor fields (for lists and filters)."""
    return {
        "name": descriptor["name"],
        "description": descriptor.get("description") or "",
        "is_draft": bool(descriptor.get("isDraft")),
        "is_runnable_via_api": bool(descriptor.get("isRunnableViaApi")),
        "scope": (descriptor.get("filter") or {}).get("type") or Workflow.Scope.GLOBAL,
    }


class WorkflowChanged(Exception):
    """The workflow was renamed or deleted since the caller read it."""


@transaction.atomic
def workflow_save(*, workflow: Workflow, descriptor: dict, created_by: User | None):
    """Save `descriptor` (validated) as a new version of this workflow, found by
    id, under the tag it names, which may be a new one.

    Raises WorkflowChanged when the workflow no longer has the tag the caller
    read (someone renamed it meanwhile: saving by tag would make a second
    workflow under the old one) or is gone; IntegrityError when a new tag was
    taken between the caller's check and now.
    """
    # Locked, so a rename at the same moment waits for this save, then sees it:
    current = Workflow.objects.select_for_update().filter(pk=workflow.pk).first()
    if current is None or current.tag != workflow.tag:
        raise WorkflowChanged(
            f"Someone renamed this workflow (to “{current.tag}”) while you were"
            " editing it; nothing was saved. Open it again and redo your change."
            if current
            else "Someone deleted this workflow while you were editing it."
        )
    if descriptor["tag"] != current.tag:
        Workflow.objects.filter(pk=current.pk).update(tag=descriptor["tag"])
    return workflow_upsert(
        workspace=current.workspace, descriptor=descriptor, created_by=created_by
    )[0]


@transaction.atomic
def workflow_upsert(
    *, workspace: Workspace, descriptor: dict, created_by: User | None = None
) -> tuple[Workflow, bool]:
    """Create or update the workspace's workflow with the descriptor's tag.

    `descriptor` must be validated (`workflows.descriptor.validate`). Each change
    makes a new immutable WorkflowVersion numbered one past the last and makes it
    current; the Workflow row keeps its id. Saving the descriptor the current
    version already holds changes nothing. Returns (workflow, created).
    """
    # What the JSON column will give back, so equal descriptors compare equal:
    descriptor = json.loads(json.dumps(descriptor))
    columns = _indexed_columns(descriptor)
    now = timezone.now()
    # get_or_create retries the read when a concurrent save inserted the row first:
    workflow, created = Workflow.objects.get_or_create(
        workspace=workspace,
        tag=descriptor["tag"],
        defaults={**columns, "created_at": now, "updated_at": now},
    )
    # Lock the row so concurrent saves number their versions one after the other:
    # (No select_related: PostgreSQL refuses FOR UPDATE on the nullable side of a join.)
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    current = workflow.current_version
    if current is not None and current.descriptor == descriptor:
        return workflow, created

    last = workflow.versions.aggregate(last=Max("number"))["last"] or 0
    version = WorkflowVersion.objects.create(
        workflow=workflow,
        number=last + 1,
        descriptor=descriptor,
        created_by=created_by,
        created_at=now,
    )
    for field, value in columns.items():
        setattr(workflow, field, value)
    workflow.current_version = version
    workflow.updated_at = now
    workflow.save(update_fields=[*columns, "current_version", "updated_at"])
    return workflow, created


@transaction.atomic
def workflow_delete(*, workflow: Workflow) -> None:
    """Delete the workflow with its versions and runs (and their steps and events)."""
    from . import engine

    runs = Run.objects.filter(workflow=workflow)
    held_slots = runs.filter(
        status__in=[Run.Status.IN_PROGRESS, Run.Status.CANCELLING]
    ).exists()
    # Runs and current_version protect the versions they point at, so they go first:
    runs.delete()
    Workflow.objects.filter(pk=workflow.pk).update(current_version=None)
    workflow.current_version = None
    workflow.delete()
    if held_slots:  # the cap's slots its runs held are free: fill them now
        engine.admit(workflow.workspace_id)


# Runs: start (the engine does the rest)


def run_start(
    *,
    workflow: Workflow,
    user: User | None,
    perms: frozenset[str],
    entity=None,
    source: str = Run.Source.UI,
    initial_context: dict | None = None,
    notification_recipients: list[str] | None = None,
    api_key=None,
    initiator: User | None = None,
    idempotency_key: str = "",
) -> Run:
    """Check that `user` may run the workflow (on that entity), then start it.

    `initiator` defaults to `user`; the API passes runAs here. A run without an
    initiator (a workspace API key without runAs) acts with the key's rights,
    or waits for someone to pick one when the workflow needs a person. Raises
    engine.NotAllowed or engine.EngineError with a message for the person.
    """
    from . import engine
    from .permissions import entities_for, may_run, why_not_on, why_not_run

    if not may_run(workflow, user=user, perms=perms):
        who = user.email if user else "This key"
        raise engine.NotAllowed(
            f"You may not run this workflow: {who} {why_not_run(workflow, perms=perms)}",
            personal=True,
        )
    descriptor = workflow.descriptor
    if (descriptor.get("filter") or {}).get("type") == "ENTITY":
        if entity is None:
            raise engine.EngineError("This workflow runs on an entity: choose one")
        allowed = entities_for(
            descriptor, workspace=workflow.workspace, user=user, perms=perms
        )
        if not allowed.filter(pk=entity.pk).exists():
            reason, personal = why_not_on(
                descriptor,
                entity,
                workspace_id=workflow.workspace_id,
                user=user,
                perms=perms,
            )
            raise engine.NotAllowed(
                f"This workflow can't run on {entity.tag}: {reason}", personal=personal
            )
    else:
        entity = None
    return engine.start(
        workflow=workflow,
        initiator=initiator if initiator is not None else user,
        entity=entity,
        source=source,
        initial_context=initial_context,
        notification_recipients=notification_recipients,
        api_key=api_key,
        idempotency_key=idempotency_key,
    )
