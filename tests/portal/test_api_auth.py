import pytest
from django.contrib.staticfiles import finders

from portal.models import IpAllowlistEntry
from tests.factories import EntityFactory, api_key

CATALOG = "/api/v1/catalog"
CORTEX_ERROR_KEYS = {"type", "message", "details", "httpStatus", "requestId"}


def get(client, raw: str, url: str = CATALOG, **extra):
    return client.get(url, HTTP_AUTHORIZATION=f"Bearer {raw}", **extra)


def allow(ws, *addresses: str) -> None:
    for address in addresses:
        IpAllowlistEntry.objects.create(workspace=ws, address=address)


# Authentication


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/api/v1/catalog/payments/gitops-logs"),
        ("get", "/api/v1/scorecards"),
        ("get", "/api/v1/workflows/"),
        ("get", "/api/v2/anything"),
    ],
)
def test_a_path_no_endpoint_serves_is_a_json_404_naming_it(client, db, method, path):
    r = getattr(client, method)(path, HTTP_AUTHORIZATION="Bearer whatever")
    assert r.status_code == 404  # not a redirect to the path with a slash
    assert r["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == CORTEX_ERROR_KEYS
    assert body["message"] == (
        f"Cairn has no endpoint {method.upper()} {path}; "
        "its endpoints are listed at /api/v1/docs"
    )


def test_a_request_without_a_key_gets_401_json_with_a_message(client, db):
    r = client.get(CATALOG)
    assert r.status_code == 401
    assert r["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == CORTEX_ERROR_KEYS
    assert body["message"] == "Missing API key: send it as Authorization: Bearer <key>"
    assert (body["type"], body["httpStatus"]) == ("UNCATEGORIZED", 401)
    assert r["WWW-Authenticate"] == 'Bearer realm="Cairn API"'


@pytest.mark.parametrize(
    "header, message",
    [
        ("Bearer cairn_not-a-real-key", "Invalid API key"),
        ("Bearer ", "Missing API key after Bearer"),
        ("Basic YWRhOmRlbW8=", "The API key goes in Authorization: Bearer <key>"),
        ("cairn_no-scheme", "The API key goes in Authorization: Bearer <key>"),
    ],
    ids=["unknown-key", "empty-key", "basic-auth", "no-scheme"],
)
def test_a_request_with_a_bad_key_gets_401_saying_what_is_wrong(
    client, ws, header, message
):
    api_key(ws)
    r = client.get(CATALOG, HTTP_AUTHORIZATION=header)
    assert r.status_code == 401
    assert r.json()["message"] == message
    assert r["WWW-Authenticate"] == 'Bearer realm="Cairn API"'


def test_a_key_after_two_spaces_is_still_the_key(client, ws):
    _, raw = api_key(ws)
    assert client.get(CATALOG, HTTP_AUTHORIZATION=f"Bearer  {raw}").status_code == 200


def test_the_bearer_scheme_is_case_insensitive(client, ws):
    _, raw = api_key(ws)
    assert client.get(CATALOG, HTTP_AUTHORIZATION=f"bearer {raw}").status_code == 200


def test_a_key_with_a_changed_character_is_rejected(client, ws):
    _, raw = api_key(ws)
    tampered = raw[:-1] + ("A" if raw[-1] != "A" else "B")
    assert get(client, tampered).status_code == 401


# Workspaces


def test_a_workspace_key_never_sees_another_workspaces_entities(client, ws, other_ws):
    EntityFactory(workspace=ws, tag="ledger")
    EntityFactory(workspace=other_ws, tag="rocket")
    _, raw_one = api_key(ws)
    _, raw_two = api_key(other_ws)
    assert [e["tag"] for e in get(client, raw_one).json()["entities"]] == ["ledger"]
    assert [e["tag"] for e in get(client, raw_two).json()["entities"]] == ["rocket"]
    assert get(client, raw_one, CATALOG, data={"query": "rocket"}).json()["total"] == 0


def test_another_workspaces_entity_is_a_404_like_a_missing_one(client, ws, other_ws):
    EntityFactory(workspace=other_ws, tag="rocket")
    _, raw = api_key(ws)
    r = get(client, raw, f"{CATALOG}/rocket")
    missing = get(client, raw, f"{CATALOG}/no-such-entity")
    assert r.status_code == missing.status_code == 404
    body = r.json()
    assert set(body) == CORTEX_ERROR_KEYS
    assert body["message"] == "could not find entity with tag: rocket"
    assert (body["type"], body["httpStatus"], body["details"]) == (
        "NOT_FOUND",
        404,
        "Not Found",
    )
    assert body["requestId"] and body["requestId"] != missing.json()["requestId"]
    shape = {
        k: v for k, v in missing.json().items() if k not in ("requestId", "message")
    }
    assert shape == {k: v for k, v in body.items() if k not in ("requestId", "message")}


# IP allowlist


def test_an_empty_allowlist_allows_every_address(client, ws):
    _, raw = api_key(ws)
    assert get(client, raw, REMOTE_ADDR="203.0.113.9").status_code == 200


def test_an_address_outside_the_allowlist_gets_403_forbidden_ip_address(client, ws):
    allow(ws, "10.0.0.0/8")
    _, raw = api_key(ws)
    r = get(client, raw, REMOTE_ADDR="127.0.0.1")
    assert r.status_code == 403
    assert r.json()["message"] == "Forbidden IP address"
    assert r.json()["details"] == (
        "127.0.0.1 is not on this workspace's IP allowlist; an admin can change it"
        " in the browser, under Settings → IP allowlist (the pages are not affected)"
    )
    assert r.json()["httpStatus"] == 403


def test_every_error_has_text_details_for_the_cortex_cli_to_print(client, ws):
    """The CLI prints "<message> - <details>": a null read "- None"."""
    _, raw = api_key(ws)
    r = get(client, raw, f"{CATALOG}/nope")
    bad = get(client, raw, "/api/v1/workflows/runs?page=abc")
    assert r.json()["details"] == "Not Found"
    assert bad.status_code == 400 and bad.json()["details"] == "Bad Request"


def test_an_address_inside_an_allowed_range_gets_through(client, ws):
    allow(ws, "10.0.0.0/8")
    _, raw = api_key(ws)
    assert get(client, raw, REMOTE_ADDR="10.1.2.3").status_code == 200


def test_a_single_allowed_address_lets_only_that_address_through(client, ws):
    allow(ws, "192.0.2.7")
    _, raw = api_key(ws)
    assert get(client, raw, REMOTE_ADDR="192.0.2.7").status_code == 200
    assert get(client, raw, REMOTE_ADDR="192.0.2.8").status_code == 403


def test_the_allowlist_of_one_workspace_does_not_restrict_another(client, ws, other_ws):
    allow(ws, "10.0.0.0/8")
    _, raw_two = api_key(other_ws)
    assert get(client, raw_two, REMOTE_ADDR="127.0.0.1").status_code == 200


def test_x_forwarded_for_is_ignored_from_an_untrusted_peer(client, ws, settings):
    settings.TRUSTED_PROXIES = []
    allow(ws, "10.0.0.0/8")
    _, raw = api_key(ws)
    r = get(client, raw, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert r.status_code == 403


def test_x_forwarded_for_is_used_behind_a_trusted_proxy(client, ws, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    allow(ws, "10.0.0.0/8")
    _, raw = api_key(ws)
    r = get(client, raw, REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert r.status_code == 200


def test_behind_a_trusted_proxy_a_spoofed_leftmost_forwarded_address_does_not_count(
    client, ws, settings
):
    # The client sent "X-Forwarded-For: 10.1.2.3"; the proxy appended the real 198.51.100.4:
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]
    allow(ws, "10.0.0.0/8")
    _, raw = api_key(ws)
    r = get(
        client,
        raw,
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="10.1.2.3, 198.51.100.4",
    )
    assert r.status_code == 403


def test_an_ipv6_range_allows_addresses_inside_it_only(client, ws):
    allow(ws, "2001:db8::/32")
    _, raw = api_key(ws)
    assert get(client, raw, REMOTE_ADDR="2001:db8:1::5").status_code == 200
    assert get(client, raw, REMOTE_ADDR="2001:db9::5").status_code == 403
    assert get(client, raw, REMOTE_ADDR="10.1.2.3").status_code == 403


def test_an_ipv4_mapped_ipv6_peer_matches_an_ipv4_range(client, ws):
    allow(ws, "10.0.0.0/8")
    _, raw = api_key(ws)
    assert get(client, raw, REMOTE_ADDR="::ffff:10.1.2.3").status_code == 200


@pytest.mark.parametrize("entry", ["::ffff:10.1.2.3", "::ffff:7f00:1/104"])
def test_an_entry_written_as_ipv4_mapped_ipv6_matches_the_ipv4_peer(client, ws, entry):
    # As a dual-stack server shows a client; saved so before the form made it IPv4.
    allow(ws, entry)
    _, raw = api_key(ws)
    peer = "10.1.2.3" if "10.1.2.3" in entry else "127.0.0.9"
    assert get(client, raw, REMOTE_ADDR=peer).status_code == 200
    assert get(client, raw, REMOTE_ADDR="10.9.9.9").status_code == 403


def test_a_forbidden_address_is_told_so_before_the_key_is_recorded_as_used(client, ws):
    allow(ws, "10.0.0.0/8")
    key, raw = api_key(ws)
    get(client, raw, REMOTE_ADDR="127.0.0.1")
    key.refresh_from_db()
    assert key.last_used_at is None


def test_the_api_docs_load_swagger_ui_from_this_server_not_a_cdn(client, db):
    r = client.get("/api/v1/docs")
    assert r.status_code == 200
    html = r.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn." not in html and "https://" not in html.split("<body")[0]
    assert finders.find("ninja/swagger-ui-bundle.js")  # collected by collectstatic


def test_an_api_request_to_a_host_name_not_served_gets_a_json_400_saying_so(client, db):
    r = client.get(CATALOG, HTTP_HOST="evil.example")
    assert r.status_code == 400
    body = r.json()
    assert set(body) == CORTEX_ERROR_KEYS
    assert body["message"] == (
        "This server does not answer to that host name (the Host header); it answers"
        " to those in ALLOWED_HOSTS."
    )


def test_a_page_request_to_a_host_name_not_served_gets_the_400_page(client, db):
    r = client.get("/workflows/", HTTP_HOST="evil.example")
    assert r.status_code == 400
    assert r["Content-Type"].startswith("text/html")
    assert "does not answer to that host name" in r.content.decode()
