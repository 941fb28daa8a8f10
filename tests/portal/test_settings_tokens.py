"""Settings: personal access tokens, which every member manages for themselves."""

import re

import pytest
from django.urls import reverse

from portal.models import ApiKey, hash_key
from tests.factories import api_key, member


def _raw_keys(html: str) -> list[str]:
    return re.findall(r"cairn_[A-Za-z0-9_-]{20,}", html)


@pytest.mark.parametrize("person", ["ada", "mona", "grace", "vera"])
def test_every_member_creates_a_token_shown_exactly_once(client, request, ws, person):
    user = request.getfixturevalue(person)
    client.force_login(user)
    r = client.post(reverse("settings:token-add"), {"name": "Laptop CLI"})
    assert r.status_code == 200
    html = r.content.decode()
    [raw] = _raw_keys(html)
    assert html.count(raw) == 1
    token = ApiKey.objects.get(workspace=ws, user=user)
    assert token.key_hash == hash_key(raw)
    assert token.name == "Laptop CLI" and not token.roles.exists()
    assert raw not in client.get(reverse("settings:tokens")).content.decode()


def test_refreshing_the_token_created_page_makes_no_second_token(client, ws, vera):
    client.force_login(vera)
    page = client.get(reverse("settings:tokens")).content.decode()
    [once] = re.findall(r'name="once" value="([0-9a-f]{32})"', page)
    form = {"name": "Laptop CLI", "once": once}
    client.post(reverse("settings:token-add"), form)

    html = client.post(reverse("settings:token-add"), form).content.decode()

    assert _raw_keys(html) == []
    assert "This token was already shown and can't be shown again." in html
    assert ApiKey.objects.filter(workspace=ws, user=vera).count() == 1


def test_another_members_sent_form_shows_no_token_of_theirs(client, ws, vera, grace):
    """The sent forms are remembered per session: another member can't replay one."""
    client.force_login(vera)
    page = client.get(reverse("settings:tokens")).content.decode()
    [once] = re.findall(r'name="once" value="([0-9a-f]{32})"', page)
    client.post(reverse("settings:token-add"), {"name": "Laptop CLI", "once": once})
    client.force_login(grace)  # a new session
    r = client.post(reverse("settings:token-add"), {"name": "Mine", "once": once})
    assert len(_raw_keys(r.content.decode())) == 1
    assert ApiKey.objects.get(workspace=ws, user=grace).name == "Mine"


def test_a_token_needs_a_name(client, ws, vera):
    client.force_login(vera)
    r = client.post(reverse("settings:token-add"), {"name": "  "})
    assert r.status_code == 400
    assert "This field is required." in r.content.decode()
    assert not ApiKey.objects.exists()


def test_tokens_page_lists_only_your_tokens_in_this_workspace(
    client, ws, other_ws, grace, vera
):
    member(other_ws, grace, "User")
    api_key(ws, user=grace, name="Grace here")
    api_key(other_ws, user=grace, name="Grace elsewhere")
    api_key(ws, user=vera, name="Vera here")
    api_key(ws, "Admin", name="Workspace key")
    client.force_login(grace)
    html = client.get(reverse("settings:tokens")).content.decode()
    assert "Grace here" in html
    for other in ("Grace elsewhere", "Vera here", "Workspace key"):
        assert other not in html


def test_a_member_revokes_their_own_token(client, ws, vera):
    token, _ = api_key(ws, user=vera, name="Laptop")
    client.force_login(vera)
    r = client.post(reverse("settings:token-revoke", args=[token.pk]), follow=True)
    assert "Token “Laptop” revoked." in r.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_another_members_token_answers_404_even_to_an_admin(client, ws, ada, grace):
    token, _ = api_key(ws, user=grace)
    client.force_login(ada)
    assert (
        client.post(reverse("settings:token-revoke", args=[token.pk])).status_code
        == 404
    )
    token.refresh_from_db()
    assert token.revoked_at is None


def test_workspace_keys_cannot_be_revoked_as_tokens(client, ws, ada):
    key, _ = api_key(ws, "Admin")
    client.force_login(ada)
    assert (
        client.post(reverse("settings:token-revoke", args=[key.pk])).status_code == 404
    )
    key.refresh_from_db()
    assert key.revoked_at is None


def test_your_token_in_another_workspace_answers_404(client, ws, other_ws, grace):
    member(other_ws, grace, "User")
    elsewhere, _ = api_key(other_ws, user=grace)
    client.force_login(grace)  # the current workspace is `one`, which she joined first
    assert (
        client.post(reverse("settings:token-revoke", args=[elsewhere.pk])).status_code
        == 404
    )
    elsewhere.refresh_from_db()
    assert elsewhere.revoked_at is None


def test_tokens_page_query_count_does_not_grow_with_rows(
    client, ws, vera, django_assert_max_num_queries
):
    for i in range(30):
        api_key(ws, user=vera, name=f"Token {i}")
    client.force_login(vera)
    with django_assert_max_num_queries(8):
        r = client.get(reverse("settings:tokens"))
    assert r.content.decode().count("Revoke Token") == 30
