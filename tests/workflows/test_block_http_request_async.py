"""HTTP_REQUEST_ASYNC against a real HTTP server on 127.0.0.1, and its callbacks."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.workflows.blockctx import make_ctx
from workflows.blocks.http_request_async import HttpRequestAsync

CALLBACK_URL = "http://cairn.example/api/v1/workflows/deploy/callback/0b6c6a3e"
STATE = {"context": {}, "actions": {}, "variables": {"version": "1.4.2"}}


pytestmark = pytest.mark.usefixtures("loopback_allowed")


def ctx_for(schema: dict, ws):
    return make_ctx(
        {"type": "HTTP_REQUEST_ASYNC", "headers": {}, **schema},
        STATE,
        workspace=ws,
        callback_url=CALLBACK_URL,
    )


def waiting_ctx(ws, *, deadline=None, outputs=None):
    """A step that sent its request and waits for its callback."""
    ctx = ctx_for({"httpMethod": "POST", "url": "http://example.com/"}, ws)
    ctx.step.inputs = {
        "method": "POST",
        "url": "http://example.com/",
        "headers": {},
        "payload": "",
    }
    ctx.step.outputs = (
        outputs if outputs is not None else {"status": 202, "body": {"queued": True}}
    )
    ctx.step.deadline_at = deadline
    return ctx


# The request ---------------------------------------------------------------------------


def test_a_2xx_answer_waits_for_the_callback(http_server, ws):
    http_server.route("POST", "/dispatch", status=202, json={"queued": True})

    outcome = HttpRequestAsync().execute(
        ctx_for({"httpMethod": "POST", "url": http_server.url("/dispatch")}, ws)
    )

    assert outcome.status == "WAITING"
    assert outcome.waiting_for == "CALLBACK"
    assert outcome.outputs["status"] == 202
    assert outcome.outputs["headers"]["content-type"] == "application/json"
    assert outcome.outputs["body"] == {"queued": True}
    assert outcome.deadline is None
    assert outcome.inputs["url"] == http_server.url("/dispatch")


def test_the_callback_url_is_rendered_into_the_url_headers_and_payload(http_server, ws):
    http_server.route("POST", "/dispatch", status=204)
    schema = {
        "httpMethod": "POST",
        "url": http_server.url("/dispatch?version={{variables.version}}"),
        "headers": {"X-Callback": "{{{callbackUrl}}}"},
        "payload": '{"callback": "{{{callbackUrl}}}", "version": "{{variables.version}}"}',
    }

    HttpRequestAsync().execute(ctx_for(schema, ws))

    [request] = http_server.requests
    assert request.query == {"version": ["1.4.2"]}
    assert request.headers["x-callback"] == CALLBACK_URL
    assert request.json() == {"callback": CALLBACK_URL, "version": "1.4.2"}


def test_the_callback_url_does_not_leak_into_the_run_state(http_server, ws):
    http_server.route("POST", "/dispatch", status=204)
    ctx = ctx_for({"httpMethod": "POST", "url": http_server.url("/dispatch")}, ws)

    HttpRequestAsync().execute(ctx)

    assert "callbackUrl" not in ctx.state


def test_timeout_in_seconds_sets_the_callback_deadline(http_server, ws):
    http_server.route("POST", "/dispatch", status=202)
    before = timezone.now()

    outcome = HttpRequestAsync().execute(
        ctx_for(
            {
                "httpMethod": "POST",
                "url": http_server.url("/dispatch"),
                "timeoutInSeconds": 600,
            },
            ws,
        )
    )

    assert (
        before + timedelta(seconds=600)
        <= outcome.deadline
        <= timezone.now() + timedelta(seconds=600)
    )


def test_a_retried_call_keeps_the_deadline_of_its_first_attempt(http_server, ws):
    """A worker died mid-call and another retried it: the wait still ends
    timeoutInSeconds after the first attempt, not after each retry."""
    http_server.route("POST", "/dispatch", status=202)
    ctx = ctx_for(
        {
            "httpMethod": "POST",
            "url": http_server.url("/dispatch"),
            "timeoutInSeconds": 600,
        },
        ws,
    )
    first = timezone.now() - timedelta(seconds=90)
    ctx.step.started_at, ctx.step.attempt = first, 2

    outcome = HttpRequestAsync().execute(ctx)

    assert outcome.deadline == first + timedelta(seconds=600)


def test_timeout_in_seconds_also_bounds_the_request(http_server, ws):
    http_server.route("POST", "/dispatch", status=202, delay=5)

    outcome = HttpRequestAsync().execute(
        ctx_for(
            {
                "httpMethod": "POST",
                "url": http_server.url("/dispatch"),
                "timeoutInSeconds": 1,
            },
            ws,
        )
    )

    assert outcome.status == "FAILED"
    assert outcome.error == "timed out after 1 s"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, "timeoutInSeconds must be more than 0"),
        (-5, "timeoutInSeconds must be more than 0"),
        ("soon", "timeoutInSeconds 'soon' is not a whole number of seconds"),
        (1.5, "timeoutInSeconds must be a whole number of seconds"),
    ],
)
def test_a_bad_timeout_fails_as_bad_configuration(value, error, ws):
    outcome = HttpRequestAsync().execute(
        ctx_for(
            {
                "httpMethod": "POST",
                "url": "http://example.com/",
                "timeoutInSeconds": value,
            },
            ws,
        )
    )

    assert outcome.status == "FAILED"
    assert outcome.error == f"Bad configuration: {error}"


def test_an_error_status_fails_without_waiting(http_server, ws):
    http_server.route(
        "POST", "/dispatch", status=422, json={"message": "workflow not found"}
    )
    url = http_server.url("/dispatch")

    outcome = HttpRequestAsync().execute(
        ctx_for({"httpMethod": "POST", "url": url}, ws)
    )

    assert outcome.status == "FAILED"
    assert outcome.error == f'HTTP 422 from {url}: {{"message":"workflow not found"}}'
    assert outcome.outputs["status"] == 422
    assert outcome.outputs["body"] == {"message": "workflow not found"}


def test_a_refused_address_fails_without_waiting(http_server, ws, settings):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = []

    outcome = HttpRequestAsync().execute(
        ctx_for({"httpMethod": "POST", "url": http_server.url("/")}, ws)
    )

    assert outcome.status == "FAILED"
    assert outcome.error.startswith("refused: 127.0.0.1 is a loopback address")


def test_a_redirect_to_another_host_fails_without_waiting(http_server, ws):
    http_server.redirect("/dispatch", "http://evil.com/", status=307)

    outcome = HttpRequestAsync().execute(
        ctx_for({"httpMethod": "POST", "url": http_server.url("/dispatch")}, ws)
    )

    assert outcome.error == "redirect to another host (evil.com) refused"


def test_a_missing_url_fails_as_bad_configuration(ws):
    outcome = HttpRequestAsync().execute(ctx_for({"httpMethod": "POST"}, ws))

    assert outcome.error == "Bad configuration: url is required"


# The callback -------------------------------------------------------------------------


def test_success_completes_the_step_with_the_message_and_response(ws):
    ctx = waiting_ctx(ws)
    payload = {
        "status": "SUCCESS",
        "message": "Deployed",
        "response": {"sha": "abc123"},
    }

    outcome = HttpRequestAsync().resume(ctx, payload)

    assert outcome.status == "COMPLETED"
    assert outcome.outputs == {
        "status": 202,
        "body": {"queued": True},
        "message": "Deployed",
        "response": {"sha": "abc123"},
        # The body as sent, and `response` where Cortex's descriptors read it
        # (cortexapps/cli's axon echo workflow: `outputs.result.output.message`):
        "result": {**payload, "output": {"sha": "abc123"}},
    }
    assert outcome.inputs == ctx.step.inputs


def test_success_without_a_response_gives_an_empty_response(ws):
    outcome = HttpRequestAsync().resume(
        waiting_ctx(ws), {"status": "SUCCESS", "message": ""}
    )

    assert outcome.status == "COMPLETED"
    assert outcome.outputs["response"] == {}


def test_failure_fails_the_step_with_the_message(ws):
    outcome = HttpRequestAsync().resume(
        waiting_ctx(ws),
        {
            "status": "FAILURE",
            "message": "Tests failed on main",
            "response": {"failed": 3},
        },
    )

    assert outcome.status == "FAILED"
    assert outcome.error == "Tests failed on main"
    assert outcome.outputs["response"] == {"failed": 3}


def test_failure_without_a_message_still_says_what_happened(ws):
    outcome = HttpRequestAsync().resume(
        waiting_ctx(ws), {"status": "FAILURE", "message": ""}
    )

    assert outcome.error == "The callback reported FAILURE"


def test_an_update_keeps_waiting_with_the_same_deadline_and_records_each_message(ws):
    deadline = timezone.now() + timedelta(minutes=30)
    ctx = waiting_ctx(ws, deadline=deadline)

    first = HttpRequestAsync().resume(ctx, {"status": "UPDATE", "message": "Building"})
    ctx.step.outputs = first.outputs
    second = HttpRequestAsync().resume(
        ctx, {"status": "UPDATE", "message": "Testing", "response": {"pct": 50}}
    )

    assert second.status == "WAITING"
    assert second.waiting_for == "CALLBACK"
    assert second.deadline == deadline
    assert second.outputs["message"] == "Testing"
    assert second.outputs["response"] == {"pct": 50}
    assert [u["message"] for u in second.outputs["updates"]] == ["Building", "Testing"]
    assert second.outputs["updates"][1]["response"] == {"pct": 50}
    assert second.outputs["status"] == 202  # the request's answer is kept


def test_updates_are_kept_when_the_step_completes(ws):
    ctx = waiting_ctx(ws)
    ctx.step.outputs = (
        HttpRequestAsync()
        .resume(ctx, {"status": "UPDATE", "message": "Building"})
        .outputs
    )

    outcome = HttpRequestAsync().resume(ctx, {"status": "SUCCESS", "message": "Done"})

    assert [u["message"] for u in outcome.outputs["updates"]] == ["Building"]
    assert outcome.outputs["message"] == "Done"


def test_the_aliases_cortex_callers_send_are_understood(ws):
    cancelled = HttpRequestAsync().resume(
        waiting_ctx(ws), {"status": "CANCELLED", "message": "Cancelled in GitHub"}
    )
    progress = HttpRequestAsync().resume(
        waiting_ctx(ws), {"status": "IN_PROGRESS", "message": "Running"}
    )
    output = HttpRequestAsync().resume(
        waiting_ctx(ws),
        {
            "status": "SUCCESS",
            "message": "ok",
            "output": {"sha": "abc", "run_url": "u"},
        },
    )

    assert (cancelled.status, cancelled.error) == ("FAILED", "Cancelled in GitHub")
    assert progress.status == "WAITING"
    assert output.outputs["response"] == {"sha": "abc", "run_url": "u"}
    assert output.outputs["result"]["output"]["sha"] == "abc"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (["SUCCESS"], "The callback body must be a JSON object"),
        ({"message": "hi"}, "status is required (one of SUCCESS, FAILURE, UPDATE)"),
        (
            {"status": "DONE", "message": "hi"},
            "status 'DONE' is not one of SUCCESS, FAILURE, UPDATE",
        ),
        ({"status": "SUCCESS"}, "message is required"),
        ({"status": "SUCCESS", "message": 42}, "message must be a string"),
        (
            {"status": "SUCCESS", "message": "hi", "response": [1, 2]},
            "response must be a JSON object",
        ),
        (
            {"status": "SUCCESS", "message": "hi", "response": "done"},
            "response must be a JSON object",
        ),
    ],
)
def test_a_malformed_callback_raises_value_error_for_a_400(payload, message, ws):
    with pytest.raises(ValueError) as error:
        HttpRequestAsync().resume(waiting_ctx(ws), payload)

    assert str(error.value) == message


def test_large_updates_keep_only_the_latest_that_fit_so_the_step_stays_storable(ws):
    """Before, four 2,000,000-character UPDATEs took the step past what it may
    store: the run failed and the caller got a 406."""
    ctx = waiting_ctx(ws)
    big = "x" * 400_000
    for n in range(1, 6):
        ctx.step.outputs = (
            HttpRequestAsync()
            .resume(ctx, {"status": "UPDATE", "message": f"{n} {big}"})
            .outputs
        )
    kept = [u["message"].split()[0] for u in ctx.step.outputs["updates"]]
    assert kept == ["4", "5"]  # 800,000 characters and a little, of 1,000,000
    assert ctx.step.outputs["message"].startswith("5 ")
    huge = HttpRequestAsync().resume(
        ctx, {"status": "UPDATE", "message": "x" * 2_000_000}
    )
    assert len(huge.outputs["updates"]) == 1  # the newest, however large
