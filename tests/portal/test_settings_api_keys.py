"""Settings: workspace API keys (shown once, stored hashed, revocable)."""

import hashlib
import re

from django.urls import reverse
from django.utils import timezone

from portal.models import ApiKey, Role, hash_key
from tests.factories import api_key


def _roles(ws, *names):
    return [r.pk for r in Role.objects.filter(workspace=ws, name__in=names)]


def _raw_keys(html: str) -> list[str]:
    return re.findall(r"cairn_[A-Za-z0-9_-]{20,}", html)


def test_admin_creates_a_key_and_sees_it_exactly_once(client, ws, ada):
    client.force_login(ada)
    r = client.post(
        reverse("settings:api-key-add"),
        {"name": "CI", "description": "GitHub Actions", "roles": _roles(ws, "User")},
    )
    assert r.status_code == 200
    html = r.content.decode()
    [raw] = _raw_keys(html)
    assert html.count(raw) == 1
    assert "Copy it now." in html
    assert "no-store" in r["Cache-Control"]
    key = ApiKey.objects.get(workspace=ws, name="CI")
    assert key.key_hash == hash_key(raw) == hashlib.sha256(raw.encode()).hexdigest()
    assert raw.startswith(key.prefix) and len(key.prefix) < len(raw)
    assert (key.description, key.created_by, key.user) == ("GitHub Actions", ada, None)
    assert [r.name for r in key.roles.all()] == ["User"]


def test_the_raw_key_is_not_kept_anywhere_after_the_response(client, ws, ada):
    client.force_login(ada)
    r = client.post(
        reverse("settings:api-key-add"), {"name": "CI", "roles": _roles(ws, "User")}
    )
    [raw] = _raw_keys(r.content.decode())
    assert raw not in str(dict(client.session))
    assert raw not in client.get(reverse("settings:api-keys")).content.decode()
    assert not ApiKey.objects.filter(key_hash=raw).exists()
    assert not ApiKey.objects.filter(prefix=raw).exists()


def test_refreshing_the_key_created_page_makes_no_second_key(client, ws, ada):
    """A refresh sends the form again: it made a second key, silently."""
    client.force_login(ada)
    page = client.get(reverse("settings:api-keys")).content.decode()
    [once] = re.findall(r'name="once" value="([0-9a-f]{32})"', page)
    form = {"name": "CI", "roles": _roles(ws, "User"), "once": once}
    first = client.post(reverse("settings:api-key-add"), form)
    [raw] = _raw_keys(first.content.decode())

    again = client.post(reverse("settings:api-key-add"), form)

    assert again.status_code == 200
    html = again.content.decode()
    assert _raw_keys(html) == []
    assert "This API key was already shown and can't be shown again." in html
    assert "No new API key was created." in html
    assert ApiKey.objects.filter(workspace=ws).count() == 1
    assert raw not in str(dict(client.session))
    # The next form, freshly loaded, makes a key again:
    page = client.get(reverse("settings:api-keys")).content.decode()
    [fresh] = re.findall(r'name="once" value="([0-9a-f]{32})"', page)
    assert fresh != once
    client.post(reverse("settings:api-key-add"), {**form, "once": fresh, "name": "CD"})
    assert ApiKey.objects.filter(workspace=ws).count() == 2


def test_a_key_needs_a_name_and_a_role(client, ws, ada):
    client.force_login(ada)
    r = client.post(reverse("settings:api-key-add"), {"name": "", "roles": []})
    html = r.content.decode()
    assert r.status_code == 400
    assert "This field is required." in html and "Choose at least one role." in html
    assert _raw_keys(html) == []
    assert not ApiKey.objects.exists()


def test_a_key_cannot_have_another_workspaces_roles(client, ws, other_ws, ada):
    client.force_login(ada)
    r = client.post(
        reverse("settings:api-key-add"),
        {"name": "CI", "roles": _roles(other_ws, "Admin")},
    )
    assert r.status_code == 400
    assert "Select a valid choice." in r.content.decode()
    assert not ApiKey.objects.exists()


def test_a_key_cannot_have_more_permissions_than_its_creator(client, ws, grace):
    keymaster = Role.objects.create(
        workspace=ws, name="Key master", permissions=["MANAGE_API_KEYS"]
    )
    grace.memberships.get(workspace=ws).roles.add(keymaster)
    client.force_login(grace)
    r = client.post(
        reverse("settings:api-key-add"), {"name": "CI", "roles": _roles(ws, "Admin")}
    )
    assert r.status_code == 400
    assert (
        "You can&#x27;t give a key permissions you don&#x27;t have"
        in r.content.decode()
    )
    assert not ApiKey.objects.exists()
    r = client.post(
        reverse("settings:api-key-add"), {"name": "CI", "roles": _roles(ws, "User")}
    )
    assert r.status_code == 200


def test_a_key_with_more_permissions_than_its_revoker_is_not_revoked(client, ws, grace):
    keymaster = Role.objects.create(
        workspace=ws, name="Key master", permissions=["MANAGE_API_KEYS"]
    )
    grace.memberships.get(workspace=ws).roles.add(keymaster)
    admin_key, _ = api_key(ws, "Admin", name="Deploy bot")
    user_key, _ = api_key(ws, "User", name="CI")
    client.force_login(grace)
    page = client.get(reverse("settings:api-keys")).content.decode()
    assert reverse("settings:api-key-revoke", args=[admin_key.pk]) not in page
    assert reverse("settings:api-key-revoke", args=[user_key.pk]) in page
    r = client.post(
        reverse("settings:api-key-revoke", args=[admin_key.pk]), follow=True
    )
    assert (
        "You can&#x27;t revoke a key with permissions you don&#x27;t have"
        in r.content.decode()
    )
    admin_key.refresh_from_db()
    assert admin_key.is_active
    client.post(reverse("settings:api-key-revoke", args=[user_key.pk]))
    user_key.refresh_from_db()
    assert not user_key.is_active


def test_keys_page_lists_workspace_keys_but_not_personal_tokens(
    client, ws, other_ws, ada, grace
):
    deploy, _ = api_key(ws, "Manager", name="Deploy bot")
    api_key(ws, user=grace, name="Grace laptop")
    api_key(other_ws, "Admin", name="Rocket bot")
    deploy.last_used_at = timezone.now()
    deploy.created_by = ada
    deploy.save()
    api_key(ws, "User", name="Unused bot")
    client.force_login(ada)
    html = client.get(reverse("settings:api-keys")).content.decode()
    assert "Deploy bot" in html and "Unused bot" in html
    assert "Grace laptop" not in html and "Rocket bot" not in html
    assert f"<code>{deploy.prefix}…</code>" in html
    assert "by ada@example.com" in html
    assert ">never<" in html
    assert "Manager" in html


def test_admin_revokes_a_key(client, ws, ada):
    key, _ = api_key(ws, "User", name="CI")
    client.force_login(ada)
    r = client.post(reverse("settings:api-key-revoke", args=[key.pk]), follow=True)
    html = r.content.decode()
    assert "API key “CI” revoked." in html
    assert "Revoked" in html
    assert reverse("settings:api-key-revoke", args=[key.pk]) not in html
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_revoking_needs_post(client, ws, ada):
    key, _ = api_key(ws, "User")
    client.force_login(ada)
    assert (
        client.get(reverse("settings:api-key-revoke", args=[key.pk])).status_code == 405
    )
    key.refresh_from_db()
    assert key.revoked_at is None


def test_personal_tokens_cannot_be_revoked_from_the_keys_page(client, ws, ada, grace):
    token, _ = api_key(ws, user=grace)
    client.force_login(ada)
    assert (
        client.post(reverse("settings:api-key-revoke", args=[token.pk])).status_code
        == 404
    )
    token.refresh_from_db()
    assert token.revoked_at is None


def test_another_workspaces_keys_answer_404(client, other_ws, ada):
    theirs, _ = api_key(other_ws, "Admin")
    client.force_login(ada)
    assert (
        client.post(reverse("settings:api-key-revoke", args=[theirs.pk])).status_code
        == 404
    )
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_managers_users_and_viewers_cannot_manage_keys(client, ws, mona, grace, vera):
    key, _ = api_key(ws, "User")
    for person in (mona, grace, vera):
        client.force_login(person)
        assert client.get(reverse("settings:api-keys")).status_code == 403
        r = client.post(
            reverse("settings:api-key-add"),
            {"name": "Mine", "roles": _roles(ws, "Viewer")},
        )
        assert r.status_code == 403
        assert _raw_keys(r.content.decode()) == []
        assert (
            client.post(reverse("settings:api-key-revoke", args=[key.pk])).status_code
            == 403
        )
    assert ApiKey.objects.count() == 1
    key.refresh_from_db()
    assert key.revoked_at is None


def test_keys_page_query_count_does_not_grow_with_rows(
    client, ws, ada, django_assert_max_num_queries
):
    for i in range(30):
        key, _ = api_key(ws, "User", "Viewer", name=f"Key {i}")
        key.created_by = ada
        key.save()
    client.force_login(ada)
    with django_assert_max_num_queries(10):
        r = client.get(reverse("settings:api-keys"))
    assert r.content.decode().count("by ada@example.com") == 30
