"""Teams in Cortex's API shape (`cortex teams list/get/create/update/delete`).

- `GET /teams` (`includeTeamsWithoutMembers`), `GET /teams/{teamTag}`: any key.
- `POST /teams`, `PUT /teams/{teamTag}`, `DELETE /teams/{teamTag}`: MANAGE_TEAMS.

Cairn's teams are Cortex's CORTEX teams: a tag, a name, a description and
members, who must be members of the workspace (as on Settings → Teams). What
Cairn's teams don't have (an IdP group, links, Slack channels, a summary,
archiving) is refused when set, not dropped: the CLI's `teams update` sends
them back empty, which is fine.
"""

from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.db.models import Prefetch
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from catalog.models import Team
from portal.api import (
    IDEMPOTENT_ERRORS,
    RequestBody,
    error_docs,
    json_response,
    require,
)
from portal.idempotency import OPENAPI_HEADER, idempotent
from portal.ids import parse_id
from portal.permissions import Permission

from . import services
from .forms import TeamCreateForm
from .models import User

router = Router(tags=["teams"])
# Each endpoint's `error_docs` lists the refusals of its own; portal.api.errors
# says which any endpoint may give.


class Metadata(RequestBody):
    name: str = Field(..., min_length=1, max_length=100)
    description: str | None = Field(None, max_length=300)
    summary: str | None = None


class Member(RequestBody):
    email: str = Field(..., max_length=254)
    name: str | None = None
    description: str | None = None
    role: str | None = None
    notificationsEnabled: bool = True


class CortexTeam(RequestBody):
    members: list[Member] = Field(default_factory=list, max_length=1000)


class TeamChange(RequestBody):
    id: str | None = None
    teamTag: str | None = Field(None, description="The team's tag (it can't change)")
    catalogEntityTag: str | None = None
    type: Literal["CORTEX", "IDP"] = "CORTEX"
    metadata: Metadata
    cortexTeam: CortexTeam = Field(default_factory=CortexTeam)
    idpGroup: dict[str, Any] | None = None
    links: list[Any] = Field(default_factory=list)
    slackChannels: list[Any] = Field(default_factory=list)
    isArchived: bool = False


class TeamIn(TeamChange):
    teamTag: str = Field(..., description="Letters, numbers, hyphens and underscores")


class TeamParams(Schema):
    includeTeamsWithoutMembers: bool = False


def _team_out(team: Team) -> dict:
    return {
        "id": str(team.pk),
        "teamTag": team.tag,
        "catalogEntityTag": team.tag,
        "type": "CORTEX",
        "isArchived": False,
        "metadata": {
            "name": team.name,
            "description": team.description or None,
            "summary": None,
        },
        "links": [],
        "slackChannels": [],
        "cortexTeam": {
            "members": [
                {
                    "email": user.email,
                    "name": user.get_full_name() or user.email,
                    "description": None,
                    "role": None,
                    "notificationsEnabled": True,
                }
                for user in team.members.all()
            ]
        },
    }


def _teams(workspace):
    return Team.objects.filter(workspace=workspace).prefetch_related(
        Prefetch("members", User.objects.order_by("email"))
    )


def _find(workspace, tag_or_id: str) -> Team:
    found = _teams(workspace).filter(tag=tag_or_id).first()
    if found is None and (pk := parse_id(tag_or_id)) is not None:
        found = _teams(workspace).filter(pk=pk).first()
    if found is None:
        raise HttpError(404, f"could not find team with tag: {tag_or_id}")
    return found


def _checked(workspace, body: TeamChange, tag: str) -> tuple[dict, list[User]]:
    """The team's fields and members from a body; a 400 naming what Cairn's
    teams can't hold or who is no member of the workspace."""
    problems = []
    if body.type == "IDP" or body.idpGroup:
        problems.append("type: Cairn's teams are CORTEX teams (members listed here)")
    for field in ("links", "slackChannels"):
        if getattr(body, field):
            problems.append(f"{field}: Cairn's teams have none")
    if body.metadata.summary:
        problems.append("metadata.summary: Cairn's teams have a description only")
    if body.isArchived:
        problems.append("isArchived: Cairn's teams can't be archived")
    if body.catalogEntityTag not in (None, tag):
        problems.append(f"catalogEntityTag: must be the team's tag, {tag}")
    emails = [member.email.strip().lower() for member in body.cortexTeam.members]
    users = {
        u.email.lower(): u
        for u in User.objects.filter(
            memberships__workspace=workspace, email__in=emails, is_active=True
        )
    }
    for index, email in enumerate(emails):
        if email not in users:
            problems.append(
                f"cortexTeam.members[{index}].email: {email} is not a member of"
                " this workspace"
            )
    if not body.metadata.name.strip():
        problems.append("metadata.name: must not be blank")
    if problems:
        raise HttpError(400, "; ".join(problems))
    fields = {
        "name": body.metadata.name.strip(),
        "description": (body.metadata.description or "").strip(),
    }
    return fields, list(dict.fromkeys(users[email] for email in emails))


@router.get(
    "",
    summary="List teams",
    openapi_extra=error_docs(),
)
def team_list(request, params: Query[TeamParams]):
    """`{teams: […]}`; without `includeTeamsWithoutMembers`, teams with members only."""
    teams = [
        team
        for team in _teams(request.auth.workspace)
        if params.includeTeamsWithoutMembers or team.members.all()
    ]
    return {"teams": [_team_out(team) for team in teams]}


@router.get(
    "/{teamTag}",
    summary="Get a team",
    openapi_extra=error_docs(404),
)
def team_get(request, teamTag: str):
    return _team_out(_find(request.auth.workspace, teamTag))


# The create form's fields, as the body names them:
_BODY_NAMES = {"tag": "teamTag", "name": "metadata.name"}


@router.post(
    "",
    summary="Create a team",
    openapi_extra={**OPENAPI_HEADER, **error_docs(*IDEMPOTENT_ERRORS)},
)
@idempotent
def team_create(request, body: TeamIn):
    require(request.auth, Permission.MANAGE_TEAMS)
    workspace = request.auth.workspace
    if Team.objects.filter(workspace=workspace, tag=body.teamTag).exists():
        raise HttpError(409, f"A team with the tag {body.teamTag} already exists")
    form = TeamCreateForm(
        {"tag": body.teamTag, "name": body.metadata.name}, workspace=workspace
    )
    if not form.is_valid():
        raise HttpError(
            400,
            "; ".join(
                f"{_BODY_NAMES[field]}: {' '.join(messages)}"
                for field, messages in form.errors.items()
            ),
        )
    tag = form.cleaned_data["tag"]
    fields, members = _checked(workspace, body, tag)
    try:
        with transaction.atomic():
            team = services.team_create(workspace=workspace, tag=tag, **fields)
            services.team_update(team=team, members=members, **fields)
    except IntegrityError:  # created by another request meanwhile
        raise HttpError(409, f"A team with the tag {tag} already exists") from None
    return json_response(request, _team_out(_find(workspace, tag)))


@router.put(
    "/{teamTag}",
    summary="Update a team",
    openapi_extra={**OPENAPI_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def team_update(request, teamTag: str, body: TeamChange):
    """Its name, description and members (`cortex teams update`)."""
    require(request.auth, Permission.MANAGE_TEAMS)
    workspace = request.auth.workspace
    team = _find(workspace, teamTag)
    if body.teamTag not in (None, team.tag):
        raise HttpError(400, f"teamTag: a team's tag can't change ({team.tag})")
    fields, members = _checked(workspace, body, team.tag)
    services.team_update(team=team, members=members, **fields)
    return json_response(request, _team_out(_find(workspace, team.tag)))


@router.delete(
    "/{teamTag}",
    summary="Delete a team",
    openapi_extra={**OPENAPI_HEADER, **error_docs(404, *IDEMPOTENT_ERRORS)},
)
@idempotent
def team_delete(request, teamTag: str):
    require(request.auth, Permission.MANAGE_TEAMS)
    team = _find(request.auth.workspace, teamTag)
    services.team_delete(team=team)
    return json_response(request, {"message": f"Team {team.tag} deleted"})
