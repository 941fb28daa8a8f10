"""SLACK through a workspace integration whose base URL is a real HTTP server on 127.0.0.1."""

import time

import pytest

from tests.workflows.blockctx import make_ctx
from workflows.blocks.slack import Slack
from workflows.models import Integration
from workflows.secrets import encrypt

TOKEN = "xoxb-1234-test-token"
STATE = {
    "context": {"initiatedBy": {"name": "Ada"}},
    "actions": {},
    "variables": {"service": "payments"},
}


pytestmark = pytest.mark.usefixtures("loopback_allowed")


@pytest.fixture
def slack(http_server, ws):
    """A Slack integration pointing at the test server, which answers like Slack."""
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.SLACK,
        base_url=http_server.url(""),
        encrypted_token=encrypt(TOKEN),
    )
    http_server.route(
        "POST",
        "/api/chat.postMessage",
        json={"ok": True, "channel": "C024BE91L", "ts": "1401383885.000061"},
    )
    return http_server


def run(schema: dict, ws):
    return Slack().execute(make_ctx({"type": "SLACK", **schema}, STATE, workspace=ws))


def test_the_message_is_posted_to_the_channel_with_the_integration_token(slack, ws):
    outcome = run(
        {
            "channel": "deploys",
            "message": "{{context.initiatedBy.name}} deployed {{variables.service}}",
        },
        ws,
    )

    assert outcome.status == "COMPLETED", outcome.error
    [request] = slack.requests
    assert request.path == "/api/chat.postMessage"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.json() == {"channel": "deploys", "text": "Ada deployed payments"}
    assert outcome.outputs == {
        "ok": True,
        "channel": "C024BE91L",
        "ts": "1401383885.000061",
    }
    assert outcome.inputs == {"channel": "deploys", "message": "Ada deployed payments"}


def test_the_token_is_kept_out_of_the_inputs_and_outputs(slack, ws):
    outcome = run({"channel": "deploys", "message": "hi"}, ws)

    assert TOKEN not in repr(outcome)


def test_a_leading_hash_in_the_channel_is_dropped(slack, ws):
    run({"channel": "#deploys", "message": "hi"}, ws)

    assert slack.requests[0].json()["channel"] == "deploys"


def test_slack_refusing_the_message_fails_the_step_with_slacks_error(
    http_server, slack, ws
):
    http_server.route(
        "POST",
        "/api/chat.postMessage",
        json={"ok": False, "error": "channel_not_found"},
    )

    outcome = run({"channel": "nowhere", "message": "hi"}, ws)

    assert outcome.status == "FAILED"
    assert outcome.error == "Slack refused the message: channel_not_found"


def test_an_error_status_from_slack_fails_the_step(http_server, slack, ws):
    http_server.route(
        "POST", "/api/chat.postMessage", status=503, body="upstream unavailable"
    )

    outcome = run({"channel": "deploys", "message": "hi"}, ws)

    assert outcome.error == "HTTP 503 from Slack: upstream unavailable"


def test_an_answer_that_is_not_json_fails_the_step(http_server, slack, ws):
    http_server.route("POST", "/api/chat.postMessage", body="<html>proxy login</html>")

    outcome = run({"channel": "deploys", "message": "hi"}, ws)

    assert outcome.error == "Slack's answer is not JSON: <html>proxy login</html>"


def test_a_slow_slack_fails_the_step_at_the_timeout(http_server, slack, ws, settings):
    settings.HTTP_BLOCK_TIMEOUT = 0.3
    http_server.route("POST", "/api/chat.postMessage", json={"ok": True}, delay=5)

    started = time.monotonic()
    outcome = run({"channel": "deploys", "message": "hi"}, ws)

    assert outcome.error == "timed out after 0.3 s"
    assert time.monotonic() - started < 2


def test_an_oversized_answer_fails_the_step(http_server, slack, ws, settings):
    settings.HTTP_BLOCK_MAX_BYTES = 1024
    http_server.route(
        "POST", "/api/chat.postMessage", json={"ok": True, "junk": "x" * 2048}
    )

    outcome = run({"channel": "deploys", "message": "hi"}, ws)

    assert outcome.error == "response larger than 1 KiB"


def test_a_redirect_off_the_integration_host_fails_the_step(http_server, slack, ws):
    http_server.redirect(
        "/api/chat.postMessage", "https://evil.com/collect", status=307, method="POST"
    )

    outcome = run({"channel": "deploys", "message": "hi"}, ws)

    assert outcome.error == "redirect to another host (evil.com) refused"


def test_the_integration_alias_picks_the_integration(http_server, slack, ws):
    other = Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.SLACK,
        alias="eu",
        base_url=http_server.url("/eu"),
        encrypted_token=encrypt("xoxb-eu"),
    )
    http_server.route(
        "POST",
        "/eu/api/chat.postMessage",
        json={"ok": True, "channel": "C1", "ts": "1"},
    )

    outcome = run(
        {"channel": "deploys", "message": "hi", "integrationAlias": other.alias}, ws
    )

    assert outcome.status == "COMPLETED"
    assert slack.requests[0].path == "/eu/api/chat.postMessage"
    assert slack.requests[0].headers["authorization"] == "Bearer xoxb-eu"


def test_the_only_integration_is_used_when_no_alias_is_given(http_server, ws):
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.SLACK,
        alias="main",
        base_url=http_server.url(""),
        encrypted_token=encrypt(TOKEN),
    )
    http_server.route("POST", "/api/chat.postMessage", json={"ok": True})

    assert run({"channel": "deploys", "message": "hi"}, ws).status == "COMPLETED"


def test_an_integration_without_a_token_fails_the_step(http_server, ws):
    Integration.objects.create(
        workspace=ws, kind=Integration.Kind.SLACK, base_url=http_server.url("")
    )

    outcome = run({"channel": "deploys", "message": "hi"}, ws)

    assert outcome.error == "The Slack integration 'default' has no token"


@pytest.mark.parametrize(
    ("schema", "error"),
    [
        ({"message": "hi"}, "Bad configuration: channel is required"),
        ({"channel": "deploys"}, "Bad configuration: message is required"),
        (
            {"channel": "{{variables.nope}}", "message": "hi"},
            "Bad configuration: channel is empty once rendered (template: {{variables.nope}})",
        ),
    ],
)
def test_bad_configuration_fails_naming_the_field(schema, error, slack, ws):
    outcome = run(schema, ws)

    assert outcome.error == error
    assert slack.requests == []
