import pytest
from django.urls import reverse

from portal.tenancy import SESSION_KEY
from tests.factories import EntityFactory, UserFactory, member

SWITCH = "/workspaces/switch/"
CATALOG = "/catalog/"


@pytest.fixture
def two_workspaces(ws, other_ws, grace):
    """grace joined `one`, then `two`; each workspace has one entity."""
    member(other_ws, grace, "Viewer")
    EntityFactory(workspace=ws, tag="ledger", name="Ledger of one")
    EntityFactory(workspace=other_ws, tag="rocket", name="Rocket of two")
    return ws, other_ws


def catalog_html(client) -> str:
    r = client.get(CATALOG)
    assert r.status_code == 200
    return r.content.decode()


def test_a_member_of_two_workspaces_starts_in_the_one_they_joined_first(
    client, grace, two_workspaces
):
    client.force_login(grace)
    html = catalog_html(client)
    assert "Ledger of one" in html and "Rocket of two" not in html


def test_the_workspace_switcher_switches_to_a_workspace_the_user_belongs_to(
    client, grace, two_workspaces
):
    client.force_login(grace)
    r = client.post(SWITCH, {"workspace": "two", "next": CATALOG})
    assert r.status_code == 302 and r["Location"] == CATALOG
    html = catalog_html(client)
    assert "Rocket of two" in html and "Ledger of one" not in html
    # The entity pages follow the switch too:
    assert (
        client.get(reverse("catalog:entity-detail", args=["rocket"])).status_code == 200
    )
    assert (
        client.get(reverse("catalog:entity-detail", args=["ledger"])).status_code == 404
    )


def test_the_switch_applies_the_roles_of_the_new_workspace(
    client, grace, two_workspaces
):
    client.force_login(grace)
    client.post(SWITCH, {"workspace": "two"})
    r = client.get(CATALOG)
    assert r.wsgi_request.workspace.slug == "two"
    assert "EXECUTE_WORKFLOW_RUNS" not in r.wsgi_request.ws_perms  # a Viewer there


def test_switching_to_a_workspace_the_user_does_not_belong_to_is_a_404_and_changes_nothing(
    client, grace, ws, other_ws
):
    EntityFactory(workspace=ws, tag="ledger", name="Ledger of one")
    EntityFactory(workspace=other_ws, tag="rocket", name="Rocket of two")
    client.force_login(grace)
    catalog_html(client)
    before = client.session.get(SESSION_KEY)
    r = client.post(SWITCH, {"workspace": "two"})
    assert r.status_code == 404
    assert client.session.get(SESSION_KEY) == before
    html = catalog_html(client)
    assert "Ledger of one" in html and "Rocket of two" not in html


def test_switching_to_a_missing_workspace_looks_the_same_as_to_someone_elses(
    client, grace, other_ws
):
    client.force_login(grace)
    foreign = client.post(SWITCH, {"workspace": "two"})
    missing = client.post(SWITCH, {"workspace": "no-such-workspace"})
    assert foreign.status_code == missing.status_code == 404


def test_the_switcher_does_not_redirect_to_another_site(client, grace, two_workspaces):
    client.force_login(grace)
    r = client.post(SWITCH, {"workspace": "two", "next": "https://evil.example/"})
    assert r.status_code == 302 and r["Location"] == "/"


def test_the_switcher_takes_only_post(client, grace, two_workspaces):
    client.force_login(grace)
    assert client.get(SWITCH, {"workspace": "two"}).status_code == 405


def test_the_switcher_needs_a_login(client, db):
    r = client.post(SWITCH, {"workspace": "one"})
    assert r.status_code == 302 and r["Location"].startswith(reverse("login"))


def test_a_stale_workspace_in_the_session_falls_back_to_one_the_user_belongs_to(
    client, grace, two_workspaces
):
    ws, other_ws = two_workspaces
    client.force_login(grace)
    client.post(SWITCH, {"workspace": "two"})
    other_ws.memberships.filter(user=grace).delete()
    html = catalog_html(client)
    assert "Ledger of one" in html and "Rocket of two" not in html


def test_a_user_with_no_membership_gets_404_on_workspace_pages(client, ws):
    EntityFactory(workspace=ws, tag="ledger")
    loner = UserFactory(email="loner@example.com")
    client.force_login(loner)
    assert client.get(CATALOG).status_code == 404
    assert (
        client.get(reverse("catalog:entity-detail", args=["ledger"])).status_code == 404
    )


def test_the_login_page_shows_a_form(client, db):
    r = client.get(reverse("login"))
    assert r.status_code == 200
    assert (
        'name="username"' in r.content.decode()
        and 'name="password"' in r.content.decode()
    )


def test_logging_in_with_email_and_password_opens_the_catalog(client, grace):
    r = client.post(
        reverse("login"), {"username": "grace@example.com", "password": "password"}
    )
    assert r.status_code == 302
    assert client.get(r["Location"], follow=True).wsgi_request.user == grace
    assert client.get(CATALOG).status_code == 200


def test_logging_in_with_a_wrong_password_fails_with_a_message(client, grace):
    r = client.post(
        reverse("login"), {"username": "grace@example.com", "password": "nope"}
    )
    assert r.status_code == 200
    assert "The email address or password is wrong." in r.content.decode()
    assert "case-sensitive" not in r.content.decode()  # emails are not
    assert client.get(CATALOG).status_code == 302


def test_logging_in_follows_next_within_the_site(client, grace):
    r = client.post(
        reverse("login"),
        {
            "username": "grace@example.com",
            "password": "password",
            "next": "/catalog/?q=x",
        },
    )
    assert r["Location"] == "/catalog/?q=x"


def test_logging_out_takes_a_post_and_ends_the_session(client, grace):
    client.force_login(grace)
    r = client.post(reverse("logout"))
    assert r.status_code == 302 and r["Location"] == reverse("login")
    assert "You have logged out." in client.get(r["Location"]).content.decode()
    r = client.get(CATALOG)
    assert r.status_code == 302 and r["Location"].startswith(reverse("login"))


def test_logging_out_forgets_the_chosen_workspace(client, grace, two_workspaces):
    client.force_login(grace)
    client.post(SWITCH, {"workspace": "two"})
    client.post(reverse("logout"))
    client.force_login(grace)
    html = catalog_html(client)
    assert "Ledger of one" in html


@pytest.mark.parametrize(
    ("path", "lands_on"),
    [
        ("/workflows/runs/", "/workflows/runs/"),
        ("/workflows/runs/41/", "/workflows/runs/"),
        ("/workflows/notifications/", "/workflows/notifications/"),
        ("/workflows/deploy/edit/", "/workflows/"),
        ("/catalog/ledger/workflows/", "/catalog/"),
        ("/settings/members/7/", "/settings/"),
        ("/", "/"),
    ],
)
def test_switching_workspace_lands_on_the_list_page_of_the_section_one_was_in(
    path, lands_on
):
    from portal.context_processors import _list_page

    assert _list_page(path) == lands_on


def test_the_switcher_on_a_page_sends_its_sections_list_page(
    client, grace, two_workspaces
):
    client.force_login(grace)
    html = client.get(reverse("catalog:entity-detail", args=["ledger"])).content
    assert b'<input type="hidden" name="next" value="/catalog/">' in html
    html = client.get(reverse("workflows:run-list")).content
    assert b'<input type="hidden" name="next" value="/workflows/runs/">' in html
