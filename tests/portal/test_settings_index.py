"""The settings index lists only the sections the current member may use."""

import pytest
from django.urls import reverse

SECTION_URLS = {
    "members": "settings:members",
    "teams": "settings:teams",
    "api-keys": "settings:api-keys",
    "tokens": "settings:tokens",
    "ip-allowlist": "settings:ip-allowlist",
}


def _links(client) -> set[str]:
    html = client.get(reverse("settings:index")).content.decode()
    return {
        key for key, name in SECTION_URLS.items() if f'href="{reverse(name)}"' in html
    }


def test_index_requires_login(client, db):
    r = client.get(reverse("settings:index"))
    assert r.status_code == 302
    assert r["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("ada", {"members", "teams", "api-keys", "tokens", "ip-allowlist"}),
        ("mona", {"teams", "tokens"}),
        ("grace", {"tokens"}),
        ("vera", {"tokens"}),
    ],
)
def test_index_links_only_the_sections_each_role_may_use(
    client, request, person, expected
):
    client.force_login(request.getfixturevalue(person))
    assert _links(client) == expected


def test_viewer_sees_no_settings_controls_they_cannot_use(client, vera):
    client.force_login(vera)
    html = client.get(reverse("settings:tokens")).content.decode()
    for label in ("Members &amp; roles", "Teams", "Workspace API keys", "IP allowlist"):
        assert label not in html
    assert "Personal access tokens" in html


def test_index_shows_a_custom_roles_sections(client, ws, grace):
    from portal.models import Role

    auditor = Role.objects.create(
        workspace=ws, name="Network admin", permissions=["CONFIGURE_IP_ALLOWLIST"]
    )
    grace.memberships.get(workspace=ws).roles.add(auditor)
    client.force_login(grace)
    assert _links(client) == {"tokens", "ip-allowlist"}


@pytest.mark.parametrize(
    ("person", "forbidden"),
    [
        (
            "mona",
            [
                "settings:members",
                "settings:roles",
                "settings:api-keys",
                "settings:ip-allowlist",
            ],
        ),
        (
            "grace",
            [
                "settings:members",
                "settings:roles",
                "settings:teams",
                "settings:api-keys",
                "settings:ip-allowlist",
            ],
        ),
        (
            "vera",
            [
                "settings:members",
                "settings:roles",
                "settings:teams",
                "settings:api-keys",
                "settings:ip-allowlist",
            ],
        ),
    ],
)
def test_section_pages_answer_403_to_members_without_the_permission(
    client, request, person, forbidden
):
    client.force_login(request.getfixturevalue(person))
    for name in forbidden:
        assert client.get(reverse(name)).status_code == 403, name


def test_write_views_refuse_get(client, ada):
    client.force_login(ada)
    for name in (
        "member-add",
        "role-add",
        "team-add",
        "api-key-add",
        "token-add",
        "ip-allowlist-add",
    ):
        assert client.get(reverse(f"settings:{name}")).status_code == 405, name


def test_a_form_address_opened_in_the_browser_says_so_and_links_to_the_form(
    client, ada
):
    client.force_login(ada)
    r = client.get(reverse("settings:member-add"))
    assert r.status_code == 405 and r["Allow"] == "POST"
    html = r.content.decode()
    assert "This address is where a form sends what you submit" in html
    assert f'href="{reverse("settings:members")}"' in html


@pytest.mark.parametrize(
    ("form", "page"),
    [
        ("/settings/api-keys/7/revoke/", "/settings/api-keys/"),
        ("/settings/secrets/signing/remove/", "/settings/secrets/"),
        ("/settings/ip-allowlist/3/remove/", "/settings/ip-allowlist/"),
        ("/workspaces/switch/", "/"),
    ],
)
def test_the_link_from_a_form_address_leads_to_a_page(client, ada, form, page):
    client.force_login(ada)
    html = client.get(form).content.decode()
    assert f'href="{page}">Go to the page the form is on' in html
    assert client.get(page, follow=True).status_code == 200


def test_write_views_need_a_csrf_token(ws, ada):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(ada)
    r = client.post(reverse("settings:ip-allowlist-add"), {"address": "10.0.0.0/8"})
    assert r.status_code == 403
    assert not ws.ip_allowlist.exists()
