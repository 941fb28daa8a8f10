"""Writes to the catalog that touch several rows."""

import copy

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.models import User, Workspace

from .descriptors import CUSTOM_DATA_KEYS, EntitySpec, descriptor_custom_data
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
        # The descriptor wins over values forced through the API for its keys:
        defined = descriptor_custom_data(spec.info)
        if any(key in defined for key in entity.custom_data):
            entity.custom_data = {
                k: v for k, v in entity.custom_data.items() if k not in defined
            }
            entity.save(update_fields=["custom_data"])
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
    entity = _locked(entity)[entity.pk]  # its descriptor as it is now
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


class EntityTypeRefused(Exception):
    """An entity type change that can't be made; the message says why."""


def entity_type_create(*, workspace: Workspace, tag: str, **fields) -> EntityType:
    """A new entity type (`name`, `description`, `schema`, `icon_tag`)."""
    try:
        with transaction.atomic():  # a savepoint: the unique tag decides a race
            return EntityType.objects.create(workspace=workspace, tag=tag, **fields)
    except IntegrityError:
        raise EntityTypeRefused(f"The entity type {tag} already exists") from None


def entity_type_update(*, entity_type: EntityType, **fields) -> EntityType:
    """Change an entity type's name, description or schema (its tag stays)."""
    for name, value in fields.items():
        setattr(entity_type, name, value)
    entity_type.save(update_fields=list(fields))
    return entity_type


@transaction.atomic
def entity_type_delete(*, entity_type: EntityType) -> None:
    """Delete an entity type no entity has."""
    used = entity_type.entities.count()
    if used:
        raise EntityTypeRefused(
            f"{used} {'entity is' if used == 1 else 'entities are'} of type"
            f" {entity_type.tag}: delete them or give them another type first"
        )
    entity_type.delete()


class CustomDataConflict(Exception):
    """A custom data key the entity's descriptor defines, changed without force."""


class CustomDataMissing(Exception):
    """No such custom data key on the entity."""


def _locked(*entities: Entity) -> dict[int, Entity]:
    """The entities' rows, read again under a lock, by id. Read-modify-writes
    of their JSON (custom data, the descriptor) wait for each other; the locks
    are taken in id order, so two writers of the same entities can't deadlock."""
    rows = Entity.objects.select_for_update().filter(pk__in=[e.pk for e in entities])
    return {entity.pk: entity for entity in rows.order_by("pk")}


def _conflict(entity: Entity, key: str, doing: str) -> CustomDataConflict:
    return CustomDataConflict(
        f"Entity {entity.tag}'s descriptor defines custom data key {key!r}; "
        f"pass force=true to {doing} it (until the descriptor is imported again)"
    )


def entity_custom_data_set(
    *, entity: Entity, items: list[dict], force: bool = False
) -> list[dict]:
    """Set custom data keys (`key`, `value`, `description`) of one entity."""
    return entities_custom_data_set(changes=[(entity, items)], force=force)[entity.pk]


@transaction.atomic
def entities_custom_data_set(
    *, changes: list[tuple[Entity, list[dict]]], force: bool = False
) -> dict[int, list[dict]]:
    """Set custom data keys (`key`, `value`, `description`) through the API, as
    Cortex does: a key the descriptor defines needs `force`, and its value then
    lasts until the descriptor is imported again. All of them or, when one is
    refused, none. Returns what was stored, by entity id (an entity named twice
    gets both lists)."""
    wanted: dict[int, list[dict]] = {}
    for entity, items in changes:
        wanted.setdefault(entity.pk, []).extend(items)
    locked = _locked(*(entity for entity, _ in changes))
    for pk, items in wanted.items():
        defined = descriptor_custom_data(locked[pk].descriptor)
        for item in items:
            if item["key"] in defined and not force:
                raise _conflict(locked[pk], item["key"], "override")
    now = timezone.now().isoformat()
    stored = {}
    for pk, items in wanted.items():
        entity, data = locked[pk], dict(locked[pk].custom_data)
        for item in items:
            data[item["key"]] = {
                "value": item["value"],
                "description": item.get("description"),
                "dateUpdated": now,
            }
        entity.custom_data = data
        entity.save(update_fields=["custom_data", "updated_at"])
        keys = dict.fromkeys(item["key"] for item in items)
        stored[pk] = [{"key": key, **data[key]} for key in keys]
    return stored


@transaction.atomic
def entity_custom_data_delete(*, entity: Entity, key: str, force: bool = False) -> None:
    """Delete a custom data key. One the descriptor defines needs `force`, and is
    taken out of the stored descriptor too (a new import brings it back)."""
    entity = _locked(entity)[entity.pk]
    defined = descriptor_custom_data(entity.descriptor)
    if key in defined and not force:
        raise _conflict(entity, key, "delete")
    if key not in defined and key not in entity.custom_data:
        raise CustomDataMissing(
            f"Custom data not found for entity {entity.tag} and key {key}"
        )
    entity.custom_data = {k: v for k, v in entity.custom_data.items() if k != key}
    info = copy.deepcopy(entity.descriptor or {})
    for name in CUSTOM_DATA_KEYS:
        if isinstance(info.get(name), dict):
            info[name].pop(key, None)
    entity.descriptor = info
    entity.save(update_fields=["custom_data", "descriptor", "updated_at"])


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
