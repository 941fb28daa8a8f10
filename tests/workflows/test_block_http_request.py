"""HTTP_REQUEST against a real HTTP server on 127.0.0.1."""

import time

import pytest

from portal import logpath
from tests.workflows.blockctx import make_ctx
from workflows.blocks.http_request import HttpRequest
from workflows.models import OutboundAllowlistEntry

STATE = {
    "context": {"initiatedBy": {"name": "Ada", "email": "ada@example.com"}},
    "actions": {
        "collect": {"inputs": {}, "outputs": {"service": "payments", "replicas": 3}}
    },
    "variables": {"env": "staging", "token": "s3cret"},
}


pytestmark = pytest.mark.usefixtures("loopback_allowed")


def run(schema: dict, ws, state: dict | None = None):
    return HttpRequest().execute(
        make_ctx({"type": "HTTP_REQUEST", **schema}, state or STATE, workspace=ws)
    )


def test_a_get_completes_with_the_status_headers_and_parsed_body(http_server, ws):
    http_server.route("GET", "/services/payments", json={"name": "payments", "tier": 1})

    outcome = run(
        {
            "httpMethod": "GET",
            "url": http_server.url("/services/payments"),
            "headers": {},
        },
        ws,
    )

    assert outcome.status == "COMPLETED"
    assert outcome.outputs["status"] == 200
    assert outcome.outputs["body"] == {"name": "payments", "tier": 1}
    assert outcome.outputs["headers"]["content-type"] == "application/json"


def test_the_url_headers_and_payload_are_rendered_from_the_run_state(http_server, ws):
    http_server.route("POST", "/deploy/payments", status=201, json={"id": 7})
    schema = {
        "httpMethod": "POST",
        "url": http_server.url(
            "/deploy/{{actions.collect.outputs.service}}?env={{variables.env}}"
        ),
        "headers": {
            "Authorization": "Bearer {{variables.token}}",
            "X-Replicas": "{{actions.collect.outputs.replicas}}",
        },
        "payload": '{"by": "{{context.initiatedBy.email}}", "replicas": {{actions.collect.outputs.replicas}}}',
    }

    outcome = run(schema, ws)

    assert outcome.status == "COMPLETED"
    [request] = http_server.requests
    assert request.path == "/deploy/payments"
    assert request.query == {"env": ["staging"]}
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.headers["x-replicas"] == "3"
    assert request.json() == {"by": "ada@example.com", "replicas": 3}
    assert outcome.inputs == {
        "method": "POST",
        "url": http_server.url("/deploy/payments?env=staging"),
        "headers": {
            "Authorization": "Bearer s3cret",
            "X-Replicas": "3",
            "Content-Type": "application/json",
        },
        "payload": '{"by": "ada@example.com", "replicas": 3}',
    }


def test_a_payload_that_is_not_json_is_sent_as_text(http_server, ws):
    http_server.route("PUT", "/note", status=204)

    run(
        {
            "httpMethod": "PUT",
            "url": http_server.url("/note"),
            "headers": {},
            "payload": "hello {{variables.env}}",
        },
        ws,
    )

    [request] = http_server.requests
    assert request.text == "hello staging"
    assert request.headers["content-type"] == "text/plain; charset=utf-8"


def test_a_content_type_given_in_the_headers_is_kept(http_server, ws):
    http_server.route("POST", "/form", status=200)

    run(
        {
            "httpMethod": "POST",
            "url": http_server.url("/form"),
            "headers": {"content-type": "application/x-www-form-urlencoded"},
            "payload": "a=1",
        },
        ws,
    )

    assert (
        http_server.requests[0].headers["content-type"]
        == "application/x-www-form-urlencoded"
    )


def test_a_lower_case_method_is_accepted(http_server, ws):
    http_server.route("DELETE", "/things/1", status=204)

    outcome = run(
        {"httpMethod": "delete", "url": http_server.url("/things/1"), "headers": {}}, ws
    )

    assert outcome.status == "COMPLETED"
    assert outcome.outputs["status"] == 204
    assert http_server.requests[0].method == "DELETE"


def test_a_templated_method_is_rendered_from_the_run_state(http_server, ws):
    http_server.route("PUT", "/things/1", json={"ok": True})
    schema = {
        "httpMethod": "{{#variables.env}}put{{/variables.env}}{{^variables.env}}POST{{/variables.env}}",
        "url": http_server.url("/things/1"),
        "headers": {},
    }

    outcome = run(schema, ws)

    assert outcome.status == "COMPLETED"
    assert http_server.requests[0].method == "PUT"
    assert outcome.inputs["method"] == "PUT"


def test_a_templated_method_that_renders_to_no_method_fails_naming_it(http_server, ws):
    outcome = run(
        {"httpMethod": "{{variables.env}}", "url": http_server.url("/"), "headers": {}},
        ws,
    )

    assert outcome.status == "FAILED"
    assert outcome.error == (
        "Bad configuration: httpMethod '{{variables.env}}' gave 'staging', not one"
        " of GET, POST, PUT, DELETE, PATCH"
    )
    assert http_server.requests == []


def test_a_text_answer_is_kept_as_text(http_server, ws):
    http_server.route("GET", "/hello", body="hi there")

    outcome = run(
        {"httpMethod": "GET", "url": http_server.url("/hello"), "headers": {}}, ws
    )

    assert outcome.outputs["body"] == "hi there"


def test_an_error_status_fails_the_step_and_keeps_the_response(http_server, ws):
    http_server.route("GET", "/broken", status=500, json={"error": "database down"})
    url = http_server.url("/broken")

    outcome = run({"httpMethod": "GET", "url": url, "headers": {}}, ws)

    assert outcome.status == "FAILED"
    assert outcome.error == f'HTTP 500 from {url}: {{"error":"database down"}}'
    assert outcome.outputs["status"] == 500
    assert outcome.outputs["body"] == {"error": "database down"}
    assert outcome.inputs["url"] == url


def test_a_404_with_an_empty_body_names_just_the_status_and_url(http_server, ws):
    http_server.route("GET", "/gone", status=404)
    url = http_server.url("/gone")

    outcome = run({"httpMethod": "GET", "url": url, "headers": {}}, ws)

    assert outcome.error == f"HTTP 404 from {url}"


def test_a_slow_server_fails_the_step_at_the_timeout(http_server, ws, settings):
    settings.HTTP_BLOCK_TIMEOUT = 0.3
    http_server.route("GET", "/slow", json={}, delay=5)

    started = time.monotonic()
    outcome = run(
        {"httpMethod": "GET", "url": http_server.url("/slow"), "headers": {}}, ws
    )

    assert outcome.status == "FAILED"
    assert outcome.error == "timed out after 0.3 s"
    assert time.monotonic() - started < 2


def test_a_response_over_the_size_cap_fails_the_step(http_server, ws, settings):
    settings.HTTP_BLOCK_MAX_BYTES = 1024
    http_server.route("GET", "/big", body=b"x" * 4096, chunked=True, chunks=4)

    outcome = run(
        {"httpMethod": "GET", "url": http_server.url("/big"), "headers": {}}, ws
    )

    assert outcome.status == "FAILED"
    assert outcome.error == "response larger than 1 KiB"


def test_a_redirect_to_another_host_fails_the_step(http_server, ws):
    http_server.redirect("/login", "http://evil.com/phish")

    outcome = run(
        {"httpMethod": "GET", "url": http_server.url("/login"), "headers": {}}, ws
    )

    assert outcome.status == "FAILED"
    assert outcome.error == "redirect to another host (evil.com) refused"


def test_a_loopback_address_is_refused_without_an_allowlist(http_server, ws, settings):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = []
    http_server.route("GET", "/", status=200)

    outcome = run({"httpMethod": "GET", "url": http_server.url("/"), "headers": {}}, ws)

    assert outcome.status == "FAILED"
    assert outcome.error.startswith(
        "refused: 127.0.0.1 is a loopback address; add it to"
    )
    assert http_server.requests == []


def test_a_private_address_is_refused(ws, settings):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = []

    outcome = run(
        {"httpMethod": "GET", "url": "http://10.0.0.5/admin", "headers": {}}, ws
    )

    assert outcome.error == (
        "refused: 10.0.0.5 is a private address; add it to HTTP_BLOCK_ALLOWED_HOSTS "
        "or the workspace's outbound allowlist"
    )


def test_the_workspace_outbound_allowlist_lets_the_block_call_loopback(
    http_server, ws, settings
):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = []
    OutboundAllowlistEntry.objects.create(workspace=ws, host="127.0.0.1")
    http_server.route("GET", "/", json={"ok": True})

    outcome = run({"httpMethod": "GET", "url": http_server.url("/"), "headers": {}}, ws)

    assert outcome.status == "COMPLETED"


@pytest.mark.parametrize(
    ("schema", "error"),
    [
        ({"httpMethod": "GET", "headers": {}}, "Bad configuration: url is required"),
        (
            {"httpMethod": "GET", "url": "", "headers": {}},
            "Bad configuration: url is required",
        ),
        (
            {"url": "http://example.com/", "headers": {}},
            "Bad configuration: httpMethod is required (one of GET, POST, PUT, DELETE, PATCH)",
        ),
        (
            {"httpMethod": "FETCH", "url": "http://example.com/", "headers": {}},
            "Bad configuration: httpMethod 'FETCH' is not one of GET, POST, PUT, DELETE, PATCH",
        ),
        (
            {"httpMethod": "GET", "url": "{{variables.missing}}", "headers": {}},
            "Bad configuration: url is empty once rendered (template: {{variables.missing}})",
        ),
        (
            {"httpMethod": "GET", "url": "/repos/acme/api", "headers": {}},
            "Bad configuration: url '/repos/acme/api' must be a full http:// or https:// address",
        ),
        (
            {"httpMethod": "GET", "url": "http://example.com/", "headers": ["X-A: 1"]},
            "Bad configuration: headers must map header names to values",
        ),
        (
            {
                "httpMethod": "GET",
                "url": "http://example.com/",
                "headers": {"X-A": {"b": 1}},
            },
            "Bad configuration: headers.X-A must be a string",
        ),
        (
            {
                "httpMethod": "GET",
                "url": "/repos/x",
                "headers": {},
                "integration": "Bitbucket",
            },
            "Bad configuration: Cairn cannot send requests through the Bitbucket integration yet; "
            "use a full URL and pass the credentials in headers",
        ),
    ],
)
def test_bad_configuration_fails_with_a_message_naming_the_field(schema, error, ws):
    outcome = run(schema, ws)

    assert outcome.status == "FAILED"
    assert outcome.error == error


def test_a_url_with_another_scheme_is_refused(ws):
    outcome = run({"httpMethod": "GET", "url": "file:///etc/passwd", "headers": {}}, ws)

    assert outcome.status == "FAILED"
    assert outcome.error.startswith("refused: only http and https URLs are allowed")


def test_a_rendered_header_cannot_smuggle_in_another_header(http_server, ws):
    state = {**STATE, "variables": {"name": "x\r\nX-Admin: true"}}

    outcome = run(
        {
            "httpMethod": "GET",
            "url": http_server.url("/"),
            "headers": {"X-Name": "{{{variables.name}}}"},
        },
        ws,
        state,
    )

    assert outcome.status == "FAILED"
    assert outcome.error == "header X-Name contains a line break or NUL character"
    assert http_server.requests == []


# --- integration: GitHub ------------------------------------------------------------


@pytest.fixture
def github(http_server, ws):
    """Two GitHub integrations whose API is the test server (the second under a path)."""
    from workflows.models import Integration
    from workflows.secrets import encrypt

    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.GITHUB,
        base_url=http_server.url(""),
        encrypted_token=encrypt("ghp-default"),
    )
    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.GITHUB,
        alias="enterprise",
        base_url=http_server.url("/api/v3"),
        encrypted_token=encrypt("ghp-enterprise"),
    )
    return http_server


def test_a_relative_url_goes_to_the_github_integration_with_its_token(github, ws):
    github.route("GET", "/repos/acme/payments", json={"full_name": "acme/payments"})

    outcome = run(
        {
            "httpMethod": "GET",
            "url": "/repos/acme/{{actions.collect.outputs.service}}",
            "headers": {},
            "integration": "GitHub",
            "integrationAlias": None,
        },
        ws,
    )

    assert outcome.status == "COMPLETED", outcome.error
    [request] = github.requests
    assert request.headers["authorization"] == "Bearer ghp-default"
    assert request.headers["accept"] == "application/vnd.github+json"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    assert outcome.outputs["body"] == {"full_name": "acme/payments"}
    assert outcome.inputs["url"] == github.url("/repos/acme/payments")
    assert outcome.inputs["headers"]["Authorization"] == "********"


def test_the_integration_alias_is_rendered_and_picks_the_base_url(github, ws):
    github.route("GET", "/api/v3/user", json={"login": "bot"})

    outcome = run(
        {
            "httpMethod": "GET",
            "url": "/user",
            "headers": {"Accept": "application/json"},
            "integration": "GitHub",
            "integrationAlias": "{{variables.gh}}",
        },
        ws,
        {**STATE, "variables": {"gh": "enterprise"}},
    )

    assert outcome.status == "COMPLETED", outcome.error
    [request] = github.requests
    assert request.path == "/api/v3/user"
    assert request.headers["authorization"] == "Bearer ghp-enterprise"
    assert request.headers["accept"] == "application/json"  # the block's own wins


def test_the_github_token_is_not_sent_to_another_address(github, ws):
    github.route("GET", "/elsewhere", json={})

    outcome = run(
        {
            "httpMethod": "GET",
            "url": github.url("/elsewhere"),
            "headers": {},
            "integration": "GitHub",
            "integrationAlias": "enterprise",  # its base URL is under /api/v3
        },
        ws,
    )

    assert outcome.status == "COMPLETED", outcome.error
    assert "authorization" not in github.requests[0].headers


def test_an_unknown_github_alias_fails_naming_it(github, ws):
    outcome = run(
        {
            "httpMethod": "GET",
            "url": "/user",
            "headers": {},
            "integration": "GitHub",
            "integrationAlias": "PLACEHOLDER_INTEGRATION_ALIAS",
        },
        ws,
    )

    assert outcome.status == "FAILED"
    assert outcome.error == (
        "Bad configuration: No GitHub integration with alias "
        "'PLACEHOLDER_INTEGRATION_ALIAS' is configured in this workspace"
    )
    assert github.requests == []


def test_without_a_github_integration_the_block_says_so(ws):
    outcome = run(
        {"httpMethod": "GET", "url": "/user", "headers": {}, "integration": "GitHub"},
        ws,
    )

    assert outcome.error == (
        "Bad configuration: No GitHub integration is configured in this workspace"
    )


# --- integration: GitLab ------------------------------------------------------------


@pytest.fixture
def gitlab(http_server, ws):
    """A GitLab integration whose instance is the test server."""
    from workflows.models import Integration
    from workflows.secrets import encrypt

    Integration.objects.create(
        workspace=ws,
        kind=Integration.Kind.GITLAB,
        alias="self-managed",
        base_url=http_server.url(""),
        encrypted_token=encrypt("glpat-secret"),
    )
    return http_server


def test_a_relative_url_goes_to_the_gitlab_api_with_its_private_token(gitlab, ws):
    gitlab.route("GET", "/api/v4/projects/42", json={"path": "payments"})

    outcome = run(
        {
            "httpMethod": "GET",
            "url": "/projects/42",
            "headers": {},
            "integration": "GitLab",
            "integrationAlias": "self-managed",
        },
        ws,
    )

    assert outcome.status == "COMPLETED", outcome.error
    [request] = gitlab.requests
    assert request.headers["private-token"] == "glpat-secret"
    assert outcome.outputs["body"] == {"path": "payments"}
    assert outcome.inputs["url"] == gitlab.url("/api/v4/projects/42")
    assert outcome.inputs["headers"]["PRIVATE-TOKEN"] == "********"
    assert "glpat-secret" not in str(outcome.inputs)


def test_the_gitlab_token_is_not_sent_outside_its_api(gitlab, ws):
    gitlab.route("GET", "/elsewhere", json={})

    outcome = run(
        {
            "httpMethod": "GET",
            "url": gitlab.url("/elsewhere"),
            "headers": {},
            "integration": "GitLab",
        },
        ws,
    )

    assert outcome.status == "COMPLETED", outcome.error
    assert "private-token" not in gitlab.requests[0].headers


def test_without_a_gitlab_integration_the_block_says_so(ws):
    outcome = run(
        {"httpMethod": "GET", "url": "/user", "headers": {}, "integration": "GitLab"},
        ws,
    )

    assert outcome.status == "FAILED"
    assert outcome.error == (
        "Bad configuration: No GitLab integration is configured in this workspace"
    )


# A call to this Cairn with a secret in its path (portal/logpath.py)


def _secret_path_ctx(http_server, ws):
    ctx = make_ctx(
        {
            "type": "HTTP_REQUEST",
            "httpMethod": "GET",
            "url": http_server.url("/api/v1/catalog/{{variables.token}}"),
        },
        STATE,
        workspace=ws,
    )
    ctx.secret_values = ("s3cret",)
    return ctx


def test_a_call_to_this_cairn_says_how_its_secret_path_is_to_be_logged(
    http_server, ws, settings
):
    settings.BASE_URL = http_server.url("")
    http_server.route("GET", "/api/v1/catalog/s3cret", json={})
    assert (
        HttpRequest().execute(_secret_path_ctx(http_server, ws)).status == "COMPLETED"
    )
    [call] = http_server.requests
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in call.headers.items()}
    assert (
        logpath.logged_path(meta, "/api/v1/catalog/s3cret")
        == "/api/v1/catalog/********"
    )


def test_a_call_elsewhere_gets_no_logged_path_header(http_server, ws, settings):
    settings.BASE_URL = "http://cairn.example.com"
    http_server.route("GET", "/api/v1/catalog/s3cret", json={})
    assert (
        HttpRequest().execute(_secret_path_ctx(http_server, ws)).status == "COMPLETED"
    )
    [call] = http_server.requests
    assert logpath.HEADER.lower() not in call.headers


@pytest.mark.parametrize(
    "base_url, url, ours",
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/api/v1/x", True),
        ("http://127.0.0.1:8000", "http://localhost:8000/api/v1/x", True),
        ("http://localhost:8000", "http://[::1]:8000/api/v1/x", True),
        ("http://127.0.0.1:8000", "http://localhost:9000/api/v1/x", False),
        ("https://cairn.example.com", "https://CAIRN.example.com:443/x", True),
        ("https://cairn.example.com", "http://cairn.example.com/x", False),
        ("https://cairn.example.com", "https://127.0.0.1/x", False),
        ("http://127.0.0.1:8000", "http://127.0.0.1:notaport/x", False),
    ],
)
def test_calls_to_this_cairn_by_another_loopback_name_are_recognised(
    settings, base_url, url, ours
):
    settings.BASE_URL = base_url
    assert logpath.is_this_server(url) is ours
