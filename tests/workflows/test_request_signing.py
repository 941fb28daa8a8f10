"""Request signing: HTTP blocks sign what they send with the workspace's signing secret."""

import hashlib
import hmac
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portal import services
from tests.workflows.blockctx import make_ctx
from tests.workflows.enginekit import action, make_workflow
from workflows import engine
from workflows.blocks.http_request import HttpRequest
from workflows.blocks.http_request_async import HttpRequestAsync

KEY = "whsec-0123456789abcdef"
STATE = {"context": {}, "actions": {}, "variables": {"env": "prod"}}

pytestmark = pytest.mark.usefixtures("loopback_allowed")


def send(block, http_server, ws, **schema):
    schema = {
        "type": block.type,
        "httpMethod": "POST",
        "url": http_server.url("/hook"),
        "headers": {},
        **schema,
    }
    return block.execute(
        make_ctx(schema, STATE, workspace=ws, callback_url="http://cairn/cb/1")
    )


def expected(key: str, timestamp: str, body: bytes, digest) -> str:
    return hmac.new(key.encode(), timestamp.encode() + b"." + body, digest).hexdigest()


def test_a_request_is_signed_with_the_workspaces_signing_secret(http_server, ws):
    services.signing_secret_set(workspace=ws, value=KEY)
    http_server.route("POST", "/hook", json={"ok": True})
    before = int(time.time() * 1000)

    outcome = send(
        HttpRequest(), http_server, ws, payload='{"env": "{{variables.env}}"}'
    )

    assert outcome.status == "COMPLETED"
    [request] = http_server.requests
    timestamp = request.headers["x-cortex-timestamp"]
    assert before <= int(timestamp) <= int(time.time() * 1000)
    body = b'{"env": "prod"}'
    assert request.body == body
    assert request.headers["x-cortex-signature-256"] == expected(
        KEY, timestamp, body, hashlib.sha256
    )
    assert request.headers["x-cortex-signature"] == expected(
        KEY, timestamp, body, hashlib.sha1
    )
    assert (
        request.headers["x-cortex-timestamp-only-signature-256"]
        == hmac.new(KEY.encode(), timestamp.encode(), hashlib.sha256).hexdigest()
    )
    # What the step shows is what the descriptor asked for, not the signature:
    assert "x-cortex-signature" not in str(outcome.inputs).lower()


def test_a_request_without_a_body_signs_the_timestamp_and_an_empty_body(
    http_server, ws
):
    services.signing_secret_set(workspace=ws, value=KEY)
    http_server.route("GET", "/hook", json={})

    send(HttpRequest(), http_server, ws, httpMethod="GET")

    [request] = http_server.requests
    timestamp = request.headers["x-cortex-timestamp"]
    assert request.headers["x-cortex-signature-256"] == expected(
        KEY, timestamp, b"", hashlib.sha256
    )


def test_an_async_request_is_signed_too(http_server, ws):
    services.signing_secret_set(workspace=ws, value=KEY)
    http_server.route("POST", "/hook", status=202, json={})

    outcome = send(HttpRequestAsync(), http_server, ws, payload="{{{callbackUrl}}}")

    assert outcome.status == "WAITING"
    [request] = http_server.requests
    assert request.headers["x-cortex-signature-256"] == expected(
        KEY, request.headers["x-cortex-timestamp"], b"http://cairn/cb/1", hashlib.sha256
    )


@pytest.mark.parametrize("status", [301, 302, 303])
def test_a_redirect_that_drops_the_body_is_signed_for_what_it_sends(
    http_server, ws, status
):
    services.signing_secret_set(workspace=ws, value=KEY)
    http_server.route(
        "POST", "/hook", status=status, headers={"Location": "/final"}, body=""
    )
    http_server.route("GET", "/final", json={})

    outcome = send(HttpRequest(), http_server, ws, payload='{"a": "é"}')

    assert outcome.status == "COMPLETED"
    first, final = http_server.requests
    assert first.body == '{"a": "é"}'.encode()
    assert (final.method, final.body) == ("GET", b"")
    for request, body in ((first, first.body), (final, b"")):
        assert request.headers["x-cortex-signature-256"] == expected(
            KEY, request.headers["x-cortex-timestamp"], body, hashlib.sha256
        )


def test_a_redirect_that_keeps_the_body_signs_it_again(http_server, ws):
    services.signing_secret_set(workspace=ws, value=KEY)
    http_server.route(
        "POST", "/hook", status=307, headers={"Location": "/final"}, body=""
    )
    http_server.route("POST", "/final", json={})

    send(HttpRequest(), http_server, ws, payload="keep me")

    final = http_server.requests[1]
    assert final.body == b"keep me"
    assert final.headers["x-cortex-signature-256"] == expected(
        KEY, final.headers["x-cortex-timestamp"], b"keep me", hashlib.sha256
    )


def test_a_descriptor_cannot_forge_the_signature_headers(http_server, ws):
    services.signing_secret_set(workspace=ws, value=KEY)
    http_server.route("POST", "/hook", json={})

    send(
        HttpRequest(),
        http_server,
        ws,
        headers={"X-Cortex-Signature-256": "forged", "X-Cortex-Timestamp": "1"},
    )

    [request] = http_server.requests
    timestamp = request.headers["x-cortex-timestamp"]
    assert timestamp != "1"
    assert request.headers["x-cortex-signature-256"] == expected(
        KEY, timestamp, b"", hashlib.sha256
    )


def test_without_a_signing_secret_nothing_is_signed(http_server, ws, other_ws):
    services.signing_secret_set(workspace=other_ws, value=KEY)  # not this one's
    http_server.route("POST", "/hook", json={})

    send(HttpRequest(), http_server, ws)

    [request] = http_server.requests
    assert not [name for name in request.headers if name.startswith("x-cortex")]


def test_removing_the_signing_secret_stops_the_signing(http_server, ws):
    services.signing_secret_set(workspace=ws, value=KEY)
    assert services.signing_secret_remove(workspace=ws)
    http_server.route("POST", "/hook", json={})

    send(HttpRequest(), http_server, ws)

    [request] = http_server.requests
    assert "x-cortex-timestamp" not in request.headers
    assert not services.signing_secret_remove(workspace=ws)


def run_calling_twice(http_server, ws, grace):
    """A run of two HTTP blocks, advanced in-process; the queries of its slice."""
    http_server.route("POST", "/hook", json={})
    call = {"httpMethod": "POST", "url": http_server.url("/hook"), "headers": {}}
    wf = make_workflow(
        ws,
        [
            action("one", "HTTP_REQUEST", ["two"], root=True, **call),
            action("two", "HTTP_REQUEST", [], **call),
        ],
    )
    run = engine.start(workflow=wf, initiator=grace)
    with CaptureQueriesContext(connection) as queries:
        engine.advance(run.pk)
    run.refresh_from_db()
    assert run.status == "COMPLETED", run.error
    return [q["sql"] for q in queries.captured_queries]


def test_a_run_signs_each_call_with_the_secret_read_when_it_was_claimed(
    http_server, ws, grace
):
    services.signing_secret_set(workspace=ws, value=KEY)

    sql = run_calling_twice(http_server, ws, grace)

    for request in http_server.requests:
        timestamp = request.headers["x-cortex-timestamp"]
        assert request.headers["x-cortex-signature-256"] == expected(
            KEY, timestamp, request.body, hashlib.sha256
        )
    assert len(http_server.requests) == 2
    # Read once, with the run: not one query per call.
    assert [q for q in sql if "workflows_signingsecret" in q] == [
        next(q for q in sql if "FROM workflows_run r" in q)
    ]


def test_a_run_in_a_workspace_without_a_signing_secret_signs_nothing(
    http_server, ws, other_ws, grace
):
    services.signing_secret_set(workspace=other_ws, value=KEY)  # not this one's

    run_calling_twice(http_server, ws, grace)

    for request in http_server.requests:
        assert not [name for name in request.headers if name.startswith("x-cortex")]
