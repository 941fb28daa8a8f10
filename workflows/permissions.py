"""Who may see, run and act on workflows, and which entities a workflow applies to.

Shared by the pages and the API so both answer the same way.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from catalog.models import Entity, Team
from portal.models import Role, User, Workspace
from portal.permissions import Permission

from .models import Run, Workflow


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


def may_cancel_as(run: Run, *, user: User | None, perms: frozenset[str]) -> bool:
    """Whether someone with `perms` may cancel runs like `run`, whatever its
    status: EDIT_WORKFLOW_RUNS cancels any run; the person who started it may
    while they may run workflows (EXECUTE_WORKFLOW_RUNS)."""
    if Permission.EDIT_WORKFLOW_RUNS in perms:
        return True
    return (
        user is not None
        and run.initiator_id == user.pk
        and Permission.EXECUTE_WORKFLOW_RUNS in perms
    )


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


def why_not_on(
    descriptor: dict,
    entity: Entity,
    *,
    workspace_id: int,
    user: User | None,
    perms: frozenset[str],
) -> tuple[str, bool]:
    """Why an ENTITY workflow can't run on `entity` for this person, for an
    entity that entities_for left out: (the reason, whether it is about the
    person rather than the entity)."""
    entity_filter = (descriptor.get("filter") or {}).get("entityFilter") or {}
    types = (entity_filter.get("typeFilter") or {}).get("types") or []
    groups = entity_filter.get("entityGroupFilter") or {}
    if entity.workspace_id != workspace_id:
        return f"{entity.tag} is not an entity of this workspace", False
    if entity.archived:
        return f"{entity.tag} is archived", False
    if types and entity.type.tag not in types:
        return (
            f"it runs on entities of type {', '.join(types)}, and {entity.tag}"
            f" is of type {entity.type.tag}",
            False,
        )
    theirs = set(entity.groups.values_list("tag", flat=True))
    wanted = groups.get("entityGroups") or []
    if wanted and not theirs & set(wanted):
        return (
            f"it runs on entities in the group {' or '.join(wanted)}, and {entity.tag}"
            " is in none of them",
            False,
        )
    excluded = sorted(theirs & set(groups.get("excludedEntityGroups") or []))
    if excluded:
        return f"{entity.tag} is in the excluded group {', '.join(excluded)}", False
    scope = (descriptor.get("filter") or {}).get("ownershipScope") or "ALL"
    if user is None:  # a workspace key's run without runAs
        editors = " or of a member who may edit entities" if scope == "EDITOR" else ""
        return (
            "it runs only on entities its initiating user owns; send runAs with the"
            f" email of an owner of {entity.tag}{editors}",
            True,
        )
    who = user.email
    if scope == "EDITOR":
        return (
            f"it runs only on entities {who} owns (directly or through a team),"
            " or for members who may edit entities, and neither is the case",
            True,
        )
    return (
        f"it runs only on entities {who} owns (directly or through a team),"
        f" and {entity.tag} is not one of them",
        True,
    )


@dataclass(frozen=True)
class Runner:
    """What runRestrictionPolicies look at about a person in a workspace: their
    id and email, and their teams' and roles' ids and names. Read once, checked
    against any number of workflows (a list page asks for each of its rows)."""

    user_id: int
    email: str
    teams: frozenset[str]  # ids and tags, as text
    roles: frozenset[str]  # ids and names in lower case, as text

    @classmethod
    def of(cls, user: User, workspace_id: int) -> "Runner":
        """Two queries."""
        teams = Team.objects.filter(workspace=workspace_id, members=user)
        roles = Role.objects.filter(
            memberships__user=user, memberships__workspace=workspace_id
        )
        return cls.from_rows(
            user.pk,
            user.email,
            teams.values_list("pk", "tag"),
            roles.values_list("pk", "name"),
        )

    @classmethod
    def from_rows(
        cls,
        user_id: int,
        email: str,
        teams: Iterable[tuple[int, str]],
        roles: Iterable[tuple[int, str]],
    ) -> "Runner":
        """From (id, tag) of their teams and (id, name) of their roles."""
        return cls(user_id, email, _names(teams), _names(roles, lower=True))

    def allowed_by(self, policies: list[dict]) -> bool:
        """Whether one of `policies` (a workflow's runRestrictionPolicies) names
        this person, one of their teams or one of their roles."""
        for policy in policies:
            kind, ident = policy.get("type"), str(policy.get("id", ""))
            if kind == "USER" and ident in (str(self.user_id), self.email):
                return True
            if kind == "TEAM" and ident in self.teams:
                return True
            if kind == "CUSTOM_ROLE" and ident.lower() in self.roles:
                return True
        return False


def _names(rows, *, lower: bool = False) -> frozenset[str]:
    """{"7", "release"} from [(7, "release")]: ids and names, as text (role
    names match in any case, so those are kept in lower case)."""
    return frozenset(
        text for pk, name in rows for text in (str(pk), name.lower() if lower else name)
    )


def may_run(
    workflow: Workflow,
    *,
    user: User | None,
    perms: frozenset[str],
    runner: Runner | None = None,
) -> bool:
    """EXECUTE_WORKFLOW_RUNS, then the workflow's runRestrictionPolicies (if any).

    `runner` is `user` as `Runner.of` reads them: pass it (or a lazy object
    that reads it) when asking for many workflows."""
    if Permission.EXECUTE_WORKFLOW_RUNS not in perms:
        return False
    policies = workflow.descriptor.get("runRestrictionPolicies") or []
    if not policies:
        return True
    if user is None:
        return False
    return (runner or Runner.of(user, workflow.workspace_id)).allowed_by(policies)


def why_not_run(workflow: Workflow, *, perms: frozenset[str]) -> str:
    """Why may_run said no."""
    if Permission.EXECUTE_WORKFLOW_RUNS not in perms:
        return f"lacks the {Permission.EXECUTE_WORKFLOW_RUNS} permission"
    return (
        "is not named by the workflow's runRestrictionPolicies"
        " (as a user, through a team or through a role)"
    )
