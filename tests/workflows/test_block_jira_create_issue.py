"""JIRA_CREATE_ISSUE through a workspace integration whose base URL is a real HTTP
server on 127.0.0.1 answering like Jira's REST API v2."""

import base64
import socket
from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import EntityFactory
from tests.workflows.blockctx import make_ctx
from tests.workflows.test_engine import run_to_rest
from workflows import descriptor, engine
from workflows.blocks.jira_create_issue import JiraCreateIssue
from workflows.models import Integration, Run
from workflows.secrets import encrypt
from workflows.services import workflow_upsert

PAT = "jira-data-center-pat"
STATE = {
    "context": {"entity": {"tag": "payments-api"}},
    "actions": {"ask": {"outputs": {"summary": "Rotate the TLS certificate"}}},
    "variables": {"team": "platform"},
}
CREATED = {"id": "10042", "key": "OPS-42", "self": "SITE/rest/api/2/issue/10042"}


pytestmark = pytest.mark.usefixtures("loopback_allowed")


@pytest.fixture
def jira(http_server, ws):
    """A Jira Data Center integration (a personal access token) on the test server."""
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.JIRA,
        base_url=http_server.url("/jira"),
        encrypted_token=encrypt(PAT),
    )
    http_server.route("POST", "/jira/rest/api/2/issue", status=201, json=CREATED)
    return http_server


def schema(**fields):
    return {
        "type": "JIRA_CREATE_ISSUE",
        "alias": "",
        "projectKey": "OPS",
        "issueType": "Task",
        "issueSummary": "{{actions.ask.outputs.summary}}",
        "description": "For {{context.entity.tag}}",
        "labels": ["{{variables.team}}", "from-cairn", "{{variables.none}}"],
        "components": ["Payments"],
        "fields": {"customfield_10010": {"value": "{{variables.team}}"}},
        **fields,
    }


def run(ws, **fields):
    return JiraCreateIssue().execute(make_ctx(schema(**fields), STATE, workspace=ws))


def test_the_issue_is_created_with_the_rendered_fields_and_its_page_is_output(jira, ws):
    outcome = run(ws, priority="High", assignee="alice", reporter="bob")

    assert outcome.status == "COMPLETED", outcome.error
    [request] = jira.requests
    assert (request.method, request.path) == ("POST", "/jira/rest/api/2/issue")
    assert request.headers["authorization"] == f"Bearer {PAT}"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.json() == {
        "fields": {
            "project": {"key": "OPS"},
            "issuetype": {"name": "Task"},
            "summary": "Rotate the TLS certificate",
            "description": "For payments-api",
            "labels": ["platform", "from-cairn"],  # the empty one is dropped
            "components": [{"name": "Payments"}],
            "priority": {"name": "High"},
            "assignee": {"name": "alice"},
            "reporter": {"name": "bob"},
            "customfield_10010": {"value": "platform"},
        }
    }
    assert outcome.outputs == {
        **CREATED,
        "url": jira.url("/jira/browse/OPS-42"),
    }
    assert outcome.inputs["issueSummary"] == "Rotate the TLS certificate"
    assert PAT not in repr(outcome)


@pytest.fixture
def atlassian_is_local(monkeypatch):
    """acme.atlassian.net resolves to the test server (DNS: the outside world)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host == "acme.atlassian.net":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_jira_cloud_gets_basic_credentials_and_account_ids(
    http_server, ws, atlassian_is_local
):
    # A site under atlassian.net is Jira Cloud:
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.JIRA,
        alias="cloud",
        base_url=http_server.url("", host="acme.atlassian.net"),
        encrypted_token=encrypt("ada@example.com:atl-token"),
    )
    http_server.route("POST", "/rest/api/2/issue", status=201, json=CREATED)

    outcome = run(ws, alias="cloud", assignee="5b10ac8d82e05b22cc7d4ef5")

    assert outcome.status == "COMPLETED", outcome.error
    [request] = http_server.requests
    expected = base64.b64encode(b"ada@example.com:atl-token").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.json()["fields"]["assignee"] == {
        "accountId": "5b10ac8d82e05b22cc7d4ef5"
    }


def test_extra_fields_add_to_but_never_replace_the_blocks_own(jira, ws):
    outcome = run(ws, fields={"summary": "Sneaky", "duedate": "2026-12-31"})

    assert outcome.status == "COMPLETED", outcome.error
    sent = jira.requests[0].json()["fields"]
    assert sent["summary"] == "Rotate the TLS certificate"
    assert sent["duedate"] == "2026-12-31"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"projectKey": None}, "projectKey is required"),
        (
            {"issueSummary": "{{variables.none}}"},
            "issueSummary is empty once rendered (template: {{variables.none}})",
        ),
        ({"labels": "ops"}, "labels must be a list of names"),
        ({"labels": ["two words"]}, "labels can't contain spaces (Jira refuses them)"),
        ({"components": [1]}, "components must be a list of names"),
        ({"fields": ["x"]}, "fields must map Jira field ids to values"),
        ({"priority": 3}, "priority must be text"),
    ],
)
def test_bad_configuration_fails_naming_the_field_without_calling_jira(
    jira, ws, fields, error
):
    outcome = run(ws, **fields)

    assert outcome.status == "FAILED"
    assert outcome.error == f"Bad configuration: {error}"
    assert jira.requests == []


def test_jiras_refusal_fails_the_block_with_its_messages(http_server, jira, ws):
    http_server.route(
        "POST",
        "/jira/rest/api/2/issue",
        status=400,
        json={
            "errorMessages": ["Project OPS is archived"],
            "errors": {"components": "Component name 'Payments' is not valid"},
        },
    )

    outcome = run(ws)

    assert outcome.status == "FAILED"
    assert outcome.error == (
        "HTTP 400 from Jira: Project OPS is archived; "
        "components: Component name 'Payments' is not valid"
    )


def test_an_answer_without_a_key_fails_the_block(http_server, jira, ws):
    http_server.route("POST", "/jira/rest/api/2/issue", status=201, json={})

    outcome = run(ws)

    assert outcome.status == "FAILED"
    assert outcome.error.startswith("Jira's answer has no issue key")


# --- through the engine ---------------------------------------------------------------

FILE_A_TICKET = """\
name: File a ticket
tag: file-a-ticket
filter:
  type: GLOBAL
actions:
- name: Create issue
  slug: create-issue
  schema:
    type: JIRA_CREATE_ISSUE
    alias: ""
    projectKey: OPS
    issueType: Bug
    issueSummary: "{{context.initialContext.summary}}"
    description: "Filed by {{context.initiatedBy.email}}"
    labels: [cairn]
    components: []
    fields: {}
  outgoingActions: []
  isRootAction: true
runResponseTemplate: "Filed [{{actions.create-issue.outputs.key}}]\
({{{actions.create-issue.outputs.url}}})"
"""


def test_a_cortex_descriptor_files_an_issue_and_links_it(jira, ws, grace):
    wf, _ = workflow_upsert(
        workspace=ws, descriptor=descriptor.validate(descriptor.parse(FILE_A_TICKET))
    )

    run_ = run_to_rest(
        engine.start(
            workflow=wf, initiator=grace, initial_context={"summary": "Login is slow"}
        )
    )

    assert run_.status == Run.Status.COMPLETED, run_.error
    sent = jira.requests[0].json()["fields"]
    assert sent["summary"] == "Login is slow"
    assert sent["description"] == f"Filed by {grace.email}"
    assert sent["components"] == []
    assert run_.response.strip() == (
        f"Filed [OPS-42]({jira.url('/jira/browse/OPS-42')})"
    )
    assert PAT not in str(run_.state)


def test_a_descriptor_without_a_project_key_does_not_save():
    broken = FILE_A_TICKET.replace("    projectKey: OPS\n", "")

    with pytest.raises(descriptor.DescriptorError) as caught:
        descriptor.validate(descriptor.parse(broken))

    assert "actions['create-issue'].schema.projectKey: is required" in str(
        caught.value.errors
    )


def test_the_demo_ticket_workflow_files_what_the_form_says(jira, ws, grace):
    demo = Path(settings.BASE_DIR) / "demo" / "workflows" / "file-a-ticket.yaml"
    wf, _ = workflow_upsert(
        workspace=ws, descriptor=descriptor.validate(descriptor.parse(demo.read_text()))
    )
    entity = EntityFactory(workspace=ws, tag="ledger", name="Ledger")

    run_ = run_to_rest(engine.start(workflow=wf, initiator=grace, entity=entity))
    engine.submit_input(
        run_,
        run_.steps.get(slug="describe"),
        values={"projectKey": "OPS", "issueType": "Bug", "summary": "Ledger is slow"},
        by=grace,
    )
    run_ = run_to_rest(run_)

    assert run_.status == Run.Status.COMPLETED, run_.error
    sent = jira.requests[0].json()["fields"]
    assert sent["project"] == {"key": "OPS"}
    assert sent["issuetype"] == {"name": "Bug"}
    assert sent["summary"] == "Ledger: Ledger is slow"
    assert sent["labels"] == ["ledger", "cairn"]
    assert f"Filed from Cairn by {grace.display_name}." in sent["description"]
    assert "## OPS-42 is filed" in run_.response
