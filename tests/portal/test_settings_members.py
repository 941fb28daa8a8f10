"""Settings: members of the workspace and their roles."""

from django.urls import reverse

from catalog.models import Team
from portal.models import ApiKey, Membership, Role
from tests.factories import TeamFactory, UserFactory, api_key, member


def _roles(ws, *names):
    return [r.pk for r in Role.objects.filter(workspace=ws, name__in=names)]


def _role_names(user, ws) -> set[str]:
    return set(user.memberships.get(workspace=ws).roles.values_list("name", flat=True))


def test_members_page_lists_members_with_their_roles(client, ada, grace, ted):
    client.force_login(ada)
    html = client.get(reverse("settings:members")).content.decode()
    assert "ada@example.com" in html and "grace@example.com" in html
    assert "ted@example.com" not in html
    assert ">Admin</span>" in html and ">User</span>" in html


def test_members_page_query_count_does_not_grow_with_rows(
    client, ws, ada, django_assert_max_num_queries
):
    for _ in range(30):
        member(ws, UserFactory(), "User", "Viewer")
    client.force_login(ada)
    with django_assert_max_num_queries(12):
        r = client.get(reverse("settings:members"))
    assert r.content.decode().count("Change roles") == 31


def test_admin_adds_an_existing_user_with_roles(client, ws, ada):
    newcomer = UserFactory(email="new@example.com")
    client.force_login(ada)
    r = client.post(
        reverse("settings:member-add"),
        {"email": "New@Example.com", "roles": _roles(ws, "User", "Manager")},
    )
    assert r.status_code == 302
    assert _role_names(newcomer, ws) == {"User", "Manager"}


def test_adding_an_unknown_email_says_so_and_saves_nothing(client, ws, ada):
    client.force_login(ada)
    r = client.post(
        reverse("settings:member-add"),
        {"email": "nobody@example.com", "roles": _roles(ws, "User")},
    )
    assert r.status_code == 400
    assert "No user has the email address nobody@example.com." in r.content.decode()
    assert Membership.objects.filter(workspace=ws).count() == 1


def test_adding_an_existing_member_says_so(client, ws, ada, grace):
    client.force_login(ada)
    r = client.post(
        reverse("settings:member-add"),
        {"email": "grace@example.com", "roles": _roles(ws, "Admin")},
    )
    assert r.status_code == 400
    assert (
        "grace@example.com is already a member of this workspace." in r.content.decode()
    )
    assert _role_names(grace, ws) == {"User"}


def test_adding_a_member_needs_a_role(client, ws, ada):
    user = UserFactory(email="new@example.com")
    client.force_login(ada)
    r = client.post(reverse("settings:member-add"), {"email": "new@example.com"})
    assert r.status_code == 400
    assert "Choose at least one role." in r.content.decode()
    assert not user.memberships.exists()


def test_adding_a_member_rejects_another_workspaces_role(client, ws, other_ws, ada):
    user = UserFactory(email="new@example.com")
    client.force_login(ada)
    r = client.post(
        reverse("settings:member-add"),
        {"email": "new@example.com", "roles": _roles(other_ws, "Admin")},
    )
    assert r.status_code == 400
    assert not user.memberships.exists()


def test_admin_changes_a_members_roles(client, ws, ada, grace):
    membership = grace.memberships.get(workspace=ws)
    client.force_login(ada)
    page = client.get(reverse("settings:member-edit", args=[membership.pk]))
    assert page.status_code == 200
    r = client.post(
        reverse("settings:member-update", args=[membership.pk]),
        {"roles": _roles(ws, "Manager")},
    )
    assert r.status_code == 302
    assert _role_names(grace, ws) == {"Manager"}


def test_changing_roles_needs_at_least_one(client, ws, ada, grace):
    membership = grace.memberships.get(workspace=ws)
    client.force_login(ada)
    r = client.post(reverse("settings:member-update", args=[membership.pk]), {})
    assert r.status_code == 400
    assert "Choose at least one role." in r.content.decode()
    assert _role_names(grace, ws) == {"User"}


def test_the_last_member_manager_cannot_drop_their_own_admin_role(
    client, ws, ada, grace
):
    membership = ada.memberships.get(workspace=ws)
    client.force_login(ada)
    r = client.post(
        reverse("settings:member-update", args=[membership.pk]),
        {"roles": _roles(ws, "Viewer")},
    )
    assert r.status_code == 400
    assert "must keep at least one member who can manage members" in r.content.decode()
    assert _role_names(ada, ws) == {"Admin"}


def test_an_admin_may_step_down_when_another_admin_remains(client, ws, ada):
    member(ws, UserFactory(email="bob@example.com"), "Admin")
    membership = ada.memberships.get(workspace=ws)
    client.force_login(ada)
    r = client.post(
        reverse("settings:member-update", args=[membership.pk]),
        {"roles": _roles(ws, "User")},
    )
    assert r.status_code == 302
    assert r["Location"] == reverse("settings:index")
    assert _role_names(ada, ws) == {"User"}


def test_admin_removes_a_member_from_the_workspace_its_teams_and_tokens(
    client, ws, ada, grace
):
    team = TeamFactory(workspace=ws)
    team.members.add(grace)
    token, _ = api_key(ws, user=grace)
    client.force_login(ada)
    membership = grace.memberships.get(workspace=ws)
    r = client.post(reverse("settings:member-remove", args=[membership.pk]))
    assert r.status_code == 302
    assert not grace.memberships.filter(workspace=ws).exists()
    assert not team.members.filter(pk=grace.pk).exists()
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_removing_a_member_keeps_their_other_workspaces(
    client, ws, other_ws, ada, grace
):
    member(other_ws, grace, "User")
    other_team = TeamFactory(workspace=other_ws)
    other_team.members.add(grace)
    client.force_login(ada)
    client.post(
        reverse("settings:member-remove", args=[grace.memberships.get(workspace=ws).pk])
    )
    assert grace.memberships.filter(workspace=other_ws).exists()
    assert Team.objects.get(pk=other_team.pk).members.filter(pk=grace.pk).exists()


def test_nobody_can_remove_themselves(client, ws, ada):
    member(ws, UserFactory(email="bob@example.com"), "Admin")
    client.force_login(ada)
    r = client.post(
        reverse("settings:member-remove", args=[ada.memberships.get(workspace=ws).pk]),
        follow=True,
    )
    assert "You can&#x27;t remove yourself from the workspace." in r.content.decode()
    assert ada.memberships.filter(workspace=ws).exists()


def test_members_page_shows_no_remove_button_on_your_own_row(client, ws, ada, grace):
    client.force_login(ada)
    html = client.get(reverse("settings:members")).content.decode()
    own = ada.memberships.get(workspace=ws).pk
    other = grace.memberships.get(workspace=ws).pk
    assert reverse("settings:member-remove", args=[own]) not in html
    assert reverse("settings:member-remove", args=[other]) in html


def test_managers_and_users_cannot_manage_members(client, ws, mona, grace, vera):
    target = vera.memberships.get(workspace=ws)
    for person in (mona, grace, vera):
        client.force_login(person)
        assert client.get(reverse("settings:members")).status_code == 403
        assert (
            client.get(reverse("settings:member-edit", args=[target.pk])).status_code
            == 403
        )
        r = client.post(reverse("settings:member-remove", args=[target.pk]))
        assert r.status_code == 403
        r = client.post(
            reverse("settings:member-update", args=[target.pk]),
            {"roles": _roles(ws, "Admin")},
        )
        assert r.status_code == 403
        r = client.post(
            reverse("settings:member-add"),
            {"email": "ted@example.com", "roles": _roles(ws, "Admin")},
        )
        assert r.status_code == 403
    assert Membership.objects.filter(pk=target.pk).exists()
    assert _role_names(vera, ws) == {"Viewer"}


def test_another_workspaces_members_answer_404(client, other_ws, ada, ted):
    theirs = ted.memberships.get(workspace=other_ws)
    client.force_login(ada)
    assert (
        client.get(reverse("settings:member-edit", args=[theirs.pk])).status_code == 404
    )
    r = client.post(reverse("settings:member-update", args=[theirs.pk]), {"roles": []})
    assert r.status_code == 404
    assert (
        client.post(reverse("settings:member-remove", args=[theirs.pk])).status_code
        == 404
    )
    assert Membership.objects.filter(pk=theirs.pk).exists()


def test_member_pages_answer_404_for_a_missing_id(client, ada):
    client.force_login(ada)
    assert client.get(reverse("settings:member-edit", args=[99999])).status_code == 404
    assert not ApiKey.objects.exists()


def test_members_page_keeps_the_workspace_switcher_intact(
    client, ws, other_ws, ada, grace
):
    member(other_ws, ada, "User")
    client.force_login(ada)
    html = client.get(reverse("settings:members")).content.decode()
    assert html.count("<option value=") == 2
    assert '<option value="two"' in html
