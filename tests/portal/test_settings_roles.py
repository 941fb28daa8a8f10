"""Settings: built-in and custom roles."""

from django.urls import reverse

from portal.models import Role
from tests.factories import UserFactory, api_key, member


def _custom(ws, name="Auditor", permissions=("VIEW_WORKFLOWS",)):
    return Role.objects.create(workspace=ws, name=name, permissions=list(permissions))


def test_roles_page_shows_builtin_roles_read_only_with_their_permissions(
    client, ws, ada
):
    admin = ws.roles.get(name="Admin")
    client.force_login(ada)
    html = client.get(reverse("settings:roles")).content.decode()
    assert "Manage members and roles" in html and "View workflow runs" in html
    assert reverse("settings:role-edit", args=[admin.pk]) not in html
    assert reverse("settings:role-delete", args=[admin.pk]) not in html


def test_builtin_roles_have_no_edit_or_delete(client, ws, ada):
    admin = ws.roles.get(name="Admin")
    client.force_login(ada)
    assert client.get(reverse("settings:role-edit", args=[admin.pk])).status_code == 404
    r = client.post(
        reverse("settings:role-update", args=[admin.pk]),
        {"name": "Admin", "permissions": ["VIEW_WORKFLOWS"]},
    )
    assert r.status_code == 404
    assert (
        client.post(reverse("settings:role-delete", args=[admin.pk])).status_code == 404
    )
    admin.refresh_from_db()
    assert "MANAGE_MEMBERS" in admin.permissions


def test_admin_creates_a_custom_role_with_permissions(client, ws, ada):
    client.force_login(ada)
    r = client.post(
        reverse("settings:role-add"),
        {
            "name": "Release manager",
            "permissions": ["EXECUTE_WORKFLOW_RUNS", "VIEW_WORKFLOWS"],
        },
    )
    assert r.status_code == 302
    role = ws.roles.get(name="Release manager")
    assert role.permissions == ["EXECUTE_WORKFLOW_RUNS", "VIEW_WORKFLOWS"]
    assert not role.is_builtin


def test_role_names_are_unique_whatever_their_case(client, ws, ada):
    client.force_login(ada)
    r = client.post(
        reverse("settings:role-add"),
        {"name": "aDMIN", "permissions": ["VIEW_WORKFLOWS"]},
    )
    assert r.status_code == 400
    assert "The role “Admin” already exists" in r.content.decode()
    assert ws.roles.count() == 4


def test_the_same_role_name_may_exist_in_another_workspace(client, ws, other_ws, ada):
    _custom(other_ws, "Auditor")
    client.force_login(ada)
    r = client.post(
        reverse("settings:role-add"),
        {"name": "auditor", "permissions": ["VIEW_WORKFLOWS"]},
    )
    assert r.status_code == 302
    assert ws.roles.filter(name="auditor").exists()


def test_a_role_needs_a_name_and_a_permission(client, ws, ada):
    client.force_login(ada)
    r = client.post(reverse("settings:role-add"), {"name": "", "permissions": []})
    html = r.content.decode()
    assert r.status_code == 400
    assert "This field is required." in html
    assert "Choose at least one permission." in html
    r = client.post(reverse("settings:role-add"), {"name": "X", "permissions": ["FLY"]})
    assert r.status_code == 400
    assert ws.roles.count() == 4


def test_admin_edits_a_custom_role(client, ws, ada):
    role = _custom(ws)
    client.force_login(ada)
    page = client.get(reverse("settings:role-edit", args=[role.pk]))
    assert page.status_code == 200
    assert 'value="Auditor"' in page.content.decode()
    r = client.post(
        reverse("settings:role-update", args=[role.pk]),
        {"name": "auditor", "permissions": ["VIEW_WORKFLOW_RUNS"]},
    )
    assert r.status_code == 302
    role.refresh_from_db()
    assert (role.name, role.permissions) == ("auditor", ["VIEW_WORKFLOW_RUNS"])


def test_renaming_a_role_to_a_taken_name_is_refused(client, ws, ada):
    role = _custom(ws)
    client.force_login(ada)
    r = client.post(
        reverse("settings:role-update", args=[role.pk]),
        {"name": "viewer", "permissions": ["VIEW_WORKFLOWS"]},
    )
    assert r.status_code == 400
    assert "The role “Viewer” already exists" in r.content.decode()
    role.refresh_from_db()
    assert role.name == "Auditor"


def test_deleting_a_role_in_use_takes_it_from_members_and_keys(client, ws, ada, grace):
    role = _custom(ws)
    grace.memberships.get(workspace=ws).roles.add(role)
    key, _ = api_key(ws, "Viewer")
    key.roles.add(role)
    client.force_login(ada)
    r = client.post(reverse("settings:role-delete", args=[role.pk]), follow=True)
    assert (
        "Role “Auditor” deleted. 1 member and 1 API key no longer have it."
        in r.content.decode()
    )
    assert not Role.objects.filter(pk=role.pk).exists()
    assert set(
        grace.memberships.get(workspace=ws).roles.values_list("name", flat=True)
    ) == {"User"}


def test_a_custom_role_that_is_the_only_way_to_manage_members_stays(client, ws):
    owners = _custom(ws, "Owners", ["MANAGE_MEMBERS"])
    boss = UserFactory(email="boss@example.com")
    member(ws, boss, "Viewer").roles.add(owners)
    client.force_login(boss)
    r = client.post(reverse("settings:role-delete", args=[owners.pk]), follow=True)
    assert "must keep at least one member who can manage members" in r.content.decode()
    assert Role.objects.filter(pk=owners.pk).exists()
    r = client.post(
        reverse("settings:role-update", args=[owners.pk]),
        {"name": "Owners", "permissions": ["VIEW_WORKFLOWS"]},
    )
    assert r.status_code == 400
    owners.refresh_from_db()
    assert owners.permissions == ["MANAGE_MEMBERS"]


def test_managers_and_users_cannot_manage_roles(client, ws, mona, grace, vera):
    role = _custom(ws)
    for person in (mona, grace, vera):
        client.force_login(person)
        assert client.get(reverse("settings:roles")).status_code == 403
        assert (
            client.get(reverse("settings:role-edit", args=[role.pk])).status_code == 403
        )
        data = {"name": "Hacked", "permissions": ["MANAGE_MEMBERS"]}
        assert client.post(reverse("settings:role-add"), data).status_code == 403
        assert (
            client.post(
                reverse("settings:role-update", args=[role.pk]), data
            ).status_code
            == 403
        )
        assert (
            client.post(reverse("settings:role-delete", args=[role.pk])).status_code
            == 403
        )
    role.refresh_from_db()
    assert role.name == "Auditor"
    assert ws.roles.count() == 5


def test_another_workspaces_roles_answer_404(client, other_ws, ada):
    theirs = _custom(other_ws)
    client.force_login(ada)
    assert (
        client.get(reverse("settings:role-edit", args=[theirs.pk])).status_code == 404
    )
    r = client.post(
        reverse("settings:role-update", args=[theirs.pk]),
        {"name": "Mine", "permissions": ["VIEW_WORKFLOWS"]},
    )
    assert r.status_code == 404
    assert (
        client.post(reverse("settings:role-delete", args=[theirs.pk])).status_code
        == 404
    )
    assert Role.objects.get(pk=theirs.pk).name == "Auditor"


def test_roles_page_query_count_does_not_grow_with_rows(
    client, ws, ada, django_assert_max_num_queries
):
    for i in range(25):
        role = _custom(ws, f"Role {i}")
        member(ws, UserFactory(), "User").roles.add(role)
    client.force_login(ada)
    with django_assert_max_num_queries(10):
        r = client.get(reverse("settings:roles"))
    assert r.content.decode().count("Delete role") == 25
