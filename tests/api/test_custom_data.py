"""Custom data set through the API, as Cortex's custom data endpoints (and
`cortex custom-data add/delete/bulk`) do: POST/DELETE
/catalog/{tag}/custom-data, the bulk PUT /catalog/custom-data, and the
"advanced" forms that take the tag in the query."""

import threading

import pytest
import yaml
from django.db import connection  # noqa: F401 - postgresql_only's condition reads it
from django.db.models import QuerySet
from django.test import Client

from catalog.models import Entity
from tests.api.conftest import Api
from tests.factories import EntityFactory, api_key
from tests.workflows.test_early_callbacks import in_threads, postgresql_only

OPENAPI = "application/openapi;charset=UTF-8"
LEDGER = """
openapi: 3.0.1
info:
  title: Ledger
  x-cortex-tag: ledger
  x-cortex-custom-metadata: {tier: 1}
"""


def keys(api, tag="ledger") -> dict:
    return {
        item["key"]: (item["value"], item["source"])
        for item in api.get(f"/catalog/{tag}/custom-data").json()
    }


def test_a_key_added_through_the_api_is_listed_beside_the_descriptors(admin_api, ws):
    admin_api.post("/open-api", LEDGER, content_type=OPENAPI)
    r = admin_api.post(
        "/catalog/ledger/custom-data?force=False",
        {"key": "build", "value": {"ok": True}, "description": "Last build"},
    )
    assert r.status_code == 200, r.content
    added = r.json()
    assert (added["key"], added["value"], added["source"]) == (
        "build",
        {"ok": True},
        "API",
    )
    assert added["description"] == "Last build" and added["dateUpdated"]
    assert keys(admin_api) == {"build": ({"ok": True}, "API"), "tier": (1, "YAML")}
    assert admin_api.get("/catalog/ledger/custom-data/build").json() == added
    # Setting it again replaces its value:
    admin_api.post("/catalog/ledger/custom-data", {"key": "build", "value": 2})
    assert keys(admin_api)["build"] == (2, "API")


def test_a_key_as_got_can_be_sent_back_to_set_it_again(admin_api, ws):
    """`cortex custom-data add -f` takes the JSON `custom-data get` printed."""
    admin_api.post("/open-api", LEDGER, content_type=OPENAPI)
    admin_api.post("/catalog/ledger/custom-data", {"key": "build", "value": 1})
    got = admin_api.get("/catalog/ledger/custom-data/build").json()
    r = admin_api.post("/catalog/ledger/custom-data", {**got, "value": 2})
    assert r.status_code == 200, r.content
    assert keys(admin_api)["build"] == (2, "API")


def test_a_key_the_descriptor_defines_needs_force_and_lasts_until_the_next_import(
    admin_api, ws
):
    admin_api.post("/open-api", LEDGER, content_type=OPENAPI)
    admin_api.post("/catalog/ledger/custom-data", {"key": "build", "value": 7})
    r = admin_api.post("/catalog/ledger/custom-data", {"key": "tier", "value": 3})
    assert r.status_code == 409
    assert r.json()["message"] == (
        "Entity ledger's descriptor defines custom data key 'tier'; pass"
        " force=true to override it (until the descriptor is imported again)"
    )
    assert keys(admin_api)["tier"] == (1, "YAML")

    r = admin_api.post(
        "/catalog/ledger/custom-data?force=true", {"key": "tier", "value": 3}
    )
    assert r.status_code == 200, r.content
    assert keys(admin_api)["tier"] == (3, "API")

    # Importing the descriptor again brings its value back; other keys stay.
    admin_api.post("/open-api", LEDGER, content_type=OPENAPI)
    assert keys(admin_api) == {"build": (7, "API"), "tier": (1, "YAML")}


def test_deleting_a_key_takes_it_away_and_a_descriptors_key_needs_force(admin_api, ws):
    admin_api.post("/open-api", LEDGER, content_type=OPENAPI)
    admin_api.post("/catalog/ledger/custom-data", {"key": "build", "value": 7})
    r = admin_api.delete("/catalog/ledger/custom-data", params={"key": "build"})
    assert r.status_code == 200, r.content
    assert keys(admin_api) == {"tier": (1, "YAML")}

    r = admin_api.delete("/catalog/ledger/custom-data", params={"key": "tier"})
    assert (
        r.status_code == 409 and "pass force=true to delete it" in r.json()["message"]
    )
    assert keys(admin_api) == {"tier": (1, "YAML")}

    r = admin_api.delete(
        "/catalog/ledger/custom-data", params={"key": "tier", "force": "True"}
    )
    assert r.status_code == 200, r.content
    assert keys(admin_api) == {}
    exported = admin_api.get("/catalog/ledger/openapi", {"yaml": "true"}).content
    assert yaml.safe_load(exported)["info"]["x-cortex-custom-metadata"] == {}

    r = admin_api.delete("/catalog/ledger/custom-data", params={"key": "tier"})
    assert r.status_code == 404
    assert r.json()["message"] == "Custom data not found for entity ledger and key tier"
    r = admin_api.delete("/catalog/ledger/custom-data")
    assert r.status_code == 400 and "key" in r.json()["message"]


def test_bulk_sets_the_keys_of_several_entities(admin_api, ws):
    admin_api.post("/open-api", LEDGER, content_type=OPENAPI)
    EntityFactory(workspace=ws, tag="payments-api")
    body = {
        "values": {
            "ledger": [{"key": "build", "value": 1}, {"key": "owner", "value": "ops"}],
            "payments-api": [{"key": "build", "value": {"nested": "object"}}],
        }
    }
    r = admin_api.put("/catalog/custom-data?force=False", body)
    assert r.status_code == 200, r.content
    assert [item["key"] for item in r.json()["values"]["ledger"]] == ["build", "owner"]
    assert keys(admin_api) == {
        "build": (1, "API"),
        "owner": ("ops", "API"),
        "tier": (1, "YAML"),
    }
    assert keys(admin_api, "payments-api") == {"build": ({"nested": "object"}, "API")}


def test_bulk_stores_nothing_when_one_entity_or_key_is_wrong(admin_api, ws):
    admin_api.post("/open-api", LEDGER, content_type=OPENAPI)
    EntityFactory(workspace=ws, tag="payments-api")
    good = [{"key": "build", "value": 1}]
    cases = [
        ({"ledger": good, "nope": good}, 404, "could not find entity with tag: nope"),
        (
            {"payments-api": good, "ledger": [{"key": "tier", "value": 2}]},
            409,
            "Entity ledger's descriptor defines custom data key 'tier'",
        ),
        (
            {"ledger": [*good, {"key": "  ", "value": 2}]},
            400,
            "values.ledger[1].key must not be blank",
        ),
    ]
    for values, status, message in cases:
        r = admin_api.put("/catalog/custom-data", {"values": values})
        assert r.status_code == status, r.content
        assert message in r.json()["message"]
    assert not Entity.objects.exclude(custom_data={}).exists()
    r = admin_api.put("/catalog/custom-data", {"values": {"ledger": [{"key": "x"}]}})
    assert r.status_code == 400 and "value" in r.json()["message"]


def test_the_advanced_forms_take_the_tag_and_key_in_the_query(admin_api, ws):
    """For keys a path can't hold, such as one with a slash."""
    admin_api.post("/open-api", LEDGER, content_type=OPENAPI)
    r = admin_api.post(
        "/catalog/custom-data?tag=ledger", {"key": "ci/cd", "value": "jenkins"}
    )
    assert r.status_code == 200, r.content
    one = admin_api.get("/catalog/custom-data", {"tag": "ledger", "key": "ci/cd"})
    assert one.json()["value"] == "jenkins"
    every = admin_api.get("/catalog/custom-data", {"tag": "ledger"}).json()
    assert [item["key"] for item in every] == ["ci/cd", "tier"]
    r = admin_api.delete(
        "/catalog/custom-data", params={"tag": "ledger", "key": "ci/cd"}
    )
    assert r.status_code == 200, r.content
    assert keys(admin_api) == {"tier": (1, "YAML")}
    r = admin_api.get("/catalog/custom-data", {"tag": "nope"})
    assert r.status_code == 404


def test_changing_custom_data_needs_edit_entities_and_stays_in_the_workspace(
    ws, other_ws, as_key
):
    EntityFactory(workspace=ws, tag="ledger", custom_data={"kept": {"value": 1}})
    viewer = as_key(api_key(ws, "Viewer")[1])
    outsider = as_key(api_key(other_ws, "Admin")[1])
    item = {"key": "build", "value": 1}
    assert viewer.post("/catalog/ledger/custom-data", item).status_code == 403
    assert (
        viewer.put("/catalog/custom-data", {"values": {"ledger": [item]}}).status_code
        == 403
    )
    r = viewer.delete("/catalog/ledger/custom-data", params={"key": "kept"})
    assert r.status_code == 403
    assert outsider.post("/catalog/ledger/custom-data", item).status_code == 404
    r = outsider.put("/catalog/custom-data", {"values": {"ledger": [item]}})
    assert r.status_code == 404
    r = outsider.delete("/catalog/ledger/custom-data", params={"key": "kept"})
    assert r.status_code == 404
    assert outsider.get("/catalog/custom-data", {"tag": "ledger"}).status_code == 404
    assert Entity.objects.get(tag="ledger").custom_data == {"kept": {"value": 1}}


def test_custom_data_is_no_entitys_tag(admin_api, ws):
    text = LEDGER.replace("x-cortex-tag: ledger", "x-cortex-tag: custom-data")
    r = admin_api.post("/open-api", text, content_type=OPENAPI)
    assert r.status_code == 400
    assert "'custom-data' is reserved" in r.json()["message"]
    assert not Entity.objects.exists()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_bulk_sets_naming_the_same_entities_in_another_order_both_succeed(
    ws, monkeypatch
):
    """Each locks its entities in id order, not in the body's: no deadlock."""
    EntityFactory(workspace=ws, tag="alpha")
    EntityFactory(workspace=ws, tag="beta")
    raw = api_key(ws, "Admin")[1]
    both_inside = threading.Barrier(2, timeout=3)
    select_for_update = QuerySet.select_for_update

    def slow(self, *args, **kwargs):
        try:  # both have read their bodies before either locks
            both_inside.wait()
        except threading.BrokenBarrierError:
            pass
        return select_for_update(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "select_for_update", slow)
    answers = []

    def bulk(name, order):
        values = {tag: [{"key": "owner", "value": name}] for tag in order}
        r = Api(Client(), raw).put("/catalog/custom-data", {"values": values})
        answers.append(r.status_code)

    errors = in_threads(
        lambda: bulk("one", ["alpha", "beta"]), lambda: bulk("two", ["beta", "alpha"])
    )
    assert errors == [] and answers == [200, 200]
    owners = {e.custom_data["owner"]["value"] for e in Entity.objects.all()}
    assert len(owners) == 1  # one request's values throughout, not a mix


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_groups_change_meanwhile_does_not_bring_back_a_key_a_forced_delete_took_out(
    ws, monkeypatch
):
    EntityFactory(
        workspace=ws,
        tag="ledger",
        descriptor={"x-cortex-tag": "ledger", "x-cortex-custom-metadata": {"tier": 1}},
    )
    from catalog import api as catalog_api  # (imported with the API, not before)

    raw = api_key(ws, "Admin")[1]
    read, deleted = threading.Event(), threading.Event()
    change = catalog_api.entity_groups_change

    def slow_change(*, entity, **kwargs):
        read.set()  # the view has read the entity; the delete goes first
        deleted.wait(3)
        return change(entity=entity, **kwargs)

    monkeypatch.setattr(catalog_api, "entity_groups_change", slow_change)

    def groups():
        body = {"groups": [{"tag": "pci"}]}
        assert Api(Client(), raw).put("/catalog/ledger/groups", body).status_code == 200

    def delete():
        read.wait(3)
        params = {"key": "tier", "force": "true"}
        r = Api(Client(), raw).delete("/catalog/ledger/custom-data", params=params)
        assert r.status_code == 200
        deleted.set()

    assert in_threads(groups, delete) == []
    entity = Entity.objects.get(tag="ledger")
    assert entity.descriptor["x-cortex-custom-metadata"] == {}
    assert entity.descriptor["x-cortex-groups"] == ["pci"]
