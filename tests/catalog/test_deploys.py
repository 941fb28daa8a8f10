"""Cortex's deploys API: deploy workflows record deploys of an entity."""

import json

import pytest

from catalog.models import Deploy
from tests.factories import EntityFactory, api_key

CATALOG = "/api/v1/catalog"
DEPLOY = {
    "title": "Release v1.4.0",
    "type": "DEPLOY",
    "timestamp": "2026-12-06T05:00:00Z",
    "sha": "9f2c1e0",
    "environment": "production",
    "url": "https://ci.example.com/runs/7",
    "customData": {"pipeline": {"id": 7}},
    "deployer": {"email": "ada@example.com", "name": "Ada"},
}


@pytest.fixture
def api(client, ws):
    raw = api_key(ws, "Manager")[1]  # EDIT_ENTITIES

    def call(method: str, path: str, body=None, key: str = raw, **params):
        url = CATALOG + path
        if params:
            url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        return getattr(client, method)(
            url,
            data=json.dumps(body) if body is not None else None,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )

    return call


@pytest.fixture
def ledger(ws):
    return EntityFactory(workspace=ws, tag="ledger")


def test_a_deploy_is_recorded_and_listed_newest_first(api, ledger):
    r = api("post", "/ledger/deploys", DEPLOY)
    assert r.status_code == 200, r.content
    first = r.json()
    assert first.pop("uuid")
    assert first == {**DEPLOY, "timestamp": "2026-12-06T05:00:00+00:00"}
    api(
        "post",
        "/ledger/deploys",
        {**DEPLOY, "title": "Later", "timestamp": "2026-12-07T00:00:00Z"},
    )
    body = api("get", "/ledger/deploys").json()
    assert (body["page"], body["total"], body["totalPages"]) == (0, 2, 1)
    assert [d["title"] for d in body["deployments"]] == ["Later", "Release v1.4.0"]
    page = api("get", "/ledger/deploys", page=1, pageSize=1).json()
    assert [d["title"] for d in page["deployments"]] == ["Release v1.4.0"]


def test_only_title_type_and_timestamp_are_needed(api, ledger):
    r = api(
        "post",
        "/ledger/deploys",
        {"title": "Scale up", "type": "SCALE", "timestamp": "2026-12-06T05:00:00"},
    )
    assert r.status_code == 200, r.content
    assert r.json()["sha"] is None and r.json()["deployer"] is None
    assert Deploy.objects.get().timestamp.isoformat() == "2026-12-06T05:00:00+00:00"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"type": "LAUNCH"},
            "type: Input should be 'DEPLOY', 'SCALE', 'ROLLBACK' or 'RESTART'",
        ),
        ({"title": None}, "title:"),
        ({"timestamp": "yesterday"}, "timestamp:"),
        ({"customData": {"bad": "\u0000"}}, "customData"),
        # Valid ISO 8601, but before year 1 or after 9999 once in UTC:
        ({"timestamp": "0001-01-01T00:00:00+05:00"}, "timestamp: the date is out"),
        ({"timestamp": "9999-12-31T23:00:00-05:00"}, "timestamp: the date is out"),
    ],
)
def test_a_bad_deploy_is_refused_naming_the_field_and_nothing_is_stored(
    api, ledger, change, message
):
    r = api("post", "/ledger/deploys", {**DEPLOY, **change})
    assert r.status_code == 400
    assert message in r.json()["message"]
    assert not Deploy.objects.exists()


def test_a_deploy_as_listed_can_be_sent_back_to_update_it(api, ledger):
    """`cortex deploys update-by-uuid -f` takes the JSON `deploys list` printed."""
    uuid = api("post", "/ledger/deploys", DEPLOY).json()["uuid"]
    listed = api("get", "/ledger/deploys").json()["deployments"][0]
    r = api("put", f"/ledger/deploys/{uuid}", {**listed, "title": "Fixed"})
    assert r.status_code == 200, r.content
    assert Deploy.objects.get().title == "Fixed"
    r = api("put", f"/ledger/deploys/{uuid}", {**listed, "titel": "Typo"})
    assert r.status_code == 400
    assert "titel: Extra inputs are not permitted" in r.json()["message"]


def test_a_deploy_is_updated_and_deleted_by_uuid(api, ledger):
    uuid = api("post", "/ledger/deploys", DEPLOY).json()["uuid"]
    r = api(
        "put",
        f"/ledger/deploys/{uuid}",
        {**DEPLOY, "title": "Rolled back", "type": "ROLLBACK"},
    )
    assert r.status_code == 200
    assert (r.json()["uuid"], r.json()["type"]) == (uuid, "ROLLBACK")
    assert api("delete", f"/ledger/deploys/{uuid}").status_code == 200
    assert not Deploy.objects.exists()
    assert api("delete", f"/ledger/deploys/{uuid}").status_code == 404
    assert api("put", "/ledger/deploys/not-a-uuid", DEPLOY).status_code == 404


def test_deleting_deploys_by_filter_keeps_the_others(api, ledger):
    api("post", "/ledger/deploys", DEPLOY)
    api("post", "/ledger/deploys", {**DEPLOY, "environment": "staging"})
    api("post", "/ledger/deploys", {**DEPLOY, "sha": "abc", "environment": "staging"})
    r = api("delete", "/ledger/deploys", environment="staging", sha="abc")
    assert r.json()["message"] == "1 deploys deleted"
    assert Deploy.objects.count() == 2
    api("delete", "/ledger/deploys")
    assert not Deploy.objects.exists()


def test_deploys_need_edit_entities_to_write_and_stay_in_their_workspace(
    api, ws, other_ws, ledger
):
    viewer = api_key(ws, "Viewer")[1]
    assert api("post", "/ledger/deploys", DEPLOY, key=viewer).status_code == 403
    assert api("get", "/ledger/deploys", key=viewer).status_code == 200
    uuid = api("post", "/ledger/deploys", DEPLOY).json()["uuid"]
    EntityFactory(workspace=other_ws, tag="ledger")
    other = api_key(other_ws, "Admin")[1]
    assert api("get", "/ledger/deploys", key=other).json()["total"] == 0
    assert api("delete", f"/ledger/deploys/{uuid}", key=other).status_code == 404
    assert api("post", "/nope/deploys", DEPLOY).status_code == 404
    assert Deploy.objects.count() == 1


def test_the_workspaces_deploys_are_deleted_by_filter_or_all_and_no_others(
    api, ws, other_ws, ledger
):
    EntityFactory(workspace=ws, tag="billing")
    api("post", "/ledger/deploys", {**DEPLOY, "environment": "staging"})
    api("post", "/billing/deploys", {**DEPLOY, "environment": "staging"})
    api("post", "/billing/deploys", DEPLOY)
    EntityFactory(workspace=other_ws, tag="ledger")
    other = api_key(other_ws, "Admin")[1]
    api("post", "/ledger/deploys", {**DEPLOY, "environment": "staging"}, key=other)

    r = api("delete", "/deploys")
    assert r.status_code == 400
    assert "Give sha, environment or type" in r.json()["message"]
    assert api("delete", "/deploys", environment="staging").json() == {
        "message": "2 deploys deleted"
    }
    assert api("delete", "/deploys/all").json() == {"message": "1 deploys deleted"}
    # The other workspace's deploy is still there:
    assert Deploy.objects.get().entity.workspace == other_ws
