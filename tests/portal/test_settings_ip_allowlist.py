"""Settings: the IP allowlist of the workspace's API."""

import pytest
from django.urls import reverse

from portal.models import IpAllowlistEntry, Role


def _add(client, address, description=""):
    return client.post(
        reverse("settings:ip-allowlist-add"),
        {"address": address, "description": description},
    )


def _addresses(ws) -> list[str]:
    return list(ws.ip_allowlist.values_list("address", flat=True))


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("10.0.0.0/8", "10.0.0.0/8"),
        ("192.168.1.7", "192.168.1.7"),
        ("2001:db8::/32", "2001:db8::/32"),
        ("10.0.0.1/8", "10.0.0.0/8"),
        (" 2001:DB8:0::1/128 ", "2001:db8::1"),
        ("192.168.1.7/32", "192.168.1.7"),
        # IPv4-mapped IPv6, as a dual-stack server shows a client, is IPv4:
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("::ffff:10.0.0.0/104", "10.0.0.0/8"),
    ],
)
def test_admin_adds_addresses_and_ranges_in_canonical_form(
    client, ws, ada, value, stored
):
    client.force_login(ada)
    r = _add(client, value, "Office")
    assert r.status_code == 302
    assert _addresses(ws) == [stored]


@pytest.mark.parametrize("value", ["10.0.0.300", "hello", "10.0.0.0/33"])
def test_invalid_addresses_are_rejected_with_a_message_naming_them(
    client, ws, ada, value
):
    client.force_login(ada)
    r = _add(client, value)
    assert r.status_code == 400
    assert f"“{value}” is not a valid IP address or CIDR range." in r.content.decode()
    assert _addresses(ws) == []


def test_duplicates_are_rejected(client, ws, ada):
    IpAllowlistEntry.objects.create(workspace=ws, address="10.0.0.0/8")
    client.force_login(ada)
    r = _add(client, "10.0.0.0/8")
    assert r.status_code == 400
    assert "10.0.0.0/8 is already on the allowlist." in r.content.decode()
    r = _add(client, "10.1.2.3/8")
    assert (
        "10.1.2.3/8 means 10.0.0.0/8, which is already on the allowlist."
        in r.content.decode()
    )
    assert _addresses(ws) == ["10.0.0.0/8"]


def test_the_same_address_may_be_on_another_workspaces_list(client, ws, other_ws, ada):
    IpAllowlistEntry.objects.create(workspace=other_ws, address="10.0.0.0/8")
    client.force_login(ada)
    assert _add(client, "10.0.0.0/8").status_code == 302


def test_page_warns_that_other_addresses_get_403(client, ws, ada):
    client.force_login(ada)
    html = client.get(reverse("settings:ip-allowlist")).content.decode()
    assert (
        "API calls from any other address get <strong>403 Forbidden IP address</strong>"
        in html
    )
    assert "The list is empty: API calls are accepted from any address." in html


def test_admin_removes_an_entry(client, ws, ada):
    entry = IpAllowlistEntry.objects.create(workspace=ws, address="10.0.0.0/8")
    client.force_login(ada)
    r = client.post(
        reverse("settings:ip-allowlist-remove", args=[entry.pk]), follow=True
    )
    assert "10.0.0.0/8 removed from the IP allowlist." in r.content.decode()
    assert _addresses(ws) == []


def test_managers_users_and_viewers_cannot_configure_the_allowlist(
    client, ws, mona, grace, vera
):
    entry = IpAllowlistEntry.objects.create(workspace=ws, address="10.0.0.0/8")
    for person in (mona, grace, vera):
        client.force_login(person)
        assert client.get(reverse("settings:ip-allowlist")).status_code == 403
        assert _add(client, "0.0.0.0/0").status_code == 403
        r = client.post(reverse("settings:ip-allowlist-remove", args=[entry.pk]))
        assert r.status_code == 403
    assert _addresses(ws) == ["10.0.0.0/8"]


def test_a_custom_role_can_grant_the_allowlist(client, ws, grace):
    netadmin = Role.objects.create(
        workspace=ws, name="Net", permissions=["CONFIGURE_IP_ALLOWLIST"]
    )
    grace.memberships.get(workspace=ws).roles.add(netadmin)
    client.force_login(grace)
    assert _add(client, "192.168.0.0/16").status_code == 302


def test_another_workspaces_entries_answer_404(client, other_ws, ada):
    theirs = IpAllowlistEntry.objects.create(workspace=other_ws, address="10.0.0.0/8")
    client.force_login(ada)
    r = client.post(reverse("settings:ip-allowlist-remove", args=[theirs.pk]))
    assert r.status_code == 404
    assert IpAllowlistEntry.objects.filter(pk=theirs.pk).exists()


def test_allowlist_page_query_count_does_not_grow_with_rows(
    client, ws, ada, django_assert_max_num_queries
):
    for i in range(40):
        IpAllowlistEntry.objects.create(workspace=ws, address=f"10.0.{i}.0/24")
    client.force_login(ada)
    with django_assert_max_num_queries(8):
        r = client.get(reverse("settings:ip-allowlist"))
    assert "Only the 40 entries below may call the API." in r.content.decode()


def test_adding_an_entry_warns_when_the_workers_or_your_address_is_left_out(
    client, ws, ada, settings
):
    settings.WORKER_EGRESS_IP = "10.1.1.1"
    client.force_login(ada)

    def add(address: str) -> str:
        return client.post(
            reverse("settings:ip-allowlist-add"),
            {"address": address},
            follow=True,
            REMOTE_ADDR="192.0.2.7",
        ).content.decode()

    page = add("10.9.9.9")
    assert "10.9.9.9 added to the IP allowlist." in page
    assert "The workers&#x27; address (10.1.1.1) is not on the list" in page
    assert "Your address (192.0.2.7) is not on the list" in page

    page = add("10.0.0.0/8")
    assert "workers&#x27; address" not in page
    assert "Your address (192.0.2.7) is not on the list" in page
    assert sorted(_addresses(ws)) == ["10.0.0.0/8", "10.9.9.9"]


def test_removing_an_entry_warns_when_the_list_then_shuts_out_the_workers(
    client, ws, ada, settings
):
    settings.WORKER_EGRESS_IP = "10.1.1.1"
    workers = IpAllowlistEntry.objects.create(workspace=ws, address="10.1.1.1")
    IpAllowlistEntry.objects.create(workspace=ws, address="192.0.2.0/24")
    client.force_login(ada)
    page = client.post(
        reverse("settings:ip-allowlist-remove", args=[workers.pk]),
        follow=True,
        REMOTE_ADDR="192.0.2.7",
    ).content.decode()
    assert "10.1.1.1 removed from the IP allowlist." in page
    assert "The workers&#x27; address (10.1.1.1) is not on the list" in page
    assert "Your address" not in page
