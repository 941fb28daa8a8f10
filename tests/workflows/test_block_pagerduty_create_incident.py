"""PAGERDUTY_CREATE_INCIDENT through a workspace integration whose base URL is a
real HTTP server on 127.0.0.1 answering like PagerDuty's REST API v2."""

from pathlib import Path

import pytest
from django.conf import settings

from tests.factories import EntityFactory
from tests.workflows.blockctx import make_ctx
from tests.workflows.test_engine import run_to_rest
from workflows import descriptor, engine
from workflows.blocks.pagerduty_create_incident import PagerDutyCreateIncident
from workflows.models import Integration, Run
from workflows.secrets import encrypt
from workflows.services import workflow_upsert

TOKEN = "u+pd-rest-api-key"
STATE = {
    "context": {"entity": {"name": "Payments API"}},
    "actions": {"ask": {"outputs": {"summary": "Checkout errors at 40%"}}},
    "variables": {"pdService": "PWIXJZS"},
}
INCIDENT = {
    "id": "Q2N3ZLB8OZJ3LA",
    "incident_number": 1234,
    "title": "Payments API: Checkout errors at 40%",
    "status": "triggered",
    "urgency": "high",
    "html_url": "https://acme.pagerduty.com/incidents/Q2N3ZLB8OZJ3LA",
    "service": {"id": "PWIXJZS", "type": "service_reference"},
}


pytestmark = pytest.mark.usefixtures("loopback_allowed")


@pytest.fixture
def pagerduty(http_server, ws):
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.PAGERDUTY,
        base_url=http_server.url(""),
        encrypted_token=encrypt(TOKEN),
    )
    http_server.route("POST", "/incidents", status=201, json={"incident": INCIDENT})
    return http_server


def schema(**fields):
    return {
        "type": "PAGERDUTY_CREATE_INCIDENT",
        "serviceId": "{{variables.pdService}}",
        "title": "{{context.entity.name}}: {{actions.ask.outputs.summary}}",
        "body": "Opened from Cairn",
        "fromEmail": "oncall@example.com",
        "urgency": "HIGH",
        **fields,
    }


def run(ws, **fields):
    return PagerDutyCreateIncident().execute(
        make_ctx(schema(**fields), STATE, workspace=ws)
    )


def test_the_incident_is_opened_on_the_service_as_the_from_user(pagerduty, ws):
    outcome = run(ws, incidentTypeName="major_incident")

    assert outcome.status == "COMPLETED", outcome.error
    [request] = pagerduty.requests
    assert (request.method, request.path) == ("POST", "/incidents")
    assert request.headers["authorization"] == f"Token token={TOKEN}"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["from"] == "oncall@example.com"
    assert request.headers["accept"] == "application/vnd.pagerduty+json;version=2"
    assert request.json() == {
        "incident": {
            "type": "incident",
            "title": "Payments API: Checkout errors at 40%",
            "service": {"id": "PWIXJZS", "type": "service_reference"},
            "urgency": "high",
            "body": {"type": "incident_body", "details": "Opened from Cairn"},
            "incident_type": {"name": "major_incident"},
        }
    }
    assert outcome.outputs == {
        "id": "Q2N3ZLB8OZJ3LA",
        "incidentNumber": 1234,
        "status": "triggered",
        "urgency": "high",
        "htmlUrl": "https://acme.pagerduty.com/incidents/Q2N3ZLB8OZJ3LA",
        "title": "Payments API: Checkout errors at 40%",
        "incident": INCIDENT,
    }
    assert outcome.inputs == {
        "serviceId": "PWIXJZS",
        "title": "Payments API: Checkout errors at 40%",
        "body": "Opened from Cairn",
        "fromEmail": "oncall@example.com",
        "urgency": "HIGH",
        "incidentTypeName": "major_incident",
    }
    assert TOKEN not in repr(outcome)


def test_without_an_incident_type_none_is_sent_and_low_urgency_is_lowercased(
    pagerduty, ws
):
    outcome = run(ws, urgency="low")

    assert outcome.status == "COMPLETED", outcome.error
    sent = pagerduty.requests[0].json()["incident"]
    assert "incident_type" not in sent
    assert sent["urgency"] == "low"
    assert outcome.inputs["urgency"] == "LOW"


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"serviceId": None}, "serviceId is required"),
        (
            {"title": "{{actions.nothing.outputs.x}}"},
            "title is empty once rendered (template: {{actions.nothing.outputs.x}})",
        ),
        ({"urgency": "MEDIUM"}, "urgency must be HIGH or LOW, not 'MEDIUM'"),
        ({"fromEmail": "oncall"}, "fromEmail must be an email address, not 'oncall'"),
    ],
)
def test_bad_configuration_fails_naming_the_field_without_calling_pagerduty(
    pagerduty, ws, fields, error
):
    outcome = run(ws, **fields)

    assert outcome.status == "FAILED"
    assert outcome.error == f"Bad configuration: {error}"
    assert pagerduty.requests == []


def test_pagerdutys_refusal_fails_the_block_with_its_message_and_details(
    http_server, pagerduty, ws
):
    http_server.route(
        "POST",
        "/incidents",
        status=400,
        json={
            "error": {
                "message": "Invalid Input Provided",
                "code": 2001,
                "errors": ["Service not found."],
            }
        },
    )

    outcome = run(ws)

    assert outcome.status == "FAILED"
    assert outcome.error == (
        "HTTP 400 from PagerDuty: Invalid Input Provided (Service not found.)"
    )
    assert outcome.inputs["serviceId"] == "PWIXJZS"


def test_an_answer_without_an_incident_fails_the_block(http_server, pagerduty, ws):
    http_server.route("POST", "/incidents", status=201, json={"ok": True})

    outcome = run(ws)

    assert outcome.status == "FAILED"
    assert outcome.error.startswith("PagerDuty's answer has no incident: ")


# --- through the engine ---------------------------------------------------------------

OPEN_INCIDENT = """\
name: Open an incident
tag: open-an-incident
filter:
  type: ENTITY
  entityFilter:
    typeFilter:
      types: [service]
actions:
- name: Open incident
  slug: open-incident
  schema:
    type: PAGERDUTY_CREATE_INCIDENT
    serviceId: PWIXJZS
    title: "{{context.entity.name}} is down"
    body: "Reported by {{context.initiatedBy.email}}"
    fromEmail: "{{context.initiatedBy.email}}"
    urgency: HIGH
  outgoingActions: []
  isRootAction: true
runResponseTemplate: "Incident #{{actions.open-incident.outputs.incidentNumber}}: \
{{actions.open-incident.outputs.htmlUrl}}"
"""


def test_a_cortex_descriptor_opens_an_incident_and_links_it_in_the_response(
    pagerduty, ws, grace
):
    wf, _ = workflow_upsert(
        workspace=ws, descriptor=descriptor.validate(descriptor.parse(OPEN_INCIDENT))
    )
    entity = EntityFactory(workspace=ws, tag="payments-api", name="Payments API")

    run_ = run_to_rest(engine.start(workflow=wf, initiator=grace, entity=entity))

    assert run_.status == Run.Status.COMPLETED, run_.error
    [request] = pagerduty.requests
    assert request.headers["from"] == grace.email
    assert request.json()["incident"]["title"] == "Payments API is down"
    assert run_.response.strip() == (
        "Incident #1234: https://acme.pagerduty.com/incidents/Q2N3ZLB8OZJ3LA"
    )
    assert TOKEN not in str(run_.state)


def test_a_descriptor_with_an_unknown_urgency_does_not_save():
    with pytest.raises(descriptor.DescriptorError) as caught:
        descriptor.validate(
            descriptor.parse(OPEN_INCIDENT.replace("urgency: HIGH", "urgency: SOON"))
        )

    assert "actions['open-incident'].schema.urgency" in str(caught.value.errors)


def test_the_demo_incident_workflow_opens_what_the_form_says(pagerduty, ws, grace):
    demo = Path(settings.BASE_DIR) / "demo" / "workflows" / "open-an-incident.yaml"
    wf, _ = workflow_upsert(
        workspace=ws, descriptor=descriptor.validate(descriptor.parse(demo.read_text()))
    )
    entity = EntityFactory(workspace=ws, tag="ledger", name="Ledger")

    run_ = run_to_rest(engine.start(workflow=wf, initiator=grace, entity=entity))
    engine.submit_input(
        run_,
        run_.steps.get(slug="describe"),
        values={"serviceId": "PWIXJZS", "summary": "Ledger is down"},
        by=grace,
    )
    run_ = run_to_rest(run_)

    assert run_.status == Run.Status.COMPLETED, run_.error
    sent = pagerduty.requests[0].json()["incident"]
    assert sent["title"] == "Ledger: Ledger is down"
    assert sent["urgency"] == "high"
    assert f"Opened from Cairn by {grace.display_name}." in sent["body"]["details"]
    assert pagerduty.requests[0].headers["from"] == grace.email
    assert "## Incident #1234 is open" in run_.response
