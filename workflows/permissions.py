"""Who may see, run and act on workflows, and which entities a workflow applies to.

Shared by the pages and the API so both answer the same way.
"""

from django.db.models import Q, QuerySet

from catalog.models import Entity
from portal.models import User, Workspace
from portal.permissions import Permission

from .models import Workflow


def visible_workflows(
    workspace: Workspace, perms: frozenset[str]
) -> QuerySet[Workflow]:
    """Drafts are only visible to members who may edit workflows (Cortex's rule)."""
    qs = Workflow.objects.filter(workspace=workspace)
    if Permission.VIEW_WORKFLOWS not in perms:
        return qs.none()
    if Permission.EDIT_WORKFLOWS not in perms:
        qs = qs.filter(is_draft=False)
    return qs


def entities_for(
    descriptor: dict, *, workspace: Workspace, user: User | None, perms: frozenset[str]
) -> QuerySet[Entity]:
    """Entities an ENTITY workflow may run on for this person (none for GLOBAL ones).

    Applies the descriptor's entity types and included/excluded groups, then its
    ownershipScope: OWNER keeps entities the user owns (directly or through a
    team); EDITOR also lets members who may edit entities run on any of them.
    """
    flt = descriptor.get("filter") or {}
    if flt.get("type") != "ENTITY":
        return Entity.objects.none()
    qs = Entity.objects.filter(workspace=workspace, archived=False)
    entity_filter = flt.get("entityFilter") or {}
    types = (entity_filter.get("typeFilter") or {}).get("types") or []
    if types:
        qs = qs.filter(type__tag__in=types)
    groups = entity_filter.get("entityGroupFilter") or {}
    if groups.get("entityGroups"):
        qs = qs.filter(groups__tag__in=groups["entityGroups"])
    if groups.get("excludedEntityGroups"):
        qs = qs.exclude(groups__tag__in=groups["excludedEntityGroups"])
    scope = flt.get("ownershipScope") or "ALL"
    owned = Q(owner_users=user) | Q(owner_teams__members=user) if user else Q(pk__in=[])
    if scope == "OWNER" or (
        scope == "EDITOR" and Permission.EDIT_ENTITIES not in perms
    ):
        qs = qs.filter(owned)
    return qs.distinct()


def may_run(workflow: Workflow, *, user: User | None, perms: frozenset[str]) -> bool:
    """EXECUTE_WORKFLOW_RUNS, then the workflow's runRestrictionPolicies (if any)."""
    if Permission.EXECUTE_WORKFLOW_RUNS not in perms:
        return False
    policies = workflow.descriptor.get("runRestrictionPolicies") or []
    if not policies:
        return True
    if user is None:
        return False
    for policy in policies:
        kind, ident = policy.get("type"), str(policy.get("id", ""))
        if kind == "USER" and ident in (str(user.pk), user.email):
            return True
        if (
            kind == "TEAM"
            and user.teams.filter(workspace=workflow.workspace_id)
            .filter(Q(tag=ident) | Q(pk=int(ident) if ident.isdigit() else None))
            .exists()
        ):
            return True
        if (
            kind == "CUSTOM_ROLE"
            and user.memberships.filter(workspace=workflow.workspace_id)
            .filter(
                Q(roles__name__iexact=ident)
                | Q(roles__pk=int(ident) if ident.isdigit() else None)
            )
            .exists()
        ):
            return True
    return False
