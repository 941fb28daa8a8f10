"""Runs see the initiator's linked accounts as Cortex's identity mappings."""

import pytest

from tests.factories import integration, member
from tests.workflows.enginekit import action, make_workflow
from workflows import engine
from workflows.models import LinkedAccount, RunStatus


@pytest.fixture
def github(ws):
    return integration(ws)


def test_a_run_sees_the_initiators_accounts_as_cortexs_identity_mappings(
    ws, other_ws, grace, github, test_blocks
):
    enterprise = integration(ws, alias="enterprise")
    slack = integration(ws, kind="SLACK", alias="eng")
    mine = grace.memberships.get(workspace=ws)
    for linked_to, account in (
        (github, "grace-h"),
        (enterprise, "gh-e"),
        (slack, "U7"),
    ):
        LinkedAccount.objects.create(
            membership=mine, integration=linked_to, account=account
        )
    # Her account in another workspace is not this one's.
    LinkedAccount.objects.create(
        membership=member(other_ws, grace),
        integration=integration(other_ws),
        account="no",
    )
    wf = make_workflow(ws, [action("a", root=True)])
    run = engine.start(workflow=wf, initiator=grace)
    person = run.state["context"]["initiatedBy"]
    assert person["identityMappings"] == {"github": "grace-h", "slack": "U7"}
    assert person["identityMappingsByAlias"] == {
        "github": {"default": "grace-h", "enterprise": "gh-e"},
        "slack": {"eng": "U7"},
    }


def test_a_script_and_a_template_read_the_initiators_github_login(
    ws, grace, github, test_blocks
):
    LinkedAccount.objects.create(
        membership=grace.memberships.get(workspace=ws), integration=github, account="gh"
    )
    wf = make_workflow(
        ws,
        [
            action(
                "js",
                "JAVASCRIPT",
                ["echo"],
                root=True,
                script="return {login: context.initiatedBy.identityMappings.github};",
            ),
            action(
                "echo",
                outputs={"login": "{{context.initiatedBy.identityMappings.github}}"},
            ),
        ],
    )
    run = engine.start(workflow=wf, initiator=grace)
    engine.advance(run.pk)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED, run.error
    assert run.state["actions"]["js"]["outputs"] == {"login": "gh"}
    assert run.state["actions"]["echo"]["outputs"] == {"login": "gh"}


def test_an_initiator_picked_later_brings_their_accounts(
    ws, ada, grace, github, test_blocks
):
    LinkedAccount.objects.create(
        membership=grace.memberships.get(workspace=ws), integration=github, account="gh"
    )
    wf = make_workflow(
        ws, [action("a", root=True)], restrictActionCompletionToRunnerUser=True
    )
    run = engine.start(workflow=wf, initiator=None, source="API")
    assert run.status == RunStatus.PAUSED
    engine.set_initiator(
        run,
        user=grace,
        by=ada,
        perms=ada.memberships.get(workspace=ws).permission_set(),
    )
    run.refresh_from_db()
    assert run.state["context"]["initiatedBy"]["identityMappings"] == {"github": "gh"}
