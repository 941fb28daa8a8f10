"""What every integration block shares: which of the workspace's integrations it
may use, and failing without a single call when there is none. One case per block,
configured as a Cortex descriptor would; each block's own behaviour is tested in
its test_block_*.py, against the same real HTTP server on 127.0.0.1."""

import pytest

from tests.workflows.blockctx import make_ctx
from workflows.blocks.advanced_http_request import AdvancedHttpRequest
from workflows.blocks.github_create_or_update_file import GitHubCreateOrUpdateFile
from workflows.blocks.jira_create_issue import JiraCreateIssue
from workflows.blocks.ms_teams import MsTeams
from workflows.blocks.pagerduty_create_incident import PagerDutyCreateIncident
from workflows.blocks.slack import Slack
from workflows.models import Integration
from workflows.secrets import encrypt

Kind = Integration.Kind
STATE = {"context": {}, "actions": {}, "variables": {}}

# (block, the integration kind it uses, the schema field naming an alias, a schema)
BLOCKS = [
    pytest.param(
        Slack,
        Kind.SLACK,
        "integrationAlias",
        {"type": "SLACK", "channel": "deploys", "message": "hi"},
        id="SLACK",
    ),
    pytest.param(
        MsTeams,
        Kind.MS_TEAMS,
        "integrationAlias",
        {
            "type": "MS_TEAMS_SEND_MESSAGE",
            "teamId": "t",
            "channelId": "c",
            "message": "hi",
        },
        id="MS_TEAMS_SEND_MESSAGE",
    ),
    pytest.param(
        GitHubCreateOrUpdateFile,
        Kind.GITHUB,
        "alias",
        {
            "type": "GITHUB_CREATE_OR_UPDATE_FILE",
            "repositoryName": "acme/payments",
            "path": "README.md",
            "content": "hi",
            "commitMessage": "Say hi",
        },
        id="GITHUB_CREATE_OR_UPDATE_FILE",
    ),
    pytest.param(
        PagerDutyCreateIncident,
        Kind.PAGERDUTY,
        None,  # Cortex's block names no integration: the default one
        {
            "type": "PAGERDUTY_CREATE_INCIDENT",
            "serviceId": "PWIXJZS",
            "title": "Checkout errors",
            "body": "Opened from Cairn",
            "fromEmail": "oncall@example.com",
            "urgency": "HIGH",
        },
        id="PAGERDUTY_CREATE_INCIDENT",
    ),
    pytest.param(
        JiraCreateIssue,
        Kind.JIRA,
        "alias",
        {
            "type": "JIRA_CREATE_ISSUE",
            "projectKey": "OPS",
            "issueType": "Task",
            "issueSummary": "Say hi",
        },
        id="JIRA_CREATE_ISSUE",
    ),
    pytest.param(
        AdvancedHttpRequest,
        Kind.GITLAB,
        "integrationAlias",
        {
            "type": "ADVANCED_HTTP_REQUEST",
            "actionIdentifier": "gitlab.getProject",
            "inputs": {"project": "acme/payments"},
        },
        id="ADVANCED_HTTP_REQUEST gitlab.*",
    ),
]


pytestmark = pytest.mark.usefixtures("loopback_allowed")


def integration(workspace, kind, url, alias="default"):
    return Integration.objects.create(
        workspace=workspace,
        kind=kind,
        alias=alias,
        base_url=url,
        encrypted_token=encrypt("a-token"),
    )


def run(block, schema, ws):
    return block().execute(make_ctx(schema, STATE, workspace=ws))


@pytest.mark.parametrize(
    "elsewhere", ["another kind here", "its kind in another workspace"]
)
@pytest.mark.parametrize(("block", "kind", "alias_field", "schema"), BLOCKS)
def test_without_an_integration_of_its_kind_in_this_workspace_the_block_fails_saying_so(
    block, kind, alias_field, schema, elsewhere, http_server, ws, other_ws
):
    if elsewhere == "another kind here":
        integration(
            ws, Kind.SLACK if kind != Kind.SLACK else Kind.MS_TEAMS, http_server.url("")
        )
    else:
        integration(other_ws, kind, http_server.url(""))

    outcome = run(block, schema, ws)

    assert outcome.status == "FAILED"
    assert f"No {kind.label} integration is configured in this workspace" in (
        outcome.error
    )
    assert http_server.requests == []


@pytest.mark.parametrize(
    ("block", "kind", "alias_field", "schema"),
    [case for case in BLOCKS if case.values[2] is not None],
)
def test_an_unknown_alias_fails_naming_it(
    block, kind, alias_field, schema, http_server, ws
):
    integration(ws, kind, http_server.url(""))

    outcome = run(block, {**schema, alias_field: "apac"}, ws)

    assert outcome.status == "FAILED"
    assert (
        f"No {kind.label} integration with alias 'apac' is configured in this workspace"
        in outcome.error
    )
    assert http_server.requests == []


@pytest.mark.parametrize(("block", "kind", "alias_field", "schema"), BLOCKS)
def test_an_integration_on_a_loopback_address_is_refused_without_the_allowlist(
    block, kind, alias_field, schema, http_server, ws, settings
):
    integration(ws, kind, http_server.url(""))
    settings.HTTP_BLOCK_ALLOWED_HOSTS = []

    outcome = run(block, schema, ws)

    assert outcome.status == "FAILED"
    assert "refused: 127.0.0.1 is a loopback address" in outcome.error
    assert http_server.requests == []
