"""Custom data set through the API, as Cortex's custom data endpoints (and
`cortex custom-data add/delete/bulk`) do: POST/DELETE
/catalog/{tag}/custom-data, the bulk PUT /catalog/custom-data, and the
"advanced" forms that take the tag in the query."""

import yaml

from catalog.models import Entity
from tests.factories import EntityFactory, api_key

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
