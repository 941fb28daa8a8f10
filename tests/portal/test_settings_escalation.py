"""Managing members never hands out more than the manager holds.

A member whose only extra permission is "Manage members and roles" could make
a role with every permission, or give themselves Admin; the QA of 2026-12-06
did both in four requests. Admins, who hold every permission, are unaffected.
"""

import pytest
from django.urls import reverse

from portal.models import Membership, Role
from tests.factories import UserFactory, member


@pytest.fixture
def people_ops(ws, ada):
    """Grace with User plus a custom role that only manages members."""
    role = Role.objects.create(
        workspace=ws, name="People ops", permissions=["MANAGE_MEMBERS"]
    )
    grace = UserFactory(email="grace@example.com")
    member(ws, grace, "User").roles.add(role)
    return grace


def _roles(ws, *names):
    return [r.pk for r in Role.objects.filter(workspace=ws, name__in=names)]


def _role_names(user, ws) -> set[str]:
    return set(user.memberships.get(workspace=ws).roles.values_list("name", flat=True))


def test_a_member_manager_cannot_give_themselves_admin(client, ws, people_ops):
    membership = people_ops.memberships.get(workspace=ws)
    client.force_login(people_ops)
    r = client.post(
        reverse("settings:member-update", args=[membership.pk]),
        {"roles": _roles(ws, "Admin")},
    )
    assert r.status_code == 400
    html = r.content.decode()
    assert "You can&#x27;t give or take away permissions you don&#x27;t have:" in html
    assert "Manage secrets" in html and "Manage workspace API keys" in html
    assert _role_names(people_ops, ws) == {"User", "People ops"}
    assert client.get(reverse("settings:api-keys")).status_code == 403


def test_a_member_manager_cannot_create_a_role_with_permissions_they_lack(
    client, ws, people_ops
):
    client.force_login(people_ops)
    r = client.post(
        reverse("settings:role-add"),
        {"name": "Everything", "permissions": ["MANAGE_MEMBERS", "MANAGE_SECRETS"]},
    )
    assert r.status_code == 400
    assert (
        "You can&#x27;t give a role permissions you don&#x27;t have: Manage secrets."
        in r.content.decode()
    )
    assert not Role.objects.filter(name="Everything").exists()


def test_a_member_manager_cannot_widen_their_own_role(client, ws, people_ops):
    role = Role.objects.get(name="People ops")
    client.force_login(people_ops)
    r = client.post(
        reverse("settings:role-update", args=[role.pk]),
        {"name": "People ops", "permissions": ["MANAGE_MEMBERS", "MANAGE_API_KEYS"]},
    )
    assert r.status_code == 400
    assert "Manage workspace API keys" in r.content.decode()
    role.refresh_from_db()
    assert role.permissions == ["MANAGE_MEMBERS"]


def test_a_member_manager_cannot_add_a_member_as_admin(client, ws, people_ops):
    UserFactory(email="newbie@example.com")
    client.force_login(people_ops)
    r = client.post(
        reverse("settings:member-add"),
        {"email": "newbie@example.com", "roles": _roles(ws, "Admin")},
    )
    assert r.status_code == 400
    assert "You can&#x27;t give a member permissions" in r.content.decode()
    assert not Membership.objects.filter(user__email="newbie@example.com").exists()


def test_a_member_manager_cannot_demote_remove_or_strip_an_admin(
    client, ws, ada, people_ops
):
    admins = Membership.objects.get(workspace=ws, user=ada)
    admin_only = Role.objects.create(
        workspace=ws, name="Secret keepers", permissions=["MANAGE_SECRETS"]
    )
    client.force_login(people_ops)
    r = client.post(
        reverse("settings:member-update", args=[admins.pk]),
        {"roles": _roles(ws, "Viewer")},
    )
    assert r.status_code == 400
    assert _role_names(ada, ws) == {"Admin"}
    r = client.post(reverse("settings:member-remove", args=[admins.pk]), follow=True)
    assert "You can&#x27;t remove a member with permissions" in r.content.decode()
    assert Membership.objects.filter(pk=admins.pk).exists()
    r = client.post(reverse("settings:role-delete", args=[admin_only.pk]), follow=True)
    assert "You can&#x27;t delete a role with permissions" in r.content.decode()
    assert Role.objects.filter(pk=admin_only.pk).exists()


def test_a_member_manager_may_still_hand_out_what_they_hold(client, ws, people_ops):
    vera = UserFactory(email="vera@example.com")
    client.force_login(people_ops)
    r = client.post(
        reverse("settings:member-add"),
        {"email": "vera@example.com", "roles": _roles(ws, "User", "People ops")},
    )
    assert r.status_code == 302
    assert _role_names(vera, ws) == {"User", "People ops"}
    r = client.post(
        reverse("settings:role-add"),
        {"name": "Runner", "permissions": ["EXECUTE_WORKFLOW_RUNS"]},
    )
    assert r.status_code == 302
    # Renaming a role keeps permissions one lacks: nothing is handed out.
    keepers = Role.objects.create(
        workspace=ws, name="Keepers", permissions=["MANAGE_SECRETS"]
    )
    r = client.post(
        reverse("settings:role-update", args=[keepers.pk]),
        {"name": "Secret keepers", "permissions": ["MANAGE_SECRETS"]},
    )
    assert r.status_code == 302
    keepers.refresh_from_db()
    assert keepers.name == "Secret keepers"
