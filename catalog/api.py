"""Catalog endpoints, in Cortex's shapes (the Cortex CLI reads them)."""

from django.db.models import Prefetch
from ninja import Query, Router, Schema
from ninja.errors import HttpError

from .models import Entity, Team

router = Router(tags=["catalog"])


class CatalogFilters(Schema):
    page: int = 0
    pageSize: int = 250
    types: str | None = None
    groups: str | None = None
    query: str | None = None
    includeArchived: bool = False


def entity_out(entity: Entity) -> dict:
    return {
        "tag": entity.tag,
        "name": entity.name,
        "description": entity.description or None,
        "type": entity.type.tag,
        "groups": [g.tag for g in entity.groups.all()],
        "isArchived": entity.archived,
        "lastUpdated": entity.updated_at.isoformat(),
        "owners": {
            "teams": [{"tag": t.tag, "name": t.name} for t in entity.owner_teams.all()],
            "individuals": [{"email": u.email} for u in entity.owner_users.all()],
        },
    }


def _entities(workspace):
    return (
        Entity.objects.filter(workspace=workspace)
        .select_related("type")
        .prefetch_related(
            "groups", Prefetch("owner_teams", Team.objects.all()), "owner_users"
        )
    )


@router.get("", summary="List entities")
def entity_list(request, filters: Query[CatalogFilters]):
    if filters.page < 0 or not 1 <= filters.pageSize <= 1000:
        raise HttpError(400, "page must be >= 0 and pageSize between 1 and 1000")
    qs = _entities(request.auth.workspace).search(filters.query or "")
    if not filters.includeArchived:
        qs = qs.filter(archived=False)
    if filters.types:
        qs = qs.filter(type__tag__in=filters.types.split(","))
    if filters.groups:
        qs = qs.filter(groups__tag__in=filters.groups.split(",")).distinct()
    total = qs.count()
    start = filters.page * filters.pageSize
    rows = list(qs[start : start + filters.pageSize])
    return {
        "entities": [entity_out(e) for e in rows],
        "page": filters.page,
        "total": total,
        "totalPages": -(-total // filters.pageSize),
    }


@router.get("/{tag}", summary="Entity details")
def entity_details(request, tag: str):
    entity = _entities(request.auth.workspace).filter(tag=tag).first()
    if entity is None:
        raise HttpError(404, f"could not find entity with tag: {tag}")
    return entity_out(entity)
