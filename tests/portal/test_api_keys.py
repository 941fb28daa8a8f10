from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from portal.api import ApiKeyAuth
from portal.models import ApiKey, Membership, hash_key
from portal.permissions import BUILTIN_ROLES
from portal.services import api_key_create, api_key_revoke
from tests.factories import EntityFactory, api_key

CATALOG = "/api/v1/catalog"


def get(client, raw: str, url: str = CATALOG, **extra):
    return client.get(url, HTTP_AUTHORIZATION=f"Bearer {raw}", **extra)


def test_api_key_create_makes_a_workspace_key_that_stores_only_the_hash(ws, ada):
    key, raw = api_key_create(
        workspace=ws, name="ci", roles=[ws.roles.get(name="User")], created_by=ada
    )
    assert key.key_hash == hash_key(raw) and raw not in (key.key_hash, key.prefix)
    assert raw.startswith(key.prefix)
    assert not key.is_personal and key.created_by == ada
    assert [r.name for r in key.roles.all()] == ["User"]


def test_api_key_create_makes_a_personal_token_that_acts_as_its_user(ws, grace):
    key, raw = api_key_create(workspace=ws, name="laptop", user=grace)
    assert key.is_personal and key.user == grace and key.created_by == grace
    assert not key.roles.exists()


@pytest.mark.parametrize("with_roles", [True, False], ids=["both", "neither"])
def test_api_key_create_wants_roles_or_a_user_but_not_both(ws, grace, with_roles):
    roles = [ws.roles.get(name="User")] if with_roles else []
    with pytest.raises(ValueError):
        api_key_create(
            workspace=ws, name="x", roles=roles, user=grace if with_roles else None
        )


def test_two_keys_never_share_a_secret(ws):
    raws = {api_key(ws)[1] for _ in range(20)}
    assert len(raws) == 20


def test_a_revoked_key_stops_working(client, ws):
    key, raw = api_key(ws, "Viewer")
    assert get(client, raw).status_code == 200
    api_key_revoke(key=key)
    r = get(client, raw)
    assert r.status_code == 401
    assert r.json()["message"] == "This API key was revoked"
    key.refresh_from_db()
    assert key.revoked_at is not None and not key.is_active


def test_revoking_twice_keeps_the_first_revocation_time(ws):
    key, _ = api_key(ws)
    api_key_revoke(key=key)
    first = ApiKey.objects.get(pk=key.pk).revoked_at
    api_key_revoke(key=key)
    assert ApiKey.objects.get(pk=key.pk).revoked_at == first


def test_using_a_key_records_when_it_was_last_used(client, ws):
    key, raw = api_key(ws)
    assert key.last_used_at is None
    before = timezone.now()
    get(client, raw)
    key.refresh_from_db()
    assert key.last_used_at is not None and key.last_used_at >= before


def test_last_used_is_written_at_most_once_a_minute(client, ws):
    key, raw = api_key(ws)
    recent = timezone.now() - timedelta(seconds=10)
    stale = timezone.now() - timedelta(minutes=5)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=recent)
    get(client, raw)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == recent
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=stale)
    get(client, raw)
    assert ApiKey.objects.get(pk=key.pk).last_used_at > stale


def test_a_rejected_key_is_not_recorded_as_used(client, ws, grace):
    key, raw = api_key(ws, user=grace)
    Membership.objects.filter(workspace=ws, user=grace).delete()
    get(client, raw)
    assert ApiKey.objects.get(pk=key.pk).last_used_at is None


def test_a_workspace_key_has_the_permissions_of_its_roles_and_no_user(ws):
    key, raw = api_key(ws, "Viewer", "User")
    request = RequestFactory().get(CATALOG)
    principal = ApiKeyAuth().authenticate(request, raw)
    assert (
        principal.workspace == ws
        and principal.user is None
        and principal.api_key == key
    )
    assert principal.permissions == BUILTIN_ROLES["User"]


def test_a_personal_access_token_acts_as_its_user_with_their_roles(ws, grace):
    _, raw = api_key(ws, user=grace)
    principal = ApiKeyAuth().authenticate(RequestFactory().get(CATALOG), raw)
    assert principal.user == grace
    assert principal.permissions == BUILTIN_ROLES["User"]


def test_a_personal_access_token_stops_working_once_its_user_leaves_the_workspace(
    client, ws, grace
):
    EntityFactory(workspace=ws, tag="ledger")
    _, raw = api_key(ws, user=grace)
    assert [e["tag"] for e in get(client, raw).json()["entities"]] == ["ledger"]
    Membership.objects.filter(workspace=ws, user=grace).delete()
    r = get(client, raw)
    assert r.status_code == 401
    assert r.json()["message"] == (
        "This personal access token's owner is no longer an active member of its"
        " workspace"
    )


def test_a_personal_access_token_of_a_deactivated_user_stops_working(client, ws, grace):
    _, raw = api_key(ws, user=grace)
    grace.is_active = False
    grace.save()
    assert get(client, raw).status_code == 401


def test_a_personal_access_token_follows_its_users_current_roles(ws, grace):
    _, raw = api_key(ws, user=grace)
    membership = Membership.objects.get(workspace=ws, user=grace)
    membership.roles.set([ws.roles.get(name="Admin")])
    principal = ApiKeyAuth().authenticate(RequestFactory().get(CATALOG), raw)
    assert principal.permissions == BUILTIN_ROLES["Admin"]
