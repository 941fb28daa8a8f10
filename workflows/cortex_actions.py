"""The `cortex.*` actions of ADVANCED_HTTP_REQUEST blocks, acting on Cairn's own catalog.

Cortex runs these against its own API with the permissions of the run's
initiating user, so do they here (or, for a run a workspace key started
without runAs, with the key's): each action names the permission it needs,
and `run_action` first checks the workspace's IP allowlist against the workers'
address (`WORKER_EGRESS_IP`), as the API would for a request coming from them,
then the initiator and their permission, then the inputs.

Outputs follow Cortex's API answers: the entity actions return the entity in the
shape of `GET /api/v1/catalog/{tag}` plus `ok`, `violations`, `created` and
`dryRun`; the metric action returns the stored data point.

The block sends `github.*` identifiers to `workflows.github_actions` and
`gitlab.*` ones to `workflows.gitlab_actions`; anything else fails here by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.descriptors import DescriptorError, EntitySpec, parse_entity
from catalog.models import Entity, MetricDataPoint
from catalog.services import entities_upsert
from portal import yamlload
from portal.ids import parse_id
from portal.models import ApiKey, Membership, User, Workspace
from portal.permissions import Permission


class ActionError(Exception):
    """The action can't run or failed; the message is shown on the step."""


@dataclass(frozen=True)
class CortexAction:
    identifier: str
    permission: Permission
    run: Callable[[Workspace, User, dict], dict]


FORBIDDEN_IP = "Forbidden IP address"
MODES = ("CREATE", "UPSERT", "UPDATE")
DEFAULT_OPENAPI = "3.0.1"


def run_action(
    identifier: str,
    inputs: dict,
    *,
    workspace: Workspace,
    initiator: User | None,
    api_key_id: int | None = None,
) -> dict:
    """Run a `cortex.*` action as `initiator` or, for a run a workspace key
    started without runAs, with that key's rights; return its outputs or raise
    ActionError."""
    from portal.api import ip_allowed

    action = ACTIONS.get(identifier)
    if action is None:
        raise ActionError(f"Cairn cannot execute action {identifier!r} yet")
    if not ip_allowed(workspace, settings.WORKER_EGRESS_IP):
        raise ActionError(FORBIDDEN_IP)
    if initiator is not None:
        membership = Membership.objects.filter(
            workspace=workspace, user=initiator
        ).first()
        granted = membership.permission_set() if membership else frozenset()
        who = initiator.email
    else:
        key = (
            ApiKey.objects.active()
            .filter(workspace=workspace, pk=api_key_id, user__isnull=True)
            .prefetch_related("roles")
            .first()
        )
        if key is None:
            raise ActionError(
                f"{identifier} acts as the user who started the run, and this run has "
                "no initiating user"
            )
        granted = frozenset(p for role in key.roles.all() for p in role.permissions)
        who = f"The API key {key.name!r} that started the run"
    if action.permission not in granted:
        raise ActionError(
            f"{who} lacks the {action.permission.label!r} permission "
            f"({action.permission.value}) that {identifier} needs"
        )
    return action.run(workspace, initiator, inputs)


# Inputs ---------------------------------------------------------------------


def _flag(inputs: dict, key: str, default: bool = False) -> bool:
    value = inputs.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ActionError(f"inputs.{key} must be true or false, not {value!r}")


def _required_text(inputs: dict, key: str, what: str) -> str:
    value = inputs.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ActionError(f"inputs.{key} is required ({what})")
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ActionError(f"inputs.{key} must be a string")
    return str(value).strip()


def _body_document(inputs: dict) -> dict:
    """inputs.body (a YAML string, or already a mapping) as a mapping."""
    body = inputs.get("body")
    if body is None or (isinstance(body, str) and not body.strip()):
        raise ActionError("inputs.body is required (the entity descriptor as YAML)")
    if isinstance(body, str):
        try:
            data = yamlload.load(body)
        except yaml.YAMLError as exc:
            raise ActionError(f"inputs.body: invalid YAML: {exc}") from None
    else:
        data = body
    if not isinstance(data, dict):
        raise ActionError(
            "inputs.body: the descriptor must be a mapping with 'openapi' and 'info'"
        )
    return data


def _parse(data: dict) -> EntitySpec:
    try:
        return parse_entity(data)
    except DescriptorError as exc:
        raise ActionError(f"inputs.body: {exc}") from None


# Outputs --------------------------------------------------------------------


def _entity_outputs(
    spec: EntitySpec, entity: Entity | None, *, created: bool, dry_run: bool
) -> dict:
    if entity is not None:
        from catalog.api import entity_out

        shape = entity_out(entity)
    else:  # a dry run: what would be stored
        shape = {
            "tag": spec.tag,
            "name": spec.name,
            "description": spec.description or None,
            "type": spec.type_tag,
            "groups": spec.groups,
            "isArchived": False,
            "lastUpdated": None,
            "owners": {
                "teams": [{"tag": t, "name": t} for t in spec.owner_team_tags],
                "individuals": [{"email": e} for e in spec.owner_emails],
            },
        }
    return {
        **shape,
        "ok": True,
        "violations": [],
        "created": created,
        "dryRun": dry_run,
    }


def _save(workspace: Workspace, spec: EntitySpec) -> Entity:
    return entities_upsert(workspace=workspace, specs=[spec])[0]


# cortex.createOrUpdateEntity ------------------------------------------------


def create_or_update_entity(workspace: Workspace, user: User, inputs: dict) -> dict:
    """inputs: body (descriptor YAML), mode CREATE | UPSERT (default) | UPDATE, dryRun."""
    mode = str(inputs.get("mode") or "UPSERT").upper()
    if mode not in MODES:
        raise ActionError(
            f"inputs.mode {inputs.get('mode')!r} is not one of {', '.join(MODES)}"
        )
    dry_run = _flag(inputs, "dryRun")
    spec = _parse(_body_document(inputs))
    with transaction.atomic():
        exists = Entity.objects.filter(workspace=workspace, tag=spec.tag).exists()
        if mode == "CREATE" and exists:
            raise ActionError(
                f"inputs.mode is CREATE, but the entity {spec.tag!r} already exists"
            )
        if mode == "UPDATE" and not exists:
            raise ActionError(
                f"inputs.mode is UPDATE, but there is no entity {spec.tag!r}"
            )
        entity = None if dry_run else _save(workspace, spec)
    return _entity_outputs(spec, entity, created=not exists, dry_run=dry_run)


# cortex.createOrPatchEntity -------------------------------------------------


def _merge(base: Any, patch: Any, append_arrays: bool) -> Any:
    """JSON merge patch (null removes a key), with lists optionally appended to."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = _merge(merged[key], value, append_arrays)
            else:
                merged[key] = value
        return merged
    if append_arrays and isinstance(base, list) and isinstance(patch, list):
        return base + [item for item in patch if item not in base]
    return patch


def _stored_info(entity: Entity) -> dict:
    """The entity's descriptor info, completed from its columns where the descriptor is silent."""
    info = dict(entity.descriptor or {})
    info.setdefault("title", entity.name)
    info.setdefault("x-cortex-tag", entity.tag)
    info.setdefault("x-cortex-type", entity.type.tag)
    if entity.description:
        info.setdefault("description", entity.description)
    groups = [g.tag for g in entity.groups.all()]
    if groups:
        info.setdefault("x-cortex-groups", groups)
    owners = [{"type": "group", "name": t.tag} for t in entity.owner_teams.all()]
    owners += [{"type": "email", "email": u.email} for u in entity.owner_users.all()]
    if owners:
        info.setdefault("x-cortex-owners", owners)
    return info


def create_or_patch_entity(workspace: Workspace, user: User, inputs: dict) -> dict:
    """inputs: body (a partial descriptor naming x-cortex-tag), dryRun, appendArrays,
    failIfEntityDoesNotExist. The patch is merged into the stored descriptor."""
    dry_run = _flag(inputs, "dryRun")
    append_arrays = _flag(inputs, "appendArrays")
    must_exist = _flag(inputs, "failIfEntityDoesNotExist")
    patch = _body_document(inputs)
    info = patch.get("info")
    if not isinstance(info, dict):
        raise ActionError("inputs.body: info: is required and must be a mapping")
    tag = info.get("x-cortex-tag")
    if not isinstance(tag, str) or not tag.strip():
        raise ActionError("inputs.body: info.x-cortex-tag: is required")
    openapi = patch.get("openapi", DEFAULT_OPENAPI)
    with transaction.atomic():
        entity = (
            Entity.objects.filter(workspace=workspace, tag=tag.strip())
            .select_related("type")
            .select_for_update(of=("self",))  # until the merge is saved
            .first()
        )
        if entity is None:
            if must_exist:
                raise ActionError(
                    f"There is no entity {tag.strip()!r}, and failIfEntityDoesNotExist is true"
                )
            spec = _parse({**patch, "openapi": openapi})
        else:
            merged = _merge(_stored_info(entity), info, append_arrays)
            spec = _parse({"openapi": openapi, "info": merged})
        saved = None if dry_run else _save(workspace, spec)
    return _entity_outputs(spec, saved, created=entity is None, dry_run=dry_run)


# cortex.addCustomMetricsDataPoint -------------------------------------------


def _number(inputs: dict, key: str) -> float:
    value = inputs.get(key)
    if value is None or value == "":
        raise ActionError(f"inputs.{key} is required (a number)")
    if isinstance(value, bool):
        raise ActionError(f"inputs.{key} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ActionError(f"inputs.{key} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise ActionError(f"inputs.{key} must be a finite number")
    return number


def _timestamp(inputs: dict) -> datetime:
    value = inputs.get("timestamp")
    if value is None or value == "":
        return timezone.now()
    try:
        moment = datetime.fromisoformat(str(value).strip())
    except ValueError:
        raise ActionError(
            f"inputs.timestamp {value!r} is not an ISO 8601 date-time "
            "(for example 2026-05-16T21:42:37Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def add_custom_metrics_data_point(
    workspace: Workspace, user: User, inputs: dict
) -> dict:
    """inputs: entityId (tag), metricsKey, value (number), timestamp (ISO 8601, default now)."""
    entity_id = _required_text(inputs, "entityId", "the entity's tag")
    key = _required_text(inputs, "metricsKey", "the custom metric's key")
    if len(key) > MetricDataPoint._meta.get_field("key").max_length:
        raise ActionError("inputs.metricsKey must be at most 200 characters")
    value = _number(inputs, "value")
    moment = _timestamp(inputs)
    entities = Entity.objects.filter(workspace=workspace)
    entity = entities.filter(tag=entity_id).first()
    if entity is None and parse_id(entity_id) is not None:
        entity = entities.filter(pk=parse_id(entity_id)).first()
    if entity is None:
        raise ActionError(f"inputs.entityId: there is no entity {entity_id!r}")
    point = MetricDataPoint.objects.create(
        workspace=workspace, entity=entity, key=key, value=value, timestamp=moment
    )
    return {
        "entityTag": entity.tag,
        "metricsKey": point.key,
        "value": point.value,
        "timestamp": point.timestamp.isoformat(),
    }


ACTIONS: dict[str, CortexAction] = {
    action.identifier: action
    for action in (
        CortexAction(
            "cortex.createOrUpdateEntity",
            Permission.EDIT_ENTITIES,
            create_or_update_entity,
        ),
        CortexAction(
            "cortex.createOrPatchEntity",
            Permission.EDIT_ENTITIES,
            create_or_patch_entity,
        ),
        CortexAction(
            "cortex.addCustomMetricsDataPoint",
            Permission.CONFIGURE_CUSTOM_METRICS,
            add_custom_metrics_data_point,
        ),
    )
}
