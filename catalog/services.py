"""Writes to the catalog that touch several rows."""

from django.db import transaction

from portal.models import User, Workspace

from .descriptors import EntitySpec
from .models import Deploy, Entity, EntityType, Group, Team


@transaction.atomic
def entities_upsert(*, workspace: Workspace, specs: list[EntitySpec]) -> list[Entity]:
    """Create or update entities by tag, with their type, groups and owners.

    Unknown types, groups and owner teams are created; owner emails link to
    members of the workspace (the descriptor keeps every email either way), so an
    import never ties an entity to someone outside its workspace.
    """
    entities = []
    for spec in specs:
        entity_type, _ = EntityType.objects.get_or_create(
            workspace=workspace,
            tag=spec.type_tag,
            defaults={"name": spec.type_tag.title()},
        )
        entity, _ = Entity.objects.update_or_create(
            workspace=workspace,
            tag=spec.tag,
            defaults={
                "name": spec.name,
                "type": entity_type,
                "description": spec.description,
                "descriptor": spec.info,
            },
        )
        entity.groups.set(
            [
                Group.objects.get_or_create(workspace=workspace, tag=g)[0]
                for g in spec.groups
            ]
        )
        entity.owner_teams.set(
            [
                Team.objects.get_or_create(
                    workspace=workspace, tag=t, defaults={"name": t}
                )[0]
                for t in spec.owner_team_tags
            ]
        )
        entity.owner_users.set(
            User.objects.filter(
                email__in=spec.owner_emails, memberships__workspace=workspace
            )
        )
        entities.append(entity)
    return entities


@transaction.atomic
def entity_groups_change(*, entity: Entity, add=(), remove=()) -> list[str]:
    """Add and remove groups of an entity, in its rows and in its descriptor's
    x-cortex-groups (what an export gives back); returns its groups' tags."""
    removed = set(remove)
    current = [group.tag for group in entity.groups.all()]
    tags = [tag for tag in dict.fromkeys([*current, *add]) if tag not in removed]
    entity.groups.set(
        [
            Group.objects.get_or_create(workspace=entity.workspace, tag=tag)[0]
            for tag in tags
        ]
    )
    info = dict(entity.descriptor or {})
    if tags:
        info["x-cortex-groups"] = tags
    else:
        info.pop("x-cortex-groups", None)
    entity.descriptor = info
    entity.save(update_fields=["descriptor", "updated_at"])
    return tags


def deploy_save(
    *, entity: Entity, fields: dict, deploy: Deploy | None = None
) -> Deploy:
    """Record a deploy of `entity`, or replace what `deploy` says (Cortex's PUT)."""
    deploy = deploy or Deploy(entity=entity)
    for name, value in fields.items():
        setattr(deploy, name, value)
    deploy.save()
    return deploy


def deploys_delete(
    *, workspace: Workspace, entity: Entity | None = None, **filters: str
) -> int:
    """Delete the workspace's (or one entity's) deploys that match every given
    filter (sha, environment, type); all of them with none. Returns how many."""
    deploys = Deploy.objects.filter(entity__workspace=workspace, **filters)
    if entity is not None:
        deploys = deploys.filter(entity=entity)
    return deploys.delete()[0]
