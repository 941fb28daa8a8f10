"""HTTP blocks that call Cortex's own API (api.getcortexapp.com) reach this Cairn's
API instead, over real HTTP (pytest-django's live server on 127.0.0.1)."""

import pytest

from tests.factories import EntityFactory, api_key
from tests.workflows.blockctx import make_ctx
from workflows.blocks.http_request import HttpRequest, prepare

CUSTOM_DATA = (
    "https://api.getcortexapp.com/api/v1/catalog/{{context.entity.tag}}"
    "/custom-data/jenkins"
)


@pytest.fixture
def cairn(live_server, settings):
    settings.BASE_URL = live_server.url
    settings.HTTP_BLOCK_ALLOWED_HOSTS = []  # Cairn's own address needs no entry
    return live_server


def run(ws, url: str, token: str, tag: str = "payments"):
    """An HTTP_REQUEST block as Cortex's descriptors write it."""
    state = {
        "context": {"entity": {"tag": tag}, "secrets": {"cortex_api_key": token}},
        "actions": {},
        "variables": {},
    }
    schema = {
        "type": "HTTP_REQUEST",
        "httpMethod": "GET",
        "url": url,
        "headers": {
            "Authorization": "Bearer {{context.secrets.cortex_api_key}}",
            "Content-Type": "application/json",
        },
    }
    return HttpRequest().execute(make_ctx(schema, state, workspace=ws))


def test_a_call_to_cortexs_api_reads_this_cairns_catalog(cairn, ws):
    EntityFactory(
        workspace=ws,
        tag="payments",
        descriptor={"x-cortex-custom-data": {"jenkins": {"job": "deploy-payments"}}},
    )
    _, token = api_key(ws, "Viewer")

    outcome = run(ws, CUSTOM_DATA, token)

    assert outcome.status == "COMPLETED", outcome.error
    assert outcome.outputs["body"]["value"] == {"job": "deploy-payments"}
    assert outcome.inputs["url"] == (
        f"{cairn.url}/api/v1/catalog/payments/custom-data/jenkins"
    )


def test_cairns_own_address_is_allowed_only_for_calls_to_cortexs_api(cairn, ws):
    _, token = api_key(ws, "Viewer")

    outcome = run(ws, f"{cairn.url}/api/v1/catalog/payments", token)

    assert outcome.status == "FAILED"
    assert outcome.error.startswith("refused: localhost resolves to 127.0.0.1")


def test_a_key_of_another_workspace_sees_none_of_this_ones_catalog(cairn, ws, other_ws):
    EntityFactory(workspace=ws, tag="payments")
    _, theirs = api_key(other_ws, "Viewer")

    outcome = run(ws, CUSTOM_DATA, theirs)

    assert outcome.status == "FAILED"
    assert outcome.error.startswith(
        f"HTTP 404 from {cairn.url}/api/v1/catalog/payments/custom-data/jenkins: "
    )
    assert "could not find entity with tag: payments" in outcome.error


def test_a_missing_key_fails_the_block_with_cairns_401(cairn, ws):
    EntityFactory(workspace=ws, tag="payments")

    outcome = run(ws, CUSTOM_DATA, "")

    assert outcome.status == "FAILED"
    assert outcome.error.startswith("HTTP 401 from ")
    assert outcome.outputs["status"] == 401


def test_the_hosts_taken_for_cortexs_api_are_a_setting(cairn, ws, settings):
    # A self-managed Cortex has an address of its own; and the list may be emptied.
    settings.CORTEX_API_HOSTS = ["cortex-api.acme.invalid"]
    EntityFactory(
        workspace=ws,
        tag="payments",
        descriptor={"x-cortex-custom-data": {"jenkins": 1}},
    )
    _, token = api_key(ws, "Viewer")
    self_managed = CUSTOM_DATA.replace(
        "api.getcortexapp.com", "cortex-api.acme.invalid"
    )

    assert run(ws, self_managed, token).outputs["body"]["value"] == 1
    left_alone = prepare(
        {"httpMethod": "GET", "url": "https://api.getcortexapp.com/api/v1/catalog"},
        lambda value: value,
    )
    assert left_alone.url == "https://api.getcortexapp.com/api/v1/catalog"
    assert left_alone.allow_host == ""


def test_a_call_to_an_endpoint_cairn_lacks_fails_the_block_naming_it(cairn, ws):
    _, token = api_key(ws, "Viewer")
    scorecards = "https://api.getcortexapp.com/api/v1/scorecards"

    outcome = run(ws, scorecards, token)

    assert outcome.status == "FAILED"
    assert outcome.error.startswith(f"HTTP 404 from {cairn.url}/api/v1/scorecards")
    assert "Cairn has no endpoint GET /api/v1/scorecards" in outcome.error


@pytest.mark.parametrize(
    "path", ["/health/", "/settings/secrets/", "/", "/api/../health/", "/api/%2e%2e/"]
)
def test_only_cortexs_api_paths_lead_here_not_this_servers_pages(cairn, ws, path):
    _, token = api_key(ws, "Viewer")

    outcome = run(ws, f"https://api.getcortexapp.com{path}", token)

    assert outcome.status == "FAILED"
    assert outcome.error == (
        "Bad configuration: api.getcortexapp.com leads to this Cairn's API, whose"
        f" paths start with /api/; {path} is not one"
    )
