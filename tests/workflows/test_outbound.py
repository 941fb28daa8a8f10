"""workflows.outbound against a real HTTP server on 127.0.0.1.

The server is on loopback, which outbound refuses by default, so most tests
allow 127.0.0.1 through HTTP_BLOCK_ALLOWED_HOSTS; the refusal tests clear it.
"""

import socket
import time

import pytest

from workflows import outbound
from workflows.models import OutboundAllowlistEntry
from workflows.outbound import Allowlist, OutboundError, send

KIB = 1024


pytestmark = pytest.mark.usefixtures("loopback_allowed")


@pytest.fixture
def no_allowlist(settings):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = []


@pytest.fixture
def fake_dns(monkeypatch):
    """Answer lookups of names ending in .test from a table; count the lookups."""
    answers: dict[str, list[str]] = {}
    lookups: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".test"):
            lookups.append(host)
            addresses = answers[host]
            if not addresses:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            if callable(addresses):
                addresses = addresses()
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in addresses
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


# Requests and responses -------------------------------------------------------


def test_a_json_response_is_parsed(http_server):
    http_server.route("GET", "/ping", json={"pong": True}, headers={"X-Trace": "abc"})

    response = send("GET", http_server.url("/ping"))

    assert response.status == 200
    assert response.ok
    assert response.body == {"pong": True}
    assert response.body_bytes == b'{"pong": true}'
    assert response.headers["x-trace"] == "abc"
    assert response.headers["content-type"] == "application/json"


def test_a_text_response_is_returned_as_text(http_server):
    http_server.route(
        "GET",
        "/hello",
        body="héllo",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )

    assert send("GET", http_server.url("/hello")).body == "héllo"


def test_a_body_in_the_charset_the_server_names_is_decoded(http_server):
    http_server.route(
        "GET",
        "/latin",
        body="café".encode("latin-1"),
        headers={"Content-Type": "text/plain; charset=latin-1"},
    )

    assert send("GET", http_server.url("/latin")).body == "café"


def test_a_json_suffix_content_type_is_parsed(http_server):
    http_server.route(
        "GET",
        "/problem",
        body=b'{"title": "nope"}',
        headers={"Content-Type": "application/problem+json"},
    )

    assert send("GET", http_server.url("/problem")).body == {"title": "nope"}


def test_a_response_that_claims_json_but_is_not_stays_text(http_server):
    http_server.route(
        "GET", "/bad", body=b"{not json", headers={"Content-Type": "application/json"}
    )

    assert send("GET", http_server.url("/bad")).body == "{not json"


def test_the_method_headers_and_body_reach_the_server(http_server):
    http_server.route("PUT", "/things/1", status=204)

    send(
        "put",
        http_server.url("/things/1?force=1"),
        headers={"X-Token": "t0k", "Content-Type": "application/json"},
        content='{"a": 1}',
    )

    [request] = http_server.requests
    assert request.method == "PUT"
    assert request.path == "/things/1"
    assert request.query == {"force": ["1"]}
    assert request.headers["x-token"] == "t0k"
    assert request.json() == {"a": 1}
    assert request.headers["host"] == f"127.0.0.1:{http_server.port}"


def test_requests_say_they_come_from_cairn_unless_told_otherwise(http_server):
    http_server.route("GET", "/", status=200)

    send("GET", http_server.url("/"))
    send("GET", http_server.url("/"), headers={"User-Agent": "mine"})

    assert [r.headers["user-agent"] for r in http_server.requests] == ["Cairn", "mine"]


def test_cookies_the_server_sets_are_left_out_of_the_headers(http_server):
    http_server.route("GET", "/", status=200, headers={"Set-Cookie": "session=secret"})

    assert "set-cookie" not in send("GET", http_server.url("/")).headers


def test_an_error_status_is_returned_not_raised(http_server):
    http_server.route("GET", "/boom", status=500, json={"error": "database down"})

    response = send("GET", http_server.url("/boom"))

    assert response.status == 500
    assert not response.ok
    assert response.short_body() == '{"error":"database down"}'


def test_the_short_body_is_cut_to_one_line():
    response = outbound.Response(200, {}, b"", "a\n  b " + "x" * 300, "http://x/")

    short = response.short_body(20)
    assert short.startswith("a b xxx")
    assert len(short) == 20
    assert short.endswith("…")


# Addresses ------------------------------------------------------------------------


def test_loopback_is_refused_without_an_allowlist(http_server, no_allowlist):
    http_server.route("GET", "/", status=200)

    with pytest.raises(OutboundError) as error:
        send("GET", http_server.url("/"))

    assert str(error.value) == (
        "refused: 127.0.0.1 is a loopback address; add it to HTTP_BLOCK_ALLOWED_HOSTS "
        "or the workspace's outbound allowlist"
    )
    assert http_server.requests == []


def test_a_name_that_resolves_to_loopback_is_refused(http_server, no_allowlist):
    http_server.route("GET", "/", status=200)

    with pytest.raises(
        OutboundError,
        match=r"refused: localhost resolves to 127\.0\.0\.1, a loopback address",
    ):
        send("GET", http_server.url("/", host="localhost"))

    assert http_server.requests == []


def test_a_private_address_is_refused_with_the_fix_in_the_message(no_allowlist):
    with pytest.raises(OutboundError) as error:
        send("GET", "http://10.0.0.5/")

    assert str(error.value) == (
        "refused: 10.0.0.5 is a private address; add it to HTTP_BLOCK_ALLOWED_HOSTS "
        "or the workspace's outbound allowlist"
    )


def test_a_url_through_cortexs_axon_relay_is_refused_saying_why():
    url = "http://jenkins@relay-proxy.cortex.io/job/deploy/build"

    with pytest.raises(OutboundError) as error:
        send("POST", url)

    assert str(error.value).startswith(
        f"refused: {url} goes through Cortex's Axon relay (relay-proxy.cortex.io)"
    )
    assert "the service's own address" in str(error.value)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.2:8080/", "a loopback address"),
        ("http://127.1/", "a loopback address"),
        ("http://2130706433/", "a loopback address"),  # 127.0.0.1 as one number
        ("http://0x7f.1/", "a loopback address"),  # hex
        ("http://user@127.0.0.1/", "a loopback address"),  # userinfo trick
        ("http://[::1]/", "a loopback address"),
        ("http://[::ffff:127.0.0.1]/", "a loopback address"),  # IPv4-mapped
        ("http://[::ffff:10.1.2.3]/", "a private address"),
        ("http://[64:ff9b::a00:5]/", "a private address"),  # NAT64 of 10.0.0.5
        ("http://172.16.0.1/", "a private address"),
        ("http://192.168.1.10/", "a private address"),
        ("http://[fc00::1]/", "a private address"),
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://[fe80::1]/", "a link-local address"),
        ("http://0.0.0.0/", "an unspecified address"),
        ("http://[::]/", "an unspecified address"),
        ("http://224.0.0.1/", "a multicast address"),
        ("http://[ff02::1]/", "a multicast address"),
        ("http://240.0.0.1/", "a reserved address"),
        ("http://100.64.0.1/", "a non-public address"),  # carrier-grade NAT
    ],
)
def test_non_public_addresses_are_refused_in_any_spelling(url, reason, no_allowlist):
    with pytest.raises(OutboundError, match=f"^refused: .*{reason}"):
        send("GET", url, timeout=2)


def test_a_name_is_resolved_once_and_the_checked_address_is_the_one_connected(
    http_server, fake_dns
):
    answers, lookups = fake_dns
    # A rebinding name: the first answer is allowed, any later one is private.
    replies = iter([["127.0.0.1"]])
    answers["rebind.test"] = lambda: next(replies, ["10.0.0.5"])
    http_server.route("GET", "/", json={"ok": True})

    response = send("GET", f"http://rebind.test:{http_server.port}/")

    assert response.body == {"ok": True}
    assert lookups == ["rebind.test"]
    assert http_server.requests[0].headers["host"] == f"rebind.test:{http_server.port}"


def test_a_name_with_one_private_address_among_public_ones_is_refused(fake_dns):
    answers, _ = fake_dns
    answers["mixed.test"] = ["93.184.216.34", "10.0.0.5"]

    with pytest.raises(
        OutboundError,
        match=r"refused: mixed\.test resolves to 10\.0\.0\.5, a private address",
    ):
        send("GET", "http://mixed.test/")


def test_a_name_that_does_not_resolve_is_reported(fake_dns):
    answers, _ = fake_dns
    answers["nowhere.test"] = []

    with pytest.raises(OutboundError, match=r"^could not resolve nowhere\.test: "):
        send("GET", "http://nowhere.test/")


def test_a_host_name_in_the_setting_is_allowed(http_server, settings):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["LocalHost."]
    http_server.route("GET", "/", json={"ok": True})

    assert send("GET", http_server.url("/", host="localhost")).body == {"ok": True}


def test_a_cidr_range_in_the_setting_is_allowed(http_server, settings):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.0/8"]
    http_server.route("GET", "/", json={"ok": True})

    assert send("GET", http_server.url("/")).ok


def test_the_setting_may_be_a_comma_separated_string(http_server, settings):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = "example.com, 127.0.0.1"
    http_server.route("GET", "/", status=200)

    assert send("GET", http_server.url("/")).ok


def test_the_workspace_allowlist_allows_a_cidr_range(http_server, no_allowlist, ws):
    OutboundAllowlistEntry.objects.create(workspace=ws, host="127.0.0.0/8")
    http_server.route("GET", "/", json={"ok": True})

    assert send("GET", http_server.url("/"), workspace=ws).body == {"ok": True}


def test_the_workspace_allowlist_is_read_only_when_the_settings_do_not_allow_the_call(
    http_server, settings, ws, django_assert_num_queries
):
    OutboundAllowlistEntry.objects.create(workspace=ws, host="127.0.0.1")
    http_server.route("GET", "/", status=200)

    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.1"]
    with django_assert_num_queries(0):
        assert send("GET", http_server.url("/"), workspace=ws).ok
    settings.HTTP_BLOCK_ALLOWED_HOSTS = []
    with django_assert_num_queries(1):
        assert send("GET", http_server.url("/"), workspace=ws).ok


def test_another_workspaces_allowlist_does_not_count(
    http_server, no_allowlist, ws, other_ws
):
    OutboundAllowlistEntry.objects.create(workspace=other_ws, host="127.0.0.1")

    with pytest.raises(OutboundError, match="loopback"):
        send("GET", http_server.url("/"), workspace=ws)


def test_allowlist_entries_are_hosts_addresses_or_ranges():
    allowlist = Allowlist.from_entries(
        ["Example.COM.", " 10.0.0.0/8 ", "[::1]", "", "192.168.1.7"]
    )

    assert allowlist.hosts == frozenset({"example.com"})
    assert [str(n) for n in allowlist.networks] == [
        "10.0.0.0/8",
        "::1/128",
        "192.168.1.7/32",
    ]
    assert allowlist.allows_host("EXAMPLE.com")
    assert allowlist.allows_address(outbound.ipaddress.ip_address("::ffff:10.9.9.9"))
    assert not allowlist.allows_address(outbound.ipaddress.ip_address("192.168.1.8"))


@pytest.mark.parametrize(
    "url", ["ftp://example.com/file", "file:///etc/passwd", "gopher://x/"]
)
def test_only_http_and_https_urls_are_allowed(url):
    with pytest.raises(
        OutboundError, match="refused: only http and https URLs are allowed"
    ):
        send("GET", url)


@pytest.mark.parametrize(
    "url",
    ["http://", "http://[::1/", "http://0177.0.0.1/", "http://example.com:99999/"],
)
def test_an_invalid_url_is_reported(url):
    with pytest.raises(OutboundError, match=r"^invalid URL "):
        send("GET", url)


# Redirects ------------------------------------------------------------------------


def test_a_redirect_on_the_same_host_is_followed(http_server):
    http_server.redirect("/old", "/new")
    http_server.route("GET", "/new", json={"moved": True})

    response = send("GET", http_server.url("/old"))

    assert response.body == {"moved": True}
    assert response.url == http_server.url("/new")
    assert [r.path for r in http_server.requests] == ["/old", "/new"]


def test_a_redirect_to_another_host_is_refused(http_server):
    http_server.redirect("/out", "http://evil.com/steal")

    with pytest.raises(OutboundError) as error:
        send("GET", http_server.url("/out"))

    assert str(error.value) == "redirect to another host (evil.com) refused"


def test_a_redirect_from_a_name_to_its_address_counts_as_another_host(
    http_server, settings
):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["localhost", "127.0.0.1"]
    http_server.redirect("/out", http_server.url("/in"))

    with pytest.raises(
        OutboundError, match=r"redirect to another host \(127\.0\.0\.1\) refused"
    ):
        send("GET", http_server.url("/out", host="localhost"))


def test_a_redirect_to_another_scheme_than_http_is_refused(http_server):
    http_server.redirect("/out", "file:///etc/passwd")

    with pytest.raises(OutboundError, match="redirect to a 'file' URL refused"):
        send("GET", http_server.url("/out"))


def test_five_redirects_are_followed(http_server):
    for hop in range(5):
        http_server.redirect(f"/r{hop}", f"/r{hop + 1}")
    http_server.route("GET", "/r5", json={"hops": 5})

    assert send("GET", http_server.url("/r0")).body == {"hops": 5}


def test_a_sixth_redirect_is_refused(http_server):
    for hop in range(6):
        http_server.redirect(f"/r{hop}", f"/r{hop + 1}")
    http_server.route("GET", "/r6", json={"hops": 6})

    with pytest.raises(OutboundError, match="more than 5 redirects"):
        send("GET", http_server.url("/r0"))


def test_a_303_after_a_post_fetches_the_new_location_with_get(http_server):
    http_server.redirect("/submit", "/result", status=303)
    http_server.route("GET", "/result", json={"done": True})

    response = send(
        "POST",
        http_server.url("/submit"),
        content="x=1",
        headers={"Content-Type": "text/plain"},
    )

    assert response.body == {"done": True}
    second = http_server.requests[1]
    assert (second.method, second.body) == ("GET", b"")
    assert "content-type" not in second.headers


def test_a_307_repeats_the_method_and_body(http_server):
    http_server.redirect("/submit", "/v2/submit", status=307)
    http_server.route("POST", "/v2/submit", status=201, json={"created": True})

    response = send("POST", http_server.url("/submit"), content='{"a": 1}')

    assert response.status == 201
    assert http_server.requests[1].json() == {"a": 1}


def test_a_redirect_without_a_location_is_returned_as_it_is(http_server):
    http_server.route("GET", "/odd", status=302)

    assert send("GET", http_server.url("/odd")).status == 302


# Time and size limits ---------------------------------------------------------------


def test_a_slow_server_times_out(http_server):
    http_server.route("GET", "/slow", json={}, delay=5)

    started = time.monotonic()
    with pytest.raises(OutboundError) as error:
        send("GET", http_server.url("/slow"), timeout=0.3)

    assert str(error.value) == "timed out after 0.3 s"
    assert time.monotonic() - started < 2


def test_a_body_that_trickles_in_still_times_out_on_the_whole_exchange(http_server):
    # Every piece comes well within the timeout, but all of them together don't.
    http_server.route("GET", "/drip", body="x" * 20, chunks=20, chunk_delay=0.1)

    started = time.monotonic()
    with pytest.raises(OutboundError, match="timed out after 0.5 s"):
        send("GET", http_server.url("/drip"), timeout=0.5)

    assert time.monotonic() - started < 1.5


def test_a_closed_port_is_reported(closed_port):
    with pytest.raises(
        OutboundError, match=f"^could not connect to 127.0.0.1:{closed_port}: "
    ):
        send("GET", f"http://127.0.0.1:{closed_port}/")


def test_a_response_declared_larger_than_the_cap_is_refused(http_server):
    http_server.route("GET", "/big", body=b"x" * (2 * KIB))

    with pytest.raises(OutboundError) as error:
        send("GET", http_server.url("/big"), max_bytes=KIB)

    assert str(error.value) == "response larger than 1 KiB"


def test_a_response_larger_than_the_cap_without_a_length_is_cut_off(http_server):
    http_server.route("GET", "/big", body=b"x" * (64 * KIB), chunked=True, chunks=16)

    with pytest.raises(OutboundError, match="response larger than 1 KiB"):
        send("GET", http_server.url("/big"), max_bytes=KIB)


def test_a_response_of_exactly_the_cap_is_read(http_server):
    http_server.route("GET", "/full", body=b"x" * KIB, chunked=True, chunks=4)

    assert send("GET", http_server.url("/full"), max_bytes=KIB).body_bytes == b"x" * KIB


def test_the_default_cap_is_5_mib(http_server):
    http_server.route("GET", "/huge", body=b"x" * (5 * 1024 * KIB + 1))

    with pytest.raises(OutboundError, match="^response larger than 5 MiB$"):
        send("GET", http_server.url("/huge"))


# TLS -----------------------------------------------------------------------------------


def test_https_keeps_the_host_name_for_sni_and_the_certificate_check(
    https_server, settings
):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["localhost"]
    https_server.route("GET", "/secure", json={"tls": True})

    response = send(
        "GET",
        https_server.url("/secure", host="localhost"),
        verify=https_server.client_ssl_context(),
    )

    assert response.body == {"tls": True}
    assert https_server.sni_names == ["localhost"]
    assert https_server.requests[0].headers["host"] == f"localhost:{https_server.port}"


def test_https_with_an_untrusted_certificate_fails(https_server, settings):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["localhost"]

    with pytest.raises(
        OutboundError, match=f"^TLS error with localhost:{https_server.port}: "
    ):
        send("GET", https_server.url("/", host="localhost"))


# Headers ------------------------------------------------------------------------------


def test_a_header_value_outside_ascii_is_sent_as_utf8(http_server):
    http_server.route("GET", "/", status=200)

    send("GET", http_server.url("/"), headers={"X-Name": "Zoë"})

    assert http_server.requests[0].headers["x-name"].encode("latin-1").decode() == "Zoë"


def test_blanks_around_a_header_value_are_dropped_so_an_empty_variable_does_not_break_the_request(
    http_server,
):
    http_server.route("GET", "/", status=200)

    send(
        "GET", http_server.url("/"), headers={"Authorization": "Bearer ", "X-A": " b\t"}
    )

    assert http_server.requests[0].headers["authorization"] == "Bearer"
    assert http_server.requests[0].headers["x-a"] == "b"


def test_a_header_value_with_a_line_break_is_refused(http_server):
    with pytest.raises(OutboundError) as error:
        send("GET", http_server.url("/"), headers={"X-Note": "a\r\nX-Admin: true"})

    assert str(error.value) == "header X-Note contains a line break or NUL character"
    assert http_server.requests == []


def test_a_header_name_that_is_not_a_token_is_refused(http_server):
    with pytest.raises(OutboundError, match="invalid header name 'X Note'"):
        send("GET", http_server.url("/"), headers={"X Note": "a"})
