"""Entity types through the API, as Cortex's entity type definitions
(`cortex entity-types create/update/delete`): POST /catalog/definitions, PUT and
DELETE /catalog/definitions/{type}."""

from catalog.models import EntityType
from tests.factories import EntityFactory, EntityTypeFactory, api_key

SCHEMA = {"type": "object", "required": ["region"], "properties": {"region": {}}}


def test_an_entity_type_is_created_listed_and_got_with_its_schema(admin_api, ws):
    r = admin_api.post(
        "/catalog/definitions",
        {"type": "queue", "name": "Queue", "description": "SQS", "schema": SCHEMA},
    )
    assert r.status_code == 200, r.content
    expected = {
        "type": "queue",
        "name": "Queue",
        "description": "SQS",
        "source": "CUSTOM",
        "schema": SCHEMA,
        "iconTag": None,
    }
    assert r.json() == expected
    assert admin_api.get("/catalog/definitions").json()["definitions"] == [expected]
    assert admin_api.get("/catalog/definitions/queue").json() == expected
    # An entity of that type now takes it, as any other:
    EntityFactory(workspace=ws, type=EntityType.objects.get(tag="queue"))


def test_a_type_as_cortexs_cli_exports_it_is_created_with_its_icon(admin_api, ws):
    """cortexapps-cli's own data/import/entity-types/cli-test.json."""
    exported = {
        "description": "This is a test entity type definition.",
        "iconTag": "Cortex-builtin::Basketball",
        "name": "CLI Test With Empty Schema",
        "schema": {},
        "type": "cli-test",
    }
    r = admin_api.post("/catalog/definitions", exported)
    assert r.status_code == 200, r.content
    assert r.json() == {**exported, "source": "CUSTOM"}


def test_creating_a_type_that_exists_or_with_a_bad_body_is_refused_naming_why(
    admin_api, ws
):
    EntityTypeFactory(workspace=ws, tag="queue", name="Queue")
    cases = [
        ({"type": "queue", "schema": {}}, 409, "The entity type queue already exists"),
        ({"type": "no way", "schema": {}}, 400, "type: 'no way' is not a valid tag"),
        ({"name": "Queue"}, 400, "type: Field required"),
        ({"type": "bus", "schema": []}, 400, "schema"),
        ({"type": "bus", "shema": {}}, 400, "shema: Extra inputs are not permitted"),
    ]
    for body, status, says in cases:
        r = admin_api.post("/catalog/definitions", body)
        assert r.status_code == status, (body, r.content)
        assert says in r.json()["message"]
    assert list(EntityType.objects.values_list("tag", "name")) == [("queue", "Queue")]


def test_an_entity_type_is_updated_but_keeps_its_tag(admin_api, ws):
    EntityTypeFactory(workspace=ws, tag="queue", name="Queue")
    r = admin_api.put(
        "/catalog/definitions/queue",
        {"type": "queue", "name": "Message queue", "schema": SCHEMA},
    )
    assert r.status_code == 200, r.content
    assert (r.json()["name"], r.json()["schema"]) == ("Message queue", SCHEMA)
    got = admin_api.get("/catalog/definitions/queue").json()  # `entity-types get`
    r = admin_api.put("/catalog/definitions/queue", {**got, "description": "SQS"})
    assert r.status_code == 200, r.content
    assert r.json()["description"] == "SQS"
    r = admin_api.put("/catalog/definitions/queue", {"type": "bus"})
    assert r.status_code == 400
    assert r.json()["message"] == "type: an entity type's tag can't change (queue)"
    assert admin_api.put("/catalog/definitions/nope", {"name": "X"}).status_code == 404
    assert EntityType.objects.get().name == "Message queue"


def test_only_an_entity_type_no_entity_has_is_deleted(admin_api, ws):
    queue = EntityTypeFactory(workspace=ws, tag="queue")
    EntityFactory(workspace=ws, type=queue)
    EntityFactory(workspace=ws, type=queue)
    r = admin_api.delete("/catalog/definitions/queue")
    assert r.status_code == 409
    assert r.json()["message"] == (
        "2 entities are of type queue: delete them or give them another type first"
    )
    queue.entities.all().delete()
    assert admin_api.delete("/catalog/definitions/queue").status_code == 200
    assert not EntityType.objects.exists()
    r = admin_api.delete("/catalog/definitions/queue")
    assert r.status_code == 404
    assert r.json()["message"] == "could not find entity type: queue"


def test_changing_entity_types_needs_edit_entities_and_stays_in_the_workspace(
    ws, other_ws, as_key
):
    EntityTypeFactory(workspace=ws, tag="queue", name="Queue")
    viewer = as_key(api_key(ws, "Viewer")[1])
    outsider = as_key(api_key(other_ws, "Admin")[1])
    assert viewer.post("/catalog/definitions", {"type": "bus"}).status_code == 403
    assert viewer.put("/catalog/definitions/queue", {"name": "X"}).status_code == 403
    assert viewer.delete("/catalog/definitions/queue").status_code == 403
    assert outsider.put("/catalog/definitions/queue", {"name": "X"}).status_code == 404
    assert outsider.delete("/catalog/definitions/queue").status_code == 404
    assert list(EntityType.objects.values_list("tag", "name")) == [("queue", "Queue")]
