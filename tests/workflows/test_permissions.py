import itertools

import pytest

from catalog.models import Team
from portal.permissions import BUILTIN_ROLES
from tests.factories import EntityFactory, EntityTypeFactory, GroupFactory
from tests.workflows.enginekit import action, make_workflow
from workflows import engine
from workflows.models import Run
from workflows.permissions import entities_for, may_run, visible_workflows
from workflows.services import run_start

USER = frozenset(BUILTIN_ROLES["User"])
VIEWER = frozenset(BUILTIN_ROLES["Viewer"])
MANAGER = frozenset(BUILTIN_ROLES["Manager"])


def entity_workflow(ws, **flt):
    return make_workflow(
        ws, [action("a", root=True)], tag="on-entity", filter={"type": "ENTITY", **flt}
    )


def test_drafts_are_only_listed_for_people_who_may_edit_workflows(ws):
    make_workflow(ws, [action("a", root=True)], tag="draft", isDraft=True)
    make_workflow(ws, [action("a", root=True)], tag="live")
    assert [w.tag for w in visible_workflows(ws, USER)] == ["live"]
    assert sorted(w.tag for w in visible_workflows(ws, MANAGER)) == ["draft", "live"]


def test_an_entity_workflow_applies_to_entities_of_its_types_and_groups(ws, grace):
    library = EntityTypeFactory(workspace=ws, tag="library")
    backend, legacy = (
        GroupFactory(workspace=ws, tag="backend"),
        GroupFactory(workspace=ws, tag="legacy"),
    )
    svc = EntityFactory(workspace=ws, tag="svc")
    svc.groups.add(backend)
    old = EntityFactory(workspace=ws, tag="old")
    old.groups.add(backend, legacy)
    EntityFactory(workspace=ws, tag="lib", type=library)
    wf = entity_workflow(
        ws,
        ownershipScope="ALL",
        entityFilter={
            "typeFilter": {"types": ["service"]},
            "entityGroupFilter": {
                "entityGroups": ["backend"],
                "excludedEntityGroups": ["legacy"],
            },
        },
    )
    found = entities_for(wf.descriptor, workspace=ws, user=grace, perms=USER)
    assert [e.tag for e in found] == ["svc"]


def test_owner_scope_keeps_entities_the_user_owns_directly_or_through_a_team(ws, grace):
    mine, teams, other = (
        EntityFactory(workspace=ws, tag=t) for t in ("mine", "teams", "other")
    )
    mine.owner_users.add(grace)
    team = Team.objects.create(workspace=ws, tag="payments", name="Payments")
    team.members.add(grace)
    teams.owner_teams.add(team)
    wf = entity_workflow(ws, ownershipScope="OWNER")
    assert sorted(
        e.tag for e in entities_for(wf.descriptor, workspace=ws, user=grace, perms=USER)
    ) == ["mine", "teams"]


def test_editor_scope_lets_entity_editors_run_on_any_entity(ws, grace, mona):
    EntityFactory(workspace=ws, tag="svc")
    wf = entity_workflow(ws, ownershipScope="EDITOR")
    assert list(entities_for(wf.descriptor, workspace=ws, user=grace, perms=USER)) == []
    assert [
        e.tag
        for e in entities_for(wf.descriptor, workspace=ws, user=mona, perms=MANAGER)
    ] == ["svc"]


def test_viewers_may_not_run_workflows(ws, vera):
    wf = make_workflow(ws, [action("a", root=True)])
    assert not may_run(wf, user=vera, perms=VIEWER)
    with pytest.raises(engine.NotAllowed):
        run_start(workflow=wf, user=vera, perms=VIEWER)
    assert not Run.objects.exists()


def release_team_workflow(ws, team_workspace, member):
    """A workflow only the team tagged "release" may run, and such a team (of
    `team_workspace`) with `member` in it."""
    team = Team.objects.create(workspace=team_workspace, tag="release", name="Release")
    team.members.add(member)
    return make_workflow(
        ws,
        [action("a", root=True)],
        runRestrictionPolicies=[{"type": "TEAM", "id": "release"}],
    )


def test_run_restriction_policies_limit_who_may_run(ws, grace, mona):
    wf = release_team_workflow(ws, ws, mona)
    assert may_run(wf, user=mona, perms=USER)
    assert not may_run(wf, user=grace, perms=USER)


def test_run_restriction_policies_name_teams_by_tag_or_id_roles_by_name_in_any_case_or_id_and_users_by_email_or_id(
    ws, grace, mona
):
    team = Team.objects.create(workspace=ws, tag="release", name="Release")
    team.members.add(mona)
    grace_role = grace.memberships.get(workspace=ws).roles.get()
    tags = itertools.count()

    def allowed(policy):
        wf = make_workflow(
            ws,
            [action("a", root=True)],
            tag=f"wf-{next(tags)}",
            runRestrictionPolicies=[policy],
        )
        return {u.email for u in (grace, mona) if may_run(wf, user=u, perms=USER)}

    assert allowed({"type": "TEAM", "id": team.pk}) == {"mona@example.com"}
    assert allowed({"type": "TEAM", "id": "Release"}) == set()  # tags are exact
    assert allowed({"type": "CUSTOM_ROLE", "id": grace_role.name.upper()}) == {
        "grace@example.com"
    }
    assert allowed({"type": "CUSTOM_ROLE", "id": str(grace_role.pk)}) == {
        "grace@example.com"
    }
    assert allowed({"type": "USER", "id": "mona@example.com"}) == {"mona@example.com"}
    assert allowed({"type": "USER", "id": grace.pk}) == {"grace@example.com"}
    assert allowed({"type": "USER", "id": "nobody@example.com"}) == set()


def test_a_team_of_another_workspace_does_not_let_its_members_run(ws, other_ws, mona):
    wf = release_team_workflow(ws, other_ws, mona)
    assert not may_run(wf, user=mona, perms=USER)


def test_running_an_entity_workflow_on_an_entity_outside_its_filter_is_refused(
    ws, other_ws, grace
):
    wf = entity_workflow(
        ws, ownershipScope="ALL", entityFilter={"typeFilter": {"types": ["service"]}}
    )
    lib = EntityFactory(
        workspace=ws, type=EntityTypeFactory(workspace=ws, tag="library")
    )
    foreign = EntityFactory(workspace=other_ws, tag="foreign")
    for entity in (lib, foreign):
        with pytest.raises(engine.NotAllowed):
            run_start(workflow=wf, user=grace, perms=USER, entity=entity)
    with pytest.raises(
        engine.NotAllowed, match="foreign is not an entity of this workspace"
    ):
        run_start(workflow=wf, user=grace, perms=USER, entity=foreign)
    with pytest.raises(engine.EngineError, match="choose one"):
        run_start(workflow=wf, user=grace, perms=USER)
    assert not Run.objects.exists()


def test_a_refused_entity_is_told_why(ws, grace):
    backend, legacy = (GroupFactory(workspace=ws, tag=t) for t in ("backend", "legacy"))
    lib = EntityFactory(
        workspace=ws, tag="lib", type=EntityTypeFactory(workspace=ws, tag="library")
    )
    loner = EntityFactory(workspace=ws, tag="loner")
    old = EntityFactory(workspace=ws, tag="old")
    old.groups.add(backend, legacy)
    gone = EntityFactory(workspace=ws, tag="gone", archived=True)
    gone.groups.add(backend)
    theirs = EntityFactory(workspace=ws, tag="theirs")
    theirs.groups.add(backend)
    wf = entity_workflow(
        ws,
        ownershipScope="OWNER",
        entityFilter={
            "typeFilter": {"types": ["service"]},
            "entityGroupFilter": {
                "entityGroups": ["backend"],
                "excludedEntityGroups": ["legacy"],
            },
        },
    )
    for entity, reason in (
        (gone, "gone is archived"),
        (lib, "it runs on entities of type service, and lib is of type library"),
        (
            loner,
            "it runs on entities in the group backend, and loner is in none of them",
        ),
        (old, "old is in the excluded group legacy"),
        (
            theirs,
            "it runs only on entities grace@example.com owns (directly or through a"
            " team), and theirs is not one of them",
        ),
    ):
        with pytest.raises(engine.NotAllowed) as refused:
            run_start(workflow=wf, user=grace, perms=USER, entity=entity)
        assert (
            str(refused.value) == f"This workflow can't run on {entity.tag}: {reason}"
        )
        assert refused.value.personal == (entity is theirs)
    assert not Run.objects.exists()


def test_a_person_who_may_not_run_a_workflow_is_told_why(ws, grace):
    wf = make_workflow(
        ws,
        [action("a", root=True)],
        runRestrictionPolicies=[{"type": "USER", "id": "mona@example.com"}],
    )
    with pytest.raises(
        engine.NotAllowed,
        match="grace@example.com lacks the EXECUTE_WORKFLOW_RUNS permission",
    ):
        run_start(workflow=wf, user=grace, perms=VIEWER)
    with pytest.raises(
        engine.NotAllowed, match="is not named by the workflow's runRestrictionPolicies"
    ):
        run_start(workflow=wf, user=grace, perms=USER)


def test_running_an_entity_workflow_puts_the_entity_in_the_context(
    ws, grace, test_blocks
):
    svc = EntityFactory(workspace=ws, tag="svc", name="Svc")
    wf = entity_workflow(ws, ownershipScope="ALL")
    run = run_start(workflow=wf, user=grace, perms=USER, entity=svc)
    assert run.entity == svc
    assert run.state["context"]["entity"]["tag"] == "svc"
