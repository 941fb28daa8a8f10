"""Settings: the outbound allowlist (internal hosts HTTP blocks may call)."""

import ipaddress

import pytest
from django.urls import reverse

from portal.models import Role
from workflows.models import OutboundAllowlistEntry
from workflows.outbound import Allowlist


def _add(client, host):
    return client.post(reverse("settings:outbound-allowlist-add"), {"host": host})


def _hosts(ws) -> list[str]:
    return list(ws.outbound_allowlist.values_list("host", flat=True))


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("ci.internal", "ci.internal"),
        (" GitLab.Corp.Example. ", "gitlab.corp.example"),
        ("localhost", "localhost"),
        ("bücher.example", "xn--bcher-kva.example"),
        ("10.0.0.7", "10.0.0.7"),
        ("10.0.0.1/8", "10.0.0.0/8"),
        ("192.168.1.7/32", "192.168.1.7"),
        ("FD00::/8", "fd00::/8"),
        ("[::1]", "::1"),
    ],
)
def test_admin_adds_hosts_addresses_and_ranges_in_canonical_form(
    client, ws, ada, value, stored
):
    client.force_login(ada)
    r = _add(client, value)
    assert r.status_code == 302
    assert r["Location"] == reverse("settings:outbound-allowlist")
    assert _hosts(ws) == [stored]


@pytest.mark.parametrize(
    "value",
    [
        "10.0.0.300",
        "10.0.0.0/33",
        "-ci.internal",
        "ci-.internal",
        "under_score.internal",
        "*.internal",
        "ci..internal",
        "a" * 64 + ".internal",
        "ci internal",
    ],
)
def test_invalid_entries_are_rejected_with_a_message_naming_them(
    client, ws, ada, value
):
    client.force_login(ada)
    r = _add(client, value)
    assert r.status_code == 400
    assert (
        f"“{value}” is not a valid host name, IP address or CIDR range."
        in r.content.decode()
    )
    assert _hosts(ws) == []


@pytest.mark.parametrize(
    "value", ["https://ci.internal/", "ci.internal:8080", "10.0.0.7:80"]
)
def test_urls_and_ports_get_a_hint(client, ws, ada, value):
    client.force_login(ada)
    r = _add(client, value)
    assert r.status_code == 400
    assert "Enter the host alone, without a scheme, port or path." in r.content.decode()
    assert _hosts(ws) == []


def test_an_entry_is_required(client, ws, ada):
    client.force_login(ada)
    r = _add(client, "  ")
    assert r.status_code == 400
    assert "This field is required." in r.content.decode()


def test_duplicates_are_rejected(client, ws, ada):
    OutboundAllowlistEntry.objects.create(workspace=ws, host="10.0.0.0/8")
    OutboundAllowlistEntry.objects.create(workspace=ws, host="ci.internal")
    client.force_login(ada)
    r = _add(client, "10.0.0.0/8")
    assert r.status_code == 400
    assert "10.0.0.0/8 is already on the outbound allowlist." in r.content.decode()
    r = _add(client, "10.1.2.3/8")
    assert (
        "10.1.2.3/8 means 10.0.0.0/8, which is already on the outbound allowlist."
        in r.content.decode()
    )
    r = _add(client, "CI.internal")
    assert r.status_code == 400
    assert "CI.internal means ci.internal" in r.content.decode()
    assert sorted(_hosts(ws)) == ["10.0.0.0/8", "ci.internal"]


def test_the_same_host_may_be_on_another_workspaces_list(client, ws, other_ws, ada):
    OutboundAllowlistEntry.objects.create(workspace=other_ws, host="ci.internal")
    client.force_login(ada)
    assert _add(client, "ci.internal").status_code == 302


def test_entries_are_what_http_blocks_allow(client, ws, ada):
    client.force_login(ada)
    for value in ("CI.Internal", "10.1.2.3/16"):
        assert _add(client, value).status_code == 302
    allowlist = Allowlist.for_workspace(ws)
    assert allowlist.allows_host("ci.internal")
    assert allowlist.allows_address(ipaddress.ip_address("10.1.200.9"))
    assert not allowlist.allows_address(ipaddress.ip_address("10.2.0.1"))


def test_page_explains_the_default_and_shows_the_server_setting(
    client, ws, ada, settings
):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["gitlab.internal", "172.20.0.0/16"]
    OutboundAllowlistEntry.objects.create(workspace=ws, host="ci.internal")
    client.force_login(ada)
    html = client.get(reverse("settings:outbound-allowlist")).content.decode()
    assert "By default, HTTP blocks can't reach loopback" in html
    assert "private" in html and "link-local" in html
    assert "<code>ci.internal</code>" in html
    assert "<code>HTTP_BLOCK_ALLOWED_HOSTS</code>" in html
    assert (
        "<code>gitlab.internal</code>" in html and "<code>172.20.0.0/16</code>" in html
    )
    # Read-only: nothing on the page removes a server-wide entry.
    assert html.count("outbound-allowlist-remove") == 0
    assert html.count("/remove/") == 1


def test_page_says_when_the_server_setting_is_not_set(client, ws, ada, settings):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = []
    client.force_login(ada)
    html = client.get(reverse("settings:outbound-allowlist")).content.decode()
    assert "Not set." in html
    assert "No entries: only public addresses can be called." in html


def test_admin_removes_an_entry(client, ws, ada):
    entry = OutboundAllowlistEntry.objects.create(workspace=ws, host="ci.internal")
    client.force_login(ada)
    r = client.post(
        reverse("settings:outbound-allowlist-remove", args=[entry.pk]), follow=True
    )
    assert "ci.internal removed from the outbound allowlist." in r.content.decode()
    assert _hosts(ws) == []


def test_managers_users_and_viewers_cannot_configure_the_allowlist(
    client, ws, mona, grace, vera
):
    entry = OutboundAllowlistEntry.objects.create(workspace=ws, host="ci.internal")
    for person in (mona, grace, vera):
        client.force_login(person)
        assert client.get(reverse("settings:outbound-allowlist")).status_code == 403
        assert _add(client, "169.254.169.254").status_code == 403
        r = client.post(reverse("settings:outbound-allowlist-remove", args=[entry.pk]))
        assert r.status_code == 403
    assert _hosts(ws) == ["ci.internal"]


def test_a_custom_role_can_grant_the_allowlist(client, ws, grace):
    netadmin = Role.objects.create(
        workspace=ws, name="Net", permissions=["CONFIGURE_IP_ALLOWLIST"]
    )
    grace.memberships.get(workspace=ws).roles.add(netadmin)
    client.force_login(grace)
    assert _add(client, "ci.internal").status_code == 302
    html = client.get(reverse("settings:index")).content.decode()
    assert f'href="{reverse("settings:outbound-allowlist")}"' in html


def test_only_those_who_may_configure_it_see_the_link(client, ada, mona):
    link = f'href="{reverse("settings:outbound-allowlist")}"'
    client.force_login(ada)
    assert link in client.get(reverse("settings:index")).content.decode()
    client.force_login(mona)
    assert link not in client.get(reverse("settings:index")).content.decode()


def test_another_workspaces_entries_answer_404(client, other_ws, ada):
    theirs = OutboundAllowlistEntry.objects.create(
        workspace=other_ws, host="ci.internal"
    )
    client.force_login(ada)
    r = client.post(reverse("settings:outbound-allowlist-remove", args=[theirs.pk]))
    assert r.status_code == 404
    assert OutboundAllowlistEntry.objects.filter(pk=theirs.pk).exists()


def test_write_views_refuse_get(client, ws, ada):
    entry = OutboundAllowlistEntry.objects.create(workspace=ws, host="ci.internal")
    client.force_login(ada)
    assert client.get(reverse("settings:outbound-allowlist-add")).status_code == 405
    r = client.get(reverse("settings:outbound-allowlist-remove", args=[entry.pk]))
    assert r.status_code == 405


def test_outbound_page_query_count_does_not_grow_with_rows(
    client, ws, ada, django_assert_max_num_queries
):
    for i in range(40):
        OutboundAllowlistEntry.objects.create(workspace=ws, host=f"host-{i}.internal")
    client.force_login(ada)
    with django_assert_max_num_queries(8):
        r = client.get(reverse("settings:outbound-allowlist"))
    assert r.content.decode().count(".internal</code>") == 40
