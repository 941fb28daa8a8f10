"""MS_TEAMS_SEND_MESSAGE through a workspace integration whose base URL is a real
HTTP server on 127.0.0.1 answering like Microsoft Graph."""

import time

import pytest

from tests.workflows.blockctx import make_ctx
from workflows.blocks.ms_teams import MsTeams
from workflows.models import Integration
from workflows.secrets import encrypt

TOKEN = "eyJ0eXAiOiJKV1Qi.graph-token"
TEAM = "fbe2bf47-16c8-47cf-b4a5-4b9b187c508b"
CHANNEL = "19:4a95f7d8db4c4e7fae857bcebe0623e6@thread.tacv2"
MESSAGES = f"/v1.0/teams/{TEAM}/channels/{CHANNEL}/messages"
STATE = {"context": {}, "actions": {}, "variables": {"version": "2.1.0"}}


pytestmark = pytest.mark.usefixtures("loopback_allowed")


@pytest.fixture
def teams(http_server, ws):
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.MS_TEAMS,
        base_url=http_server.url("/v1.0/"),
        encrypted_token=encrypt(TOKEN),
    )
    http_server.route(
        "POST",
        MESSAGES,
        status=201,
        json={"id": "1616965872395", "body": {"content": "…"}},
    )
    return http_server


def run(schema: dict, ws):
    full = {
        "type": "MS_TEAMS_SEND_MESSAGE",
        "teamId": TEAM,
        "channelId": CHANNEL,
        "message": "hi",
        **schema,
    }
    return MsTeams().execute(make_ctx(full, STATE, workspace=ws))


def test_the_message_is_posted_to_the_teams_channel_with_the_integration_token(
    teams, ws
):
    outcome = run({"message": "Released {{variables.version}}"}, ws)

    assert outcome.status == "COMPLETED", outcome.error
    [request] = teams.requests
    assert request.path == MESSAGES
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.json() == {"body": {"content": "Released 2.1.0"}}
    assert outcome.outputs == {
        "id": "1616965872395",
        "teamId": TEAM,
        "channelId": CHANNEL,
    }
    assert outcome.inputs == {
        "teamId": TEAM,
        "channelId": CHANNEL,
        "message": "Released 2.1.0",
    }
    assert TOKEN not in repr(outcome)


def test_a_slash_in_an_id_cannot_change_the_path(teams, ws):
    run({"channelId": "../../users/me"}, ws)

    assert (
        teams.requests[0].target
        == f"/v1.0/teams/{TEAM}/channels/..%2F..%2Fusers%2Fme/messages"
    )


def test_a_graph_error_fails_the_step_with_its_code_and_message(http_server, teams, ws):
    http_server.route(
        "POST",
        MESSAGES,
        status=403,
        json={
            "error": {
                "code": "Forbidden",
                "message": "Missing role permissions on the request.",
            }
        },
    )

    outcome = run({}, ws)

    assert outcome.status == "FAILED"
    assert (
        outcome.error
        == "HTTP 403 from Microsoft Teams: Forbidden: Missing role permissions on the request."
    )


def test_an_error_without_graphs_shape_shows_the_body(http_server, teams, ws):
    http_server.route("POST", MESSAGES, status=502, body="Bad gateway")

    assert run({}, ws).error == "HTTP 502 from Microsoft Teams: Bad gateway"


def test_a_slow_graph_fails_the_step_at_the_timeout(http_server, teams, ws, settings):
    settings.HTTP_BLOCK_TIMEOUT = 0.3
    http_server.route("POST", MESSAGES, status=201, json={"id": "1"}, delay=5)

    started = time.monotonic()
    outcome = run({}, ws)

    assert outcome.error == "timed out after 0.3 s"
    assert time.monotonic() - started < 2


def test_a_redirect_off_the_integration_host_fails_the_step(http_server, teams, ws):
    http_server.redirect(MESSAGES, "http://graph.evil.com/", status=307, method="POST")

    assert run({}, ws).error == "redirect to another host (graph.evil.com) refused"


@pytest.mark.parametrize(
    ("schema", "error"),
    [
        ({"teamId": None}, "Bad configuration: teamId is required"),
        ({"channelId": ""}, "Bad configuration: channelId is required"),
        ({"message": None}, "Bad configuration: message is required"),
    ],
)
def test_bad_configuration_fails_naming_the_field(schema, error, teams, ws):
    outcome = run(schema, ws)

    assert outcome.error == error
    assert teams.requests == []
