"""Catalog endpoints, in Cortex's shapes (the Cortex CLI reads them).

- `GET /catalog` (pagination from 0, `types`, `groups`, `owners`, `query`,
  `includeArchived`), `GET /catalog/{tagOrId}`, `GET /catalog/{tagOrId}/openapi`,
  `GET /catalog/{tagOrId}/custom-data` and `…/custom-data/{key}`;
- custom data: `POST`/`DELETE /catalog/{tagOrId}/custom-data` (`force`), the
  "advanced" `GET`/`POST`/`DELETE /catalog/custom-data?tag=…`, and the bulk
  `PUT /catalog/custom-data`;
- `POST /open-api` creates or updates the entities of a descriptor (YAML, one or
  several documents), `PATCH /open-api` merges one into the existing entity;
- `DELETE /catalog/{tagOrId}`, `DELETE /catalog?ids=…`, and
  `PUT /catalog/{tagOrId}/archive` and `/unarchive`;
- deploys: `GET`/`POST`/`DELETE /catalog/{tagOrId}/deploys` (DELETE filters by
  `sha`, `environment`, `type`), `PUT`/`DELETE …/deploys/{uuid}`, and for the
  whole workspace `DELETE /catalog/deploys` (by filter) and `…/deploys/all`.

Reading needs any key of the workspace; writing needs EDIT_ENTITIES. A tag or
id from another workspace is a 404 like a missing one.
"""

import copy
from datetime import datetime
from typing import Any
from uuid import UUID

import yaml
from django.db import transaction
from django.db.models import Prefetch, Q
from django.http import HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from portal import idempotency, yamlload
from portal.api import (
    IDEMPOTENT_ERRORS,
    BodyError,
    PageParams,
    RequestBody,
    check_storable,
    cortex_page,
    error_body,
    error_docs,
    json_response,
    require,
    utc,
)
from portal.idempotency import idempotent
from portal.ids import parse_id, parse_ids
from portal.permissions import Permission

from .descriptors import (
    DescriptorError,
    check_group,
    check_tag,
    descriptor_custom_data,
    parse_entity,
    parse_entity_file,
)
from .models import Deploy, Entity, EntityType, Team
from .services import (
    CustomDataConflict,
    CustomDataMissing,
    EntityTypeRefused,
    deploy_save,
    deploys_delete,
    entities_custom_data_set,
    entities_upsert,
    entity_custom_data_delete,
    entity_custom_data_set,
    entity_groups_change,
    entity_type_create,
    entity_type_delete,
    entity_type_update,
)

router = Router(tags=["catalog"])
openapi_router = Router(tags=["catalog"])

# Each endpoint's `error_docs` lists the refusals of its own; portal.api.errors
# says which any endpoint may give.

YAML_TYPE = "application/yaml; charset=utf-8"
_IDEMPOTENCY_HEADER = idempotency.OPENAPI_HEADER
_DESCRIPTOR_BODY = {
    **_IDEMPOTENCY_HEADER,
    "requestBody": {
        "required": True,
        "description": "An entity descriptor: OpenAPI-style YAML with x-cortex-* keys "
        "under info; several documents may be separated by ---",
        "content": {
            "application/openapi": {"schema": {"type": "string"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    },
}


class CatalogFilters(PageParams):
    types: list[str] = Field(
        default_factory=list, description="Entity types (repeat or comma-separate)"
    )
    groups: list[str] = Field(
        default_factory=list, description="Groups (repeat or comma-separate)"
    )
    owners: list[str] = Field(
        default_factory=list,
        description="Owning team tags or owner emails (repeat or comma-separate)",
    )
    gitRepositories: list[str] = Field(
        default_factory=list,
        description="Repositories of x-cortex-git, as owner/name (repeat or comma-separate)",
    )
    query: str | None = Field(None, max_length=200)
    includeArchived: bool = False
    includeMetadata: bool = Field(False, description="Each entity's custom data")
    includeLinks: bool = Field(False, description="Each entity's x-cortex-link")


def entity_out(entity: Entity, *, metadata=False, links=False) -> dict:
    """An entity in Cortex's shape; with `metadata` and `links` (as Cortex's
    list gives them on request) its custom data and its links too."""
    out = {
        "id": str(entity.pk),
        "tag": entity.tag,
        "name": entity.name,
        "description": entity.description or None,
        "type": entity.type.tag,
        "groups": [g.tag for g in entity.groups.all()],
        "isArchived": entity.archived,
        "lastUpdated": entity.updated_at.isoformat(),
        "owners": {
            "teams": [{"tag": t.tag, "name": t.name} for t in entity.owner_teams.all()],
            "individuals": [{"email": e} for e in _owner_emails(entity)],
        },
        "git": _git(entity.descriptor or {}),
    }
    if metadata:
        out["metadata"] = [
            {"key": item["key"], "value": item["value"]}
            for item in _custom_data(entity)
        ]
    if links:
        out["links"] = _links(entity.descriptor or {})
    return out


def _owner_emails(entity: Entity) -> list[str]:
    """The owners by email: the members linked, and those the descriptor names
    who are no member (kept there, listed here, linked to nobody)."""
    emails = [u.email.lower() for u in entity.owner_users.all()]
    return list(dict.fromkeys(emails + _descriptor_owner_emails(entity.descriptor)))


def _descriptor_owner_emails(info: dict | None) -> list[str]:
    return [
        owner["email"].lower()
        for owner in (info or {}).get("x-cortex-owners") or []
        if isinstance(owner, dict)
        and str(owner.get("type", "")).lower() == "email"
        and isinstance(owner.get("email"), str)
    ]


def _links(descriptor: dict) -> list[dict]:
    """x-cortex-link's entries, as Cortex gives them: `{name, type, url, description}`."""
    found = descriptor.get("x-cortex-link")
    return [
        {field: link.get(field) for field in ("name", "type", "url", "description")}
        for link in (found if isinstance(found, list) else [])
        if isinstance(link, dict)
    ]


# x-cortex-git's providers: Cortex's name for each, and its repository page
_GIT_PROVIDERS = {
    "github": ("GITHUB", "https://github.com/{}"),
    "gitlab": ("GITLAB", "https://gitlab.com/{}"),
    "bitbucket": ("BITBUCKET", "https://bitbucket.org/{}"),
    "azure": ("AZURE_DEVOPS", None),
}


def _git(descriptor: dict) -> dict | None:
    """The repository of `x-cortex-git`, as Cortex's entity details give it
    (`git.repository` is what its deploy solutions read), or None."""
    git = descriptor.get("x-cortex-git")
    if not isinstance(git, dict):
        return None
    for name, (provider, url) in _GIT_PROVIDERS.items():
        found = git.get(name)
        if isinstance(found, dict) and isinstance(found.get("repository"), str):
            repository = found["repository"]
            return {
                "provider": provider,
                "repository": repository,
                "repositoryUrl": url.format(repository) if url else None,
                "alias": found.get("alias"),
                "basepath": found.get("basepath"),
            }
    return None


def _entities(workspace):
    return (
        Entity.objects.filter(workspace=workspace)
        .select_related("type")
        .prefetch_related(
            "groups", Prefetch("owner_teams", Team.objects.all()), "owner_users"
        )
    )


def _values(values: list[str]) -> list[str]:
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def _find(workspace, tag_or_id: str) -> Entity:
    qs = _entities(workspace)
    entity = qs.filter(tag=tag_or_id).first()
    if entity is None and parse_id(tag_or_id) is not None:
        entity = qs.filter(pk=parse_id(tag_or_id)).first()
    if entity is None:
        what = "tag or id" if parse_id(tag_or_id) is not None else "tag"
        raise HttpError(404, f"could not find entity with {what}: {tag_or_id}")
    return entity


@router.get(
    "",
    summary="List entities",
    openapi_extra=error_docs(),
)
def entity_list(request, filters: Query[CatalogFilters]):
    qs = _entities(request.auth.workspace).search(filters.query or "")
    if not filters.includeArchived:
        qs = qs.filter(archived=False)
    if types := _values(filters.types):
        qs = qs.filter(type__tag__in=types)
    if groups := _values(filters.groups):
        qs = qs.filter(groups__tag__in=groups).distinct()
    if owners := _values(filters.owners):
        # Emails match whatever their case, as they do everywhere else here,
        # and those of no member match as the descriptor names them:
        wanted = {owner.lower() for owner in owners}
        named = [
            pk
            for pk, info in qs.filter(
                descriptor__has_key="x-cortex-owners"
            ).values_list("pk", "descriptor")
            if wanted.intersection(_descriptor_owner_emails(info))
        ]
        emails = Q(pk__in=named)
        for owner in owners:
            emails |= Q(owner_users__email__iexact=owner)
        qs = qs.filter(Q(owner_teams__tag__in=owners) | emails).distinct()
    if repositories := _values(filters.gitRepositories):
        qs = qs.filter(_in_repositories(repositories))
    return cortex_page(
        qs,
        filters.page,
        filters.pageSize,
        "entities",
        lambda entity: entity_out(
            entity, metadata=filters.includeMetadata, links=filters.includeLinks
        ),
    )


def _in_repositories(repositories: list[str]) -> Q:
    """Entities whose x-cortex-git names one of `repositories`, at any provider."""
    found = Q(pk__in=[])
    for provider in _GIT_PROVIDERS:
        found |= Q(
            **{f"descriptor__x-cortex-git__{provider}__repository__in": repositories}
        )
    return found


class DescriptorFilters(PageParams):
    types: list[str] = Field(
        default_factory=list, description="Entity types (repeat or comma-separate)"
    )
    yaml: bool = Field(False, description="Each descriptor as YAML text")


# Before /{tag}, as in Cortex: "descriptors" is no entity's tag here.
@router.get(
    "/descriptors",
    summary="List entity descriptors",
    openapi_extra=error_docs(),
)
def entity_descriptor_list(request, filters: Query[DescriptorFilters]):
    """The descriptors of the workspace's entities, a page at a time, as
    `GET /catalog/{tag}/openapi` gives each (YAML text with yaml=true)."""
    qs = _entities(request.auth.workspace)
    if types := _values(filters.types):
        qs = qs.filter(type__tag__in=types)

    def out(entity: Entity):
        document = {"openapi": "3.0.1", "info": _info(entity)}
        return _dump(document) if filters.yaml else document

    return cortex_page(qs, filters.page, filters.pageSize, "descriptors", out)


class EntityIds(Schema):
    ids: list[str] = Field(description="Entity ids or tags (repeat or comma-separate)")


@router.delete(
    "",
    summary="Delete entities by id or tag",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def entity_delete_many(request, params: Query[EntityIds]):
    require(request.auth, Permission.EDIT_ENTITIES)
    wanted = _values(params.ids)
    numbers = parse_ids(wanted)
    # An id is a number, anything else a tag: "20" never names the entity
    # tagged 20 (which, from before such tags were refused, may be another).
    tags = [value for value in wanted if parse_id(value) is None]
    found = Entity.objects.filter(workspace=request.auth.workspace).filter(
        Q(tag__in=tags) | Q(pk__in=numbers)
    )
    rows = list(found.values_list("pk", "tag"))
    pks, found_tags = {pk for pk, _ in rows}, {tag for _, tag in rows}
    missing = [
        value
        for value in dict.fromkeys(wanted)
        if (
            parse_id(value) not in pks
            if parse_id(value) is not None
            else value not in found_tags
        )
    ]
    if missing:
        # Delete none: a typo among the ids must not leave half of them gone.
        raise HttpError(
            404, f"could not find entities with id or tag: {', '.join(missing)}"
        )
    found.delete()
    return json_response(request, {"message": "Entities deleted successfully"})


class DeployFilters(Schema):
    sha: str | None = Field(None, max_length=200)
    environment: str | None = Field(None, max_length=200)
    type: Deploy.Type | None = None


# Before the /{tag} routes, as in Cortex: "deploys" is no entity's tag here.
@router.delete(
    "/deploys",
    summary="Delete deploys by filter",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(*IDEMPOTENT_ERRORS)},
)
@idempotent
def deploys_delete_by_filter(request, filters: Query[DeployFilters]):
    """The workspace's deploys matching every filter given (`sha`,
    `environment`, `type`); at least one is needed (deploys/all is for all)."""
    require(request.auth, Permission.EDIT_ENTITIES)
    given = {k: v for k, v in filters.dict().items() if v}
    if not given:
        raise HttpError(
            400,
            "Give sha, environment or type to choose the deploys to delete "
            "(DELETE /catalog/deploys/all deletes them all)",
        )
    count = deploys_delete(workspace=request.auth.workspace, **given)
    return json_response(request, {"message": f"{count} deploys deleted"})


@router.delete(
    "/deploys/all",
    summary="Delete all deployments for all entities",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(*IDEMPOTENT_ERRORS)},
)
@idempotent
def deploys_delete_all(request):
    require(request.auth, Permission.EDIT_ENTITIES)
    count = deploys_delete(workspace=request.auth.workspace)
    return json_response(request, {"message": f"{count} deploys deleted"})


class DefinitionParams(PageParams):
    includeBuiltIn: bool = Field(
        False, description="Also service, domain and team, Cortex's built-in types"
    )


BUILT_IN_TYPES = ("service", "domain", "team")


@router.get(
    "/definitions",
    summary="List entity types",
    openapi_extra=error_docs(),
)
def definition_list(request, params: Query[DefinitionParams]):
    """The workspace's entity types, as Cortex's entity type definitions
    (`cortex entity-types list`)."""
    qs = EntityType.objects.filter(workspace=request.auth.workspace).order_by("tag")
    if not params.includeBuiltIn:
        qs = qs.exclude(tag__in=BUILT_IN_TYPES)
    return cortex_page(qs, params.page, params.pageSize, "definitions", _definition)


@router.get(
    "/definitions/{type}",
    summary="Retrieve an entity type",
    openapi_extra=error_docs(404),
)
def definition_detail(request, type: str):
    """One entity type, as the list gives it (`cortex entity-types get`)."""
    return _definition(_entity_type(request.auth.workspace, type))


def _definition(entity_type: EntityType) -> dict:
    return {
        "type": entity_type.tag,
        "name": entity_type.name,
        "description": entity_type.description or None,
        "source": "BUILT_IN" if entity_type.tag in BUILT_IN_TYPES else "CUSTOM",
        "schema": entity_type.schema,
        "iconTag": entity_type.icon_tag or None,
    }


class DefinitionChange(RequestBody):
    READ_ONLY = frozenset({"source"})

    type: str | None = Field(None, description="The type's tag (it can't change)")
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = Field(None, max_length=2000)
    definition_schema: dict[str, Any] | None = Field(
        None, alias="schema", description="Kept and given back; no entity is checked"
    )
    iconTag: str | None = Field(None, max_length=200, description="Kept and given back")


class DefinitionIn(DefinitionChange):
    type: str = Field(..., description="The type's tag (x-cortex-type)")


def _definition_fields(body: DefinitionChange) -> dict:
    fields = {
        "name": body.name,
        "description": body.description,
        "schema": body.definition_schema,
        "icon_tag": body.iconTag,
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    check_storable(fields.get("schema"), "schema")
    return fields


def _entity_type(workspace, tag: str) -> EntityType:
    found = EntityType.objects.filter(workspace=workspace, tag=tag).first()
    if found is None:
        raise HttpError(404, f"could not find entity type: {tag}")
    return found


@router.post(
    "/definitions",
    summary="Create an entity type",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(*IDEMPOTENT_ERRORS)},
)
@idempotent
def definition_create(request, body: DefinitionIn):
    """`cortex entity-types create`: `{type, name, description, schema, iconTag}`."""
    require(request.auth, Permission.EDIT_ENTITIES)
    try:
        tag = check_tag(body.type.strip(), "type", 100)
    except DescriptorError as exc:
        raise HttpError(400, str(exc)) from None
    fields = {"name": tag, "description": "", "schema": {}, "icon_tag": ""}
    fields |= _definition_fields(body)
    try:
        entity_type = entity_type_create(
            workspace=request.auth.workspace, tag=tag, **fields
        )
    except EntityTypeRefused as exc:
        raise HttpError(409, str(exc)) from None
    return json_response(request, _definition(entity_type))


@router.put(
    "/definitions/{type}",
    summary="Update an entity type",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def definition_update(request, type: str, body: DefinitionChange):
    """`cortex entity-types update`: its name, description or schema."""
    require(request.auth, Permission.EDIT_ENTITIES)
    entity_type = _entity_type(request.auth.workspace, type)
    if body.type is not None and body.type != entity_type.tag:
        raise HttpError(400, f"type: an entity type's tag can't change ({type})")
    fields = _definition_fields(body)
    if fields:
        entity_type_update(entity_type=entity_type, **fields)
    return json_response(request, _definition(entity_type))


@router.delete(
    "/definitions/{type}",
    summary="Delete an entity type",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def definition_delete(request, type: str):
    """`cortex entity-types delete`: only a type no entity has."""
    require(request.auth, Permission.EDIT_ENTITIES)
    try:
        entity_type_delete(entity_type=_entity_type(request.auth.workspace, type))
    except EntityTypeRefused as exc:
        raise HttpError(409, str(exc)) from None
    return json_response(request, {"message": f"Entity type {type} deleted"})


# --- custom data: the descriptor's (x-cortex-custom-metadata) and the API's ------


def _custom_data(entity: Entity) -> list[dict]:
    """The entity's custom data, in Cortex's shape, by key (PostgreSQL
    doesn't keep a JSON object's order): the descriptor's (source YAML) and
    what the API set (source API, which wins for a key it was forced over).
    Cairn's custom data has no id."""
    updated = entity.updated_at.isoformat()
    items = {
        key: {
            "value": value,
            "description": None,
            "source": "YAML",
            "dateUpdated": updated,
        }
        for key, value in descriptor_custom_data(entity.descriptor).items()
    }
    for key, item in entity.custom_data.items():
        items[key] = {**item, "source": "API"}
    return [{"id": None, "key": key, **items[key]} for key in sorted(items)]


def _custom_data_item(entity: Entity, key: str) -> dict:
    for item in _custom_data(entity):
        if item["key"] == key:
            return item
    raise HttpError(404, f"Custom data not found for entity {entity.tag} and key {key}")


def _custom_data_page(entity: Entity, paging: PageParams) -> list[dict]:
    # As in Cortex, a bare list: a page past the end is empty (the CLI reads
    # pages until then).
    start = paging.page * paging.pageSize
    return _custom_data(entity)[start : start + paging.pageSize]


class CustomDataIn(RequestBody):
    READ_ONLY = frozenset({"id", "source", "dateUpdated"})  # what `get` answers
    key: str = Field(..., min_length=1, max_length=200)
    value: Any = Field(..., description="Any JSON value")
    description: str | None = Field(None, max_length=2000)


class CustomDataBulk(RequestBody):
    values: dict[str, list[CustomDataIn]] = Field(
        ..., description="Entity tag → its keys", max_length=1000
    )


class Force(Schema):
    force: bool = Field(
        False,
        description="Also override or delete keys the entity's descriptor defines,"
        " until the descriptor is imported again",
    )


class CustomDataAt(PageParams):
    tag: str = Field(..., description="The entity's tag or id")
    key: str | None = Field(None, description="One key; all of them without it")


class CustomDataTarget(Force):
    tag: str = Field(..., description="The entity's tag or id")


class CustomDataKey(Force):
    key: str = Field(..., min_length=1, max_length=200)


def _item_fields(item: CustomDataIn, where: str) -> dict:
    key = item.key.strip()
    if not key:
        raise BodyError(f"{where}key must not be blank")
    check_storable(item.value, f"{where}value")
    return {"key": key, "value": item.value, "description": item.description}


def _set_custom_data(request, tag: str, item: CustomDataIn, force: bool):
    require(request.auth, Permission.EDIT_ENTITIES)
    entity = _find(request.auth.workspace, tag)
    fields = _item_fields(item, "")
    try:
        entity_custom_data_set(entity=entity, items=[fields], force=force)
    except CustomDataConflict as exc:
        raise HttpError(409, str(exc)) from None
    entity.refresh_from_db()
    return json_response(request, _custom_data_item(entity, fields["key"]))


def _delete_custom_data(request, tag: str, key: str, force: bool):
    require(request.auth, Permission.EDIT_ENTITIES)
    entity = _find(request.auth.workspace, tag)
    try:
        entity_custom_data_delete(entity=entity, key=key, force=force)
    except CustomDataConflict as exc:
        raise HttpError(409, str(exc)) from None
    except CustomDataMissing as exc:
        raise HttpError(404, str(exc)) from None
    return json_response(request, {"message": f"Custom data key {key} deleted"})


# Cortex's "advanced" forms take the tag in the query (for keys and tags a path
# can't hold) and the bulk PUT; before /{tag}: "custom-data" is no entity's tag.
@router.get(
    "/custom-data",
    summary="Retrieve custom data for entity (advanced)",
    openapi_extra=error_docs(404),
)
def custom_data_by_query(request, params: Query[CustomDataAt]):
    entity = _find(request.auth.workspace, params.tag)
    if params.key is None:
        return _custom_data_page(entity, params)
    return _custom_data_item(entity, params.key)


@router.post(
    "/custom-data",
    summary="Add custom data for entity (advanced)",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def custom_data_add_by_query(
    request, params: Query[CustomDataTarget], body: CustomDataIn
):
    return _set_custom_data(request, params.tag, body, params.force)


@router.put(
    "/custom-data",
    summary="Add custom data in bulk",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def custom_data_bulk(request, params: Query[Force], body: CustomDataBulk):
    """Set keys of several entities at once (`{"values": {tag: [{key, value,
    description}]}}`): all of them, or none when one is wrong."""
    require(request.auth, Permission.EDIT_ENTITIES)
    changes = []
    for tag, items in body.values.items():
        entity = _find(request.auth.workspace, tag)
        fields = [
            _item_fields(item, f"values.{tag}[{index}].")
            for index, item in enumerate(items)
        ]
        changes.append((entity, fields))
    try:
        stored = entities_custom_data_set(changes=changes, force=params.force)
    except CustomDataConflict as exc:
        raise HttpError(409, str(exc)) from None
    tags = {entity.pk: entity.tag for entity, _ in changes}
    return json_response(
        request, {"values": {tags[pk]: items for pk, items in stored.items()}}
    )


@router.delete(
    "/custom-data",
    summary="Delete custom data for entity (advanced)",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def custom_data_delete_by_query(request, params: Query[CustomDataTarget], key: str):
    return _delete_custom_data(request, params.tag, key, params.force)


@router.get(
    "/{tag}/custom-data",
    summary="List custom data for entity",
    openapi_extra=error_docs(404),
)
def entity_custom_data(request, tag: str, paging: Query[PageParams]):
    """The entity's custom data keys, a page at a time (`cortex custom-data list`)."""
    return _custom_data_page(_find(request.auth.workspace, tag), paging)


@router.post(
    "/{tag}/custom-data",
    summary="Add custom data for entity",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def entity_custom_data_add(request, tag: str, params: Query[Force], body: CustomDataIn):
    """Set one key (`cortex custom-data add`); answers it as stored."""
    return _set_custom_data(request, tag, body, params.force)


@router.delete(
    "/{tag}/custom-data",
    summary="Delete custom data for entity",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def entity_custom_data_remove(request, tag: str, params: Query[CustomDataKey]):
    """Delete one key (`cortex custom-data delete`)."""
    return _delete_custom_data(request, tag, params.key, params.force)


@router.get(
    "/{tag}/custom-data/{key}",
    summary="Retrieve custom data for entity by key",
    openapi_extra=error_docs(404),
)
def entity_custom_data_key(request, tag: str, key: str):
    return _custom_data_item(_find(request.auth.workspace, tag), key)


@router.get(
    "/{tag}",
    summary="Entity details",
    openapi_extra=error_docs(404),
)
def entity_details(request, tag: str):
    return entity_out(_find(request.auth.workspace, tag), metadata=True, links=True)


class GroupRef(RequestBody):
    tag: str = Field(..., max_length=100)


class GroupsBody(RequestBody):
    groups: list[GroupRef] = Field(..., max_length=1000)


def _group_tags(body: GroupsBody) -> list[str]:
    """The groups' tags, by the rule descriptors follow (`cloudType:gcp` is one)."""
    tags = []
    for index, group in enumerate(body.groups):
        try:
            tags.append(check_group(group.tag, f"groups[{index}].tag"))
        except DescriptorError as exc:
            raise HttpError(400, str(exc)) from None
    return tags


def _groups_page(tags: list[str], page: int, size: int) -> dict:
    return cortex_page(tags, page, size, "groups", lambda tag: {"tag": tag})


@router.get(
    "/{tag}/groups",
    summary="Groups of an entity",
    openapi_extra=error_docs(404),
)
def entity_groups(request, tag: str, params: Query[PageParams]):
    """The entity's groups (x-cortex-groups) as Cortex lists them: `{groups:
    [{tag}], page, total, totalPages}` (`cortex groups get`)."""
    entity = _find(request.auth.workspace, tag)
    tags = [group.tag for group in entity.groups.all()]
    return _groups_page(tags, params.page, params.pageSize)


@router.put(
    "/{tag}/groups",
    summary="Add groups to an entity",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def entity_groups_add(request, tag: str, body: GroupsBody):
    """Add `groups` (`[{tag}]`) to the entity's; answers its groups (`cortex groups add`)."""
    return _change_groups(request, tag, body, "add")


@router.delete(
    "/{tag}/groups",
    summary="Remove groups from an entity",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def entity_groups_remove(request, tag: str, body: GroupsBody):
    """Remove `groups` (`[{tag}]`) from the entity's; answers its groups
    (`cortex groups delete`)."""
    return _change_groups(request, tag, body, "remove")


def _change_groups(request, tag: str, body: GroupsBody, how: str):
    require(request.auth, Permission.EDIT_ENTITIES)
    entity = _find(request.auth.workspace, tag)
    tags = entity_groups_change(entity=entity, **{how: _group_tags(body)})
    return json_response(request, _groups_page(tags, 0, max(len(tags), 1)))


@router.get(
    "/{tag}/openapi",
    summary="Entity descriptor",
    openapi_extra=error_docs(404),
)
def entity_descriptor(request, tag: str, yaml: bool = False):
    """The entity's descriptor (`openapi` + `info`), as JSON or, with yaml=true, YAML."""
    entity = _find(request.auth.workspace, tag)
    document = {"openapi": "3.0.1", "info": _info(entity)}
    if yaml:
        return HttpResponse(_dump(document), content_type=YAML_TYPE)
    return document


# --- deploys, as Cortex's deploys API (deploy workflows record them) ------------


class Deployer(RequestBody):
    email: str | None = Field(None, max_length=254)
    name: str | None = Field(None, max_length=200)


class DeployRequest(RequestBody):
    READ_ONLY = frozenset({"uuid"})  # a deploy as the API gives it may come back
    title: str = Field(min_length=1, max_length=500)
    type: Deploy.Type = Field(description="DEPLOY, SCALE, ROLLBACK or RESTART")
    timestamp: datetime = Field(description="When it happened (ISO 8601)")
    sha: str | None = Field(None, max_length=200)
    environment: str | None = Field(None, max_length=200)
    url: str | None = Field(None, max_length=2000)
    customData: dict[str, Any] | None = None
    deployer: Deployer | None = None

    def fields(self) -> dict:
        return {
            "title": self.title,
            "type": self.type,
            "timestamp": utc(self.timestamp, "timestamp"),
            "sha": self.sha or "",
            "environment": self.environment or "",
            "url": self.url or "",
            "custom_data": self.customData or {},
            "deployer_email": (self.deployer and self.deployer.email) or "",
            "deployer_name": (self.deployer and self.deployer.name) or "",
        }


def deploy_out(deploy: Deploy) -> dict:
    deployer = None
    if deploy.deployer_email or deploy.deployer_name:
        deployer = {
            "email": deploy.deployer_email or None,
            "name": deploy.deployer_name or None,
        }
    return {
        "uuid": str(deploy.uuid),
        "title": deploy.title,
        "type": deploy.type,
        "timestamp": deploy.timestamp.isoformat(),
        "sha": deploy.sha or None,
        "environment": deploy.environment or None,
        "url": deploy.url or None,
        "customData": deploy.custom_data or None,
        "deployer": deployer,
    }


def _deploy(entity: Entity, uuid: str) -> Deploy:
    try:
        return entity.deploys.get(uuid=UUID(uuid))
    except (ValueError, Deploy.DoesNotExist):
        raise HttpError(
            404, f"Deploy {uuid} not found for entity {entity.tag}"
        ) from None


@router.get(
    "/{tag}/deploys",
    summary="List deployments for entity",
    openapi_extra=error_docs(404),
)
def deploy_list(request, tag: str, paging: Query[PageParams]):
    """The entity's deploys, newest first, a page at a time."""
    deploys = _find(request.auth.workspace, tag).deploys.all()
    return cortex_page(deploys, paging.page, paging.pageSize, "deployments", deploy_out)


@router.post(
    "/{tag}/deploys",
    summary="Add deployment for entity",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def deploy_add(request, tag: str, payload: DeployRequest):
    return _deploy_saved(request, tag, payload)


@router.put(
    "/{tag}/deploys/{uuid}",
    summary="Update deployment by UUID",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def deploy_update(request, tag: str, uuid: str, payload: DeployRequest):
    return _deploy_saved(request, tag, payload, uuid)


def _deploy_saved(request, tag: str, payload: DeployRequest, uuid: str | None = None):
    """Record a new deploy of the entity, or replace the one `uuid` names."""
    require(request.auth, Permission.EDIT_ENTITIES)
    entity = _find(request.auth.workspace, tag)
    deploy = _deploy(entity, uuid) if uuid is not None else None
    check_storable(payload.customData, "customData")
    deploy = deploy_save(entity=entity, fields=payload.fields(), deploy=deploy)
    return json_response(request, deploy_out(deploy))


@router.delete(
    "/{tag}/deploys/{uuid}",
    summary="Delete deployment by UUID",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def deploy_delete(request, tag: str, uuid: str):
    require(request.auth, Permission.EDIT_ENTITIES)
    _deploy(_find(request.auth.workspace, tag), uuid).delete()
    return json_response(request, {"message": "Deploy deleted successfully"})


@router.delete(
    "/{tag}/deploys",
    summary="Delete deployments for entity",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def deploy_delete_many(request, tag: str, filters: Query[DeployFilters]):
    """The entity's deploys matching every filter given; all of them without one."""
    require(request.auth, Permission.EDIT_ENTITIES)
    entity = _find(request.auth.workspace, tag)
    count = deploys_delete(
        workspace=request.auth.workspace,
        entity=entity,
        **{k: v for k, v in filters.dict().items() if v},
    )
    return json_response(request, {"message": f"{count} deploys deleted"})


def _dump(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _info(entity: Entity) -> dict:
    info = copy.deepcopy(entity.descriptor or {})
    info.setdefault("title", entity.name)
    info.setdefault("x-cortex-tag", entity.tag)
    info.setdefault("x-cortex-type", entity.type.tag)
    if entity.description and "x-cortex-description" not in info:
        info.setdefault("description", entity.description)
    return info


@router.delete(
    "/{tag}",
    summary="Delete an entity",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def entity_delete(request, tag: str):
    require(request.auth, Permission.EDIT_ENTITIES)
    _find(request.auth.workspace, tag).delete()
    return json_response(request, {"message": "Entity deleted successfully"})


@router.put(
    "/{tag}/archive",
    summary="Archive an entity",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def entity_archive(request, tag: str):
    return _set_archived(request, tag, True)


@router.put(
    "/{tag}/unarchive",
    summary="Unarchive an entity",
    openapi_extra={**_IDEMPOTENCY_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def entity_unarchive(request, tag: str):
    return _set_archived(request, tag, False)


def _set_archived(request, tag: str, archived: bool):
    require(request.auth, Permission.EDIT_ENTITIES)
    entity = _find(request.auth.workspace, tag)
    entity.archived = archived
    entity.save(update_fields=["archived", "updated_at"])
    return json_response(request, entity_out(entity))


# --- descriptors: POST and PATCH /open-api -----------------------------------------


def _descriptor_error(request, exc: DescriptorError):
    """400 in Cortex's shape, with `violations` (which the Cortex CLI prints)."""
    body = error_body(400, f"Invalid entity descriptor: {exc}")
    body["violations"] = [
        {
            "title": "Invalid entity descriptor",
            "description": exc.message,
            "pointer": exc.field or None,
            "violationType": "MUST",
        }
    ]
    return json_response(request, body, 400)


def _text(request) -> str:
    try:
        return request.body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HttpError(400, "The descriptor is not UTF-8 text") from None


@openapi_router.post(
    "",
    summary="Create or update entities from a descriptor",
    openapi_extra={**_DESCRIPTOR_BODY, **error_docs(*IDEMPOTENT_ERRORS)},
)
@idempotent
def entity_create(request, dryRun: bool = False):
    """Create or update (by x-cortex-tag) the entities of a descriptor; `dryRun`
    only validates it. Needs EDIT_ENTITIES."""
    require(request.auth, Permission.EDIT_ENTITIES)
    try:
        specs = parse_entity_file(_text(request))
        for spec in specs:
            check_storable(spec.info, "info")
    except DescriptorError as exc:
        return _descriptor_error(request, exc)
    except BodyError as exc:
        raise HttpError(400, f"Invalid entity descriptor: {exc}") from None
    if dryRun:
        return json_response(request, {"ok": True, "violations": []})
    entities = entities_upsert(workspace=request.auth.workspace, specs=specs)
    return json_response(
        request,
        {
            "ok": True,
            "violations": [],
            "entities": [entity_out(e) for e in _reload(entities)],
        },
    )


def _reload(entities: list[Entity]) -> list[Entity]:
    """The saved entities again, with what entity_out shows in a few queries."""
    by_pk = {
        e.pk: e
        for e in Entity.objects.filter(pk__in=[e.pk for e in entities])
        .select_related("type")
        .prefetch_related("groups", "owner_teams", "owner_users")
    }
    return [by_pk[e.pk] for e in entities]


def _merge(base, patch, *, append: bool, marker: str):
    """`patch` merged into `base`: mappings key by key, lists replaced (or appended),
    keys whose patch value is the delete marker removed."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value == marker:
                merged.pop(key, None)
            elif key in merged:
                merged[key] = _merge(merged[key], value, append=append, marker=marker)
            else:
                merged[key] = _strip(value, marker)
        return merged
    if append and isinstance(base, list) and isinstance(patch, list):
        return base + [_strip(v, marker) for v in patch if v not in base]
    return _strip(patch, marker)


def _strip(value, marker: str):
    if isinstance(value, dict):
        return {k: _strip(v, marker) for k, v in value.items() if v != marker}
    if isinstance(value, list):
        return [_strip(v, marker) for v in value if v != marker]
    return value


@openapi_router.patch(
    "",
    summary="Create or merge into entities from a descriptor",
    openapi_extra={**_DESCRIPTOR_BODY, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
@transaction.atomic
def entity_patch(
    request,
    dryRun: bool = False,
    appendArrays: bool = False,
    deleteMarkerValue: str = "__delete__",
    failIfEntityDoesNotExist: bool = False,
):
    """Merge each document of the descriptor into the existing entity with its
    x-cortex-tag (creating it unless failIfEntityDoesNotExist). Needs EDIT_ENTITIES."""
    require(request.auth, Permission.EDIT_ENTITIES)
    workspace = request.auth.workspace
    try:
        documents = [d for d in yamlload.load_all(_text(request)) if d is not None]
    except yaml.YAMLError as exc:
        return _descriptor_error(request, DescriptorError("", f"invalid YAML: {exc}"))
    if not documents:
        return _descriptor_error(
            request, DescriptorError("", "the file holds no descriptor")
        )
    specs = []
    for document in documents:
        try:
            check_storable(document, "descriptor")
        except BodyError as exc:
            raise HttpError(400, f"Invalid entity descriptor: {exc}") from None
        info = document.get("info") if isinstance(document, dict) else None
        tag = info.get("x-cortex-tag") if isinstance(info, dict) else None
        existing = (
            # Locked until the merge is saved: a change meanwhile isn't lost.
            Entity.objects.select_for_update()
            .filter(workspace=workspace, tag=tag)
            .first()
            if isinstance(tag, str)
            else None
        )
        if existing is None and failIfEntityDoesNotExist:
            raise HttpError(404, f"could not find entity with tag: {tag}")
        if existing is not None:
            document = {
                **document,
                "info": _merge(
                    _info(existing),
                    info,
                    append=appendArrays,
                    marker=deleteMarkerValue,
                ),
            }
        try:
            specs.append(parse_entity(document))
        except DescriptorError as exc:
            return _descriptor_error(request, exc)
    if dryRun:
        return json_response(request, {"ok": True, "violations": []})
    entities = entities_upsert(workspace=workspace, specs=specs)
    return json_response(
        request,
        {
            "ok": True,
            "violations": [],
            "entities": [entity_out(e) for e in _reload(entities)],
        },
    )
