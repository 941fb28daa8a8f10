"""The catalog endpoints the Cortex CLI uses: POST/PATCH /open-api, GET/DELETE
/catalog/{tagOrId}, /openapi, archive and unarchive, and list filters."""

import pytest
import yaml

from catalog.models import Entity
from tests.factories import EntityFactory, EntityTypeFactory, TeamFactory, api_key

PAYMENTS = """
openapi: 3.0.1
info:
  title: Payments API
  description: Takes card payments.
  x-cortex-tag: payments-api
  x-cortex-type: service
  x-cortex-groups: [backend, tier-1]
  x-cortex-owners:
    - {type: group, name: payments, provider: CORTEX}
    - {type: email, email: grace@example.com}
  x-cortex-custom-metadata: {tier: 1, oncall: {team: payments}}
"""
OPENAPI = "application/openapi;charset=UTF-8"


def test_a_descriptor_creates_the_entity_with_its_type_groups_and_owners(
    admin_api, ws, grace
):
    r = admin_api.post("/open-api", PAYMENTS, content_type=OPENAPI)
    assert r.status_code == 200, r.content
    assert r.json()["ok"] is True and r.json()["violations"] == []
    entity = Entity.objects.get(workspace=ws, tag="payments-api")
    assert (entity.name, entity.type.tag) == ("Payments API", "service")
    assert sorted(g.tag for g in entity.groups.all()) == ["backend", "tier-1"]
    assert [t.tag for t in entity.owner_teams.all()] == ["payments"]
    assert list(entity.owner_users.all()) == [grace]
    details = admin_api.get("/catalog/payments-api").json()
    assert details["id"] == str(entity.pk)
    assert details["owners"]["individuals"] == [{"email": "grace@example.com"}]


def test_posting_the_same_tag_again_updates_the_entity(admin_api, ws):
    admin_api.post("/open-api", PAYMENTS, content_type=OPENAPI)
    admin_api.post(
        "/open-api", PAYMENTS.replace("Payments API", "Payments"), content_type=OPENAPI
    )
    assert Entity.objects.get(tag="payments-api").name == "Payments"
    assert Entity.objects.count() == 1


def test_several_documents_create_several_entities(admin_api, ws):
    text = PAYMENTS + "---\n" + PAYMENTS.replace("payments-api", "refunds")
    assert admin_api.post("/open-api", text, content_type=OPENAPI).status_code == 200
    assert sorted(Entity.objects.values_list("tag", flat=True)) == [
        "payments-api",
        "refunds",
    ]


def test_a_dry_run_validates_without_saving(admin_api, ws):
    r = admin_api.post("/open-api?dryRun=true", PAYMENTS, content_type=OPENAPI)
    assert r.status_code == 200 and r.json()["ok"] is True
    assert not Entity.objects.exists()


@pytest.mark.parametrize(
    "text, field",
    [
        (PAYMENTS.replace("  title: Payments API\n", ""), "info.title"),
        (
            PAYMENTS.replace("email: grace@example.com", "email: nope"),
            "info.x-cortex-owners[1].email",
        ),
        ("openapi: [", "invalid YAML"),
        ("", "no descriptor"),
        (
            PAYMENTS.replace("x-cortex-tag: payments-api", "x-cortex-tag: Definitions"),
            "'Definitions' is reserved (the API's /catalog/definitions is not an entity)",
        ),
        (
            PAYMENTS.replace("x-cortex-tag: payments-api", "x-cortex-tag: descriptors"),
            "'descriptors' is reserved (the API's /catalog/descriptors is not an entity)",
        ),
        (
            PAYMENTS.replace("x-cortex-tag: payments-api", "x-cortex-tag: '20'"),
            "'20' is only digits, which the API reads as an entity's id; add a letter",
        ),
    ],
    ids=[
        "no-title",
        "bad-owner-email",
        "bad-yaml",
        "empty",
        "reserved-tag",
        "reserved-path",
        "digits-only-tag",
    ],
)
def test_a_bad_descriptor_is_a_400_with_violations_naming_the_field(
    admin_api, ws, text, field
):
    r = admin_api.post("/open-api", text, content_type=OPENAPI)
    assert r.status_code == 400
    body = r.json()
    assert field in body["message"]
    assert body["violations"][0]["title"] == "Invalid entity descriptor"
    assert not Entity.objects.exists()


def test_patch_merges_into_the_existing_entity(admin_api, ws):
    admin_api.post("/open-api", PAYMENTS, content_type=OPENAPI)
    patch = """
openapi: 3.0.1
info:
  x-cortex-tag: payments-api
  description: Card payments and refunds.
  x-cortex-groups: [pci]
  x-cortex-custom-metadata: {oncall: __delete__, region: eu}
"""
    r = admin_api.patch("/open-api?appendArrays=true", patch)
    assert r.status_code == 200, r.content
    entity = Entity.objects.get(tag="payments-api")
    assert entity.name == "Payments API"
    assert entity.description == "Card payments and refunds."
    assert sorted(g.tag for g in entity.groups.all()) == ["backend", "pci", "tier-1"]
    assert entity.descriptor["x-cortex-custom-metadata"] == {"tier": 1, "region": "eu"}


def test_patch_of_a_missing_entity_creates_it_unless_told_to_fail(admin_api, ws):
    r = admin_api.patch("/open-api?failIfEntityDoesNotExist=true", PAYMENTS)
    assert r.status_code == 404
    assert admin_api.patch("/open-api", PAYMENTS).status_code == 200
    assert Entity.objects.filter(tag="payments-api").exists()


def test_the_descriptor_comes_back_as_json_or_yaml(admin_api, ws):
    admin_api.post("/open-api", PAYMENTS, content_type=OPENAPI)
    as_json = admin_api.get("/catalog/payments-api/openapi").json()
    assert as_json == yaml.safe_load(PAYMENTS)
    as_yaml = admin_api.get("/catalog/payments-api/openapi", {"yaml": "true"})
    assert as_yaml["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.content) == yaml.safe_load(PAYMENTS)


def test_custom_data_comes_from_the_descriptor_in_cortexs_shape(admin_api, ws):
    admin_api.post(
        "/open-api",
        PAYMENTS.replace(
            "  x-cortex-custom-metadata:",
            "  x-cortex-custom-data: {jenkins: {job: deploy-payments}, tier: 1}\n"
            "  x-cortex-custom-metadata:",
        ),
        content_type=OPENAPI,
    )
    entity = Entity.objects.get(tag="payments-api")
    listed = admin_api.get("/catalog/payments-api/custom-data").json()
    assert [(item["key"], item["value"]) for item in listed] == [
        ("jenkins", {"job": "deploy-payments"}),
        ("oncall", {"team": "payments"}),  # from x-cortex-custom-metadata
        ("tier", 1),
    ]
    one = admin_api.get(f"/catalog/{entity.pk}/custom-data/jenkins").json()
    assert one == {
        "id": None,
        "key": "jenkins",
        "value": {"job": "deploy-payments"},
        "description": None,
        "source": "YAML",
        "dateUpdated": entity.updated_at.isoformat(),
    }


def test_custom_data_comes_a_page_at_a_time_and_empty_past_the_end(admin_api, ws):
    data = {f"key-{n:02}": n for n in range(5)}
    EntityFactory(workspace=ws, tag="ledger", descriptor={"x-cortex-custom-data": data})

    def keys(**params):
        r = admin_api.get("/catalog/ledger/custom-data", params)
        return [item["key"] for item in r.json()]

    assert keys() == list(data)
    assert keys(page=1, pageSize=2) == ["key-02", "key-03"]
    assert keys(page=2, pageSize=2) == ["key-04"]
    assert keys(page=3, pageSize=2) == []
    r = admin_api.get("/catalog/ledger/custom-data", {"pageSize": 0})
    assert r.status_code == 400 and "pageSize" in r.json()["message"]


def test_a_missing_custom_data_key_or_entity_is_a_404_naming_it(admin_api, ws):
    EntityFactory(workspace=ws, tag="ledger", name="Ledger")
    assert admin_api.get("/catalog/ledger/custom-data").json() == []
    r = admin_api.get("/catalog/ledger/custom-data/jenkins")
    assert r.status_code == 404
    assert r.json()["message"] == (
        "Custom data not found for entity ledger and key jenkins"
    )
    r = admin_api.get("/catalog/nope/custom-data")
    assert r.status_code == 404
    assert r.json()["message"] == "could not find entity with tag: nope"


def test_an_x_cortex_description_comes_back_as_it_was_written(admin_api, ws):
    text = PAYMENTS.replace("  description:", "  x-cortex-description:")
    admin_api.post("/open-api", text, content_type=OPENAPI)
    assert admin_api.get("/catalog/payments-api").json()["description"] == (
        "Takes card payments."
    )
    assert admin_api.get("/catalog/payments-api/openapi").json() == yaml.safe_load(text)


def test_an_entity_made_elsewhere_still_has_a_descriptor(admin_api, ws):
    EntityFactory(workspace=ws, tag="ledger", name="Ledger")
    info = admin_api.get("/catalog/ledger/openapi").json()["info"]
    assert info == {
        "title": "Ledger",
        "x-cortex-tag": "ledger",
        "x-cortex-type": "service",
    }


def test_archive_and_unarchive(admin_api, ws):
    EntityFactory(workspace=ws, tag="ledger")
    assert admin_api.put("/catalog/ledger/archive").json()["isArchived"] is True
    assert admin_api.get("/catalog").json()["total"] == 0
    assert admin_api.put("/catalog/ledger/unarchive").json()["isArchived"] is False
    assert admin_api.get("/catalog").json()["total"] == 1


def test_delete_by_tag_or_by_ids(admin_api, ws):
    EntityFactory(workspace=ws, tag="ledger")
    money = EntityFactory(workspace=ws, tag="money")
    EntityFactory(workspace=ws, tag="search")
    assert admin_api.delete("/catalog/ledger").status_code == 200
    assert admin_api.get("/catalog/ledger").status_code == 404
    r = admin_api.delete("/catalog", params={"ids": [str(money.pk), "search"]})
    assert r.status_code == 200
    assert not Entity.objects.exists()


def test_delete_by_ids_honours_an_idempotency_key(admin_api, ws):
    """QA: the header was ignored there, the only write that did."""
    EntityFactory(workspace=ws, tag="d1")
    EntityFactory(workspace=ws, tag="d2")
    key = {"Idempotency-Key": "drop-d1"}
    first = admin_api.delete("/catalog", params={"ids": "d1"}, headers=key)
    again = admin_api.delete("/catalog", params={"ids": "d1"}, headers=key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again["Idempotent-Replayed"] == "true"
    other = admin_api.delete("/catalog", params={"ids": "d2"}, headers=key)
    assert other.status_code == 422
    assert Entity.objects.filter(tag="d2").exists()


def test_delete_by_ids_with_an_unknown_one_is_a_404_naming_it_and_deletes_none(
    admin_api, ws, other_ws
):
    ledger = EntityFactory(workspace=ws, tag="ledger")
    theirs = EntityFactory(workspace=other_ws, tag="money")
    r = admin_api.delete(
        "/catalog", params={"ids": [str(ledger.pk), "nope", str(theirs.pk)]}
    )
    assert r.status_code == 404
    assert r.json()["message"] == (
        f"could not find entities with id or tag: nope, {theirs.pk}"
    )
    assert Entity.objects.count() == 2


def test_delete_by_ids_deletes_the_entity_of_each_id_never_one_tagged_with_it(
    admin_api, ws
):
    ledger = EntityFactory(workspace=ws, tag="ledger")
    # An entity tagged with ledger's id, saved before such tags were refused:
    numbered = EntityFactory(workspace=ws, tag=str(ledger.pk))
    r = admin_api.delete("/catalog", params={"ids": [str(ledger.pk)]})
    assert r.status_code == 200
    assert list(Entity.objects.values_list("pk", flat=True)) == [numbered.pk]


def test_digits_of_other_scripts_are_tags_not_ids(admin_api, ws):
    """`DELETE /catalog?ids=٣` deleted entity 3: int("٣") is 3."""
    ledger = EntityFactory(workspace=ws, tag="ledger")
    arabic = "".join(chr(0x660 + int(d)) for d in str(ledger.pk))
    for text in (arabic, "²", "1²"):
        assert admin_api.get(f"/catalog/{text}").status_code == 404
        assert admin_api.delete("/catalog", params={"ids": [text]}).status_code == 404
    assert Entity.objects.filter(pk=ledger.pk).exists()
    assert admin_api.get(f"/catalog/{ledger.pk}").json()["tag"] == "ledger"


def test_writing_the_catalog_needs_edit_entities(ws, as_key):
    EntityFactory(workspace=ws, tag="ledger")
    viewer = as_key(api_key(ws, "Viewer")[1])
    for r in (
        viewer.post("/open-api", PAYMENTS, content_type=OPENAPI),
        viewer.patch("/open-api", PAYMENTS),
        viewer.delete("/catalog/ledger"),
        viewer.put("/catalog/ledger/archive"),
        viewer.delete("/catalog", params={"ids": ["ledger"]}),
    ):
        assert r.status_code == 403
        assert "EDIT_ENTITIES" in r.json()["message"]
    assert Entity.objects.filter(tag="ledger", archived=False).exists()
    assert viewer.get("/catalog/ledger").status_code == 200


def test_list_filters_take_repeated_or_comma_separated_values(admin_api, ws):
    library = EntityTypeFactory(workspace=ws, tag="library")
    environment = EntityTypeFactory(workspace=ws, tag="environment")
    EntityFactory(workspace=ws, tag="money", name="Money", type=library)
    EntityFactory(workspace=ws, tag="prod", name="Prod", type=environment)
    EntityFactory(workspace=ws, tag="ledger", name="Ledger")
    # The Cortex CLI sends `types=library&types=environment`:
    repeated = admin_api.get("/catalog?types=library&types=environment")
    assert [e["tag"] for e in repeated.json()["entities"]] == ["money", "prod"]
    comma = admin_api.get("/catalog", {"types": "library,environment"})
    assert comma.json() == repeated.json()


def test_list_filters_by_owning_team_or_owner_email(admin_api, ws, grace):
    team = TeamFactory(workspace=ws, tag="payments")
    EntityFactory(workspace=ws, tag="ledger", name="Ledger").owner_teams.add(team)
    EntityFactory(workspace=ws, tag="money", name="Money").owner_users.add(grace)
    EntityFactory(workspace=ws, tag="search", name="Search")
    body = admin_api.get("/catalog", {"owners": "payments,grace@example.com"}).json()
    assert [e["tag"] for e in body["entities"]] == ["ledger", "money"]


def test_list_filters_by_git_repository_at_any_provider(admin_api, ws):
    EntityFactory(
        workspace=ws,
        tag="ledger",
        descriptor={"x-cortex-git": {"github": {"repository": "acme/ledger"}}},
    )
    EntityFactory(
        workspace=ws,
        tag="money",
        descriptor={"x-cortex-git": {"gitlab": {"repository": "acme/money"}}},
    )
    EntityFactory(workspace=ws, tag="search", descriptor={})
    # `cortex catalog list -r acme/ledger,acme/money`:
    body = admin_api.get("/catalog", {"gitRepositories": "acme/ledger,acme/money"})
    assert [e["tag"] for e in body.json()["entities"]] == ["ledger", "money"]
    nothing = admin_api.get("/catalog", {"gitRepositories": "nobody/none"}).json()
    assert (nothing["entities"], nothing["total"]) == ([], 0)


def test_the_descriptors_come_a_page_at_a_time_as_json_or_yaml(admin_api, ws):
    admin_api.post("/open-api", PAYMENTS, content_type=OPENAPI)
    EntityFactory(workspace=ws, tag="ledger", name="Ledger")
    body = admin_api.get("/catalog/descriptors", {"pageSize": 1}).json()
    assert (body["page"], body["total"], body["totalPages"]) == (0, 2, 2)
    [first] = body["descriptors"]
    assert (
        first
        == admin_api.get(f"/catalog/{first['info']['x-cortex-tag']}/openapi").json()
    )
    typed = admin_api.get("/catalog/descriptors", {"types": "service", "yaml": "true"})
    texts = typed.json()["descriptors"]
    assert {yaml.safe_load(t)["info"]["x-cortex-tag"] for t in texts} >= {
        "payments-api"
    }
    assert all(yaml.safe_load(t)["info"]["x-cortex-type"] == "service" for t in texts)


def test_the_cli_list_parameters_are_accepted(admin_api, ws):
    EntityFactory(workspace=ws, tag="ledger")
    params = {
        "includeArchived": "False",
        "hierarchyDepth": "full",
        "includeOwners": "False",
        "includeLinks": "False",
        "includeMetadata": "False",
        "page": 0,
        "pageSize": 250,
    }
    assert admin_api.get("/catalog", params).json()["total"] == 1


def test_an_unquoted_date_in_a_descriptor_is_kept_as_the_text_written(admin_api, ws):
    """Cortex (Jackson) reads `2024-05-01` as a string; it used to be a 500."""
    text = PAYMENTS.replace(
        "x-cortex-custom-metadata: {tier: 1, oncall: {team: payments}}",
        "x-cortex-custom-metadata: {launched: 2024-05-01, audited: 2024-05-01T10:00:00Z}",
    )
    for method in (admin_api.post, admin_api.patch):
        r = method("/open-api", text, content_type=OPENAPI)
        assert r.status_code == 200, r.content
    entity = Entity.objects.get(tag="payments-api")
    assert entity.descriptor["x-cortex-custom-metadata"] == {
        "launched": "2024-05-01",
        "audited": "2024-05-01T10:00:00Z",
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "!!binary aGVsbG8=",
            "descriptor.info.x-cortex-custom-data.blob: JSON can't store binary data (!!binary)",
        ),
        (
            "!!set {a, b}",
            "descriptor.info.x-cortex-custom-data.blob: JSON can't store a set (!!set); use a list",
        ),
        (
            ".nan",
            "descriptor.info.x-cortex-custom-data.blob: nan is not a number JSON can store",
        ),
    ],
)
def test_a_yaml_value_json_cannot_hold_is_a_400_naming_where_it_is(
    admin_api, ws, value, message
):
    text = PAYMENTS + f"  x-cortex-custom-data:\n    blob: {value}\n"
    for method in (admin_api.post, admin_api.patch):
        r = method("/open-api", text, content_type=OPENAPI)
        assert r.status_code == 400, r.content
        assert message in r.json()["message"]
    assert not Entity.objects.exists()


def test_yaml_nested_too_deep_is_a_400_not_a_crash(admin_api, ws):
    text = (
        PAYMENTS
        + "  x-cortex-custom-data:\n    deep: "
        + "[" * 5000
        + "]" * 5000
        + "\n"
    )
    for method in (admin_api.post, admin_api.patch):
        r = method("/open-api", text, content_type=OPENAPI)
        assert r.status_code == 400, r.content
        assert "nested too deeply" in r.json()["message"]
    assert not Entity.objects.exists()


def test_custom_data_written_as_cortex_custom_metadata_is_served_too(admin_api, ws):
    """Cortex's docs and its jenkins-deploy solution write x-cortex-custom-metadata."""
    text = PAYMENTS.replace(
        "x-cortex-custom-metadata: {tier: 1, oncall: {team: payments}}",
        "x-cortex-custom-metadata: {jenkins: {job: deploy}, tier: 1}\n"
        "  x-cortex-custom-data: {tier: 2}",
    )
    assert admin_api.post("/open-api", text, content_type=OPENAPI).status_code == 200
    listed = admin_api.get("/catalog/payments-api/custom-data").json()
    assert [(item["key"], item["value"]) for item in listed] == [
        ("jenkins", {"job": "deploy"}),
        ("tier", 2),
    ]
    one = admin_api.get("/catalog/payments-api/custom-data/jenkins").json()
    assert one["value"] == {"job": "deploy"}


@pytest.mark.parametrize(
    ("git", "expected"),
    [
        (
            "{github: {repository: acme/payments, basepath: api}}",
            {
                "provider": "GITHUB",
                "repository": "acme/payments",
                "repositoryUrl": "https://github.com/acme/payments",
                "alias": None,
                "basepath": "api",
            },
        ),
        (
            "{gitlab: {repository: acme/payments, alias: self-hosted}}",
            {
                "provider": "GITLAB",
                "repository": "acme/payments",
                "repositoryUrl": "https://gitlab.com/acme/payments",
                "alias": "self-hosted",
                "basepath": None,
            },
        ),
        (None, None),
    ],
)
def test_entity_details_give_the_git_repository_as_cortex_does(
    admin_api, ws, git, expected
):
    """Cortex's deploy-from-entity solutions read .git.repository."""
    text = PAYMENTS + (f"  x-cortex-git: {git}\n" if git else "")
    assert admin_api.post("/open-api", text, content_type=OPENAPI).status_code == 200
    assert admin_api.get("/catalog/payments-api").json()["git"] == expected


def test_entity_types_are_listed_as_cortexs_definitions(admin_api, ws, other_ws):
    """`cortex entity-types list` reads GET /catalog/definitions."""
    for tag in ("service", "team", "queue", "database"):
        EntityTypeFactory(workspace=ws, tag=tag)
    EntityTypeFactory(workspace=other_ws, tag="rocket")
    body = admin_api.get("/catalog/definitions").json()
    assert [d["type"] for d in body["definitions"]] == ["database", "queue"]
    assert body["definitions"][0] == {
        "type": "database",
        "name": "Database",
        "description": None,
        "source": "CUSTOM",
        "schema": {},
        "iconTag": None,
    }
    assert (body["page"], body["total"], body["totalPages"]) == (0, 2, 1)
    every = admin_api.get("/catalog/definitions", {"includeBuiltIn": "true"}).json()
    assert {d["type"]: d["source"] for d in every["definitions"]} == {
        "database": "CUSTOM",
        "queue": "CUSTOM",
        "service": "BUILT_IN",
        "team": "BUILT_IN",
    }


def test_an_entity_type_comes_alone_by_its_tag_or_a_404_naming_it(admin_api, ws):
    EntityTypeFactory(workspace=ws, tag="library", name="Library")
    r = admin_api.get("/catalog/definitions/library")
    assert r.json() == {
        "type": "library",
        "name": "Library",
        "description": None,
        "source": "CUSTOM",
        "schema": {},
        "iconTag": None,
    }
    missing = admin_api.get("/catalog/definitions/nope")
    assert missing.status_code == 404
    assert missing.json()["message"] == "could not find entity type: nope"


def test_groups_of_an_entity_are_listed_added_and_removed_as_the_cli_does(
    admin_api, ws
):
    admin_api.post("/open-api", PAYMENTS, content_type=OPENAPI)
    listed = admin_api.get("/catalog/payments-api/groups").json()
    assert listed == {
        "groups": [{"tag": "backend"}, {"tag": "tier-1"}],
        "page": 0,
        "total": 2,
        "totalPages": 1,
    }
    # cortex groups add -t payments-api -g pci,backend
    added = admin_api.put(
        "/catalog/payments-api/groups", {"groups": [{"tag": "pci"}, {"tag": "backend"}]}
    )
    assert added.status_code == 200
    assert [g["tag"] for g in added.json()["groups"]] == ["backend", "tier-1", "pci"]
    # cortex groups delete -t payments-api -g tier-1
    removed = admin_api.client.delete(
        "/api/v1/catalog/payments-api/groups",
        '{"groups": [{"tag": "tier-1"}]}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {admin_api.raw}"},
    )
    assert [g["tag"] for g in removed.json()["groups"]] == ["backend", "pci"]
    entity = Entity.objects.get(tag="payments-api")
    assert sorted(entity.groups.values_list("tag", flat=True)) == ["backend", "pci"]
    descriptor = admin_api.get("/catalog/payments-api/openapi").json()
    assert descriptor["info"]["x-cortex-groups"] == ["backend", "pci"]
    assert "pci" in admin_api.get("/catalog", {"groups": "pci"}).text


def test_groups_as_descriptors_write_them_are_added_and_removed(admin_api, ws):
    """Cortex's environments use groups such as cloudType:gcp."""
    text = PAYMENTS.replace("[backend, tier-1]", "['cloudType:gcp', 'envType:prod']")
    admin_api.post("/open-api", text, content_type=OPENAPI)
    removed = admin_api.client.delete(
        "/api/v1/catalog/payments-api/groups",
        '{"groups": [{"tag": "envType:prod"}]}',
        content_type="application/json",
        headers={"Authorization": f"Bearer {admin_api.raw}"},
    )
    assert removed.status_code == 200, removed.content
    body = {"groups": [{"tag": "region:us-east1"}]}
    r = admin_api.put("/catalog/payments-api/groups", body)
    assert r.status_code == 200, r.content
    assert [g["tag"] for g in r.json()["groups"]] == [
        "cloudType:gcp",
        "region:us-east1",
    ]


def test_a_bad_group_tag_is_a_400_naming_it_and_changes_nothing(admin_api, ws):
    admin_api.post("/open-api", PAYMENTS, content_type=OPENAPI)
    r = admin_api.put(
        "/catalog/payments-api/groups", {"groups": [{"tag": "ok"}, {"tag": "  "}]}
    )
    assert r.status_code == 400
    assert "groups[1].tag: must be a non-empty string" in r.json()["message"]
    tags = Entity.objects.get(tag="payments-api").groups.values_list("tag", flat=True)
    assert sorted(tags) == ["backend", "tier-1"]


def test_changing_groups_needs_edit_entities_and_stays_in_the_workspace(
    ws, other_ws, as_key
):
    EntityFactory(workspace=ws, tag="ledger")
    viewer = as_key(api_key(ws, "Viewer")[1])
    outsider = as_key(api_key(other_ws, "Admin")[1])
    body = {"groups": [{"tag": "pci"}]}
    assert viewer.put("/catalog/ledger/groups", body).status_code == 403
    bad = {"groups": [{"tag": "no way"}]}
    assert viewer.put("/catalog/ledger/groups", bad).status_code == 403  # not 400
    assert outsider.put("/catalog/ledger/groups", body).status_code == 404
    assert outsider.get("/catalog/ledger/groups").status_code == 404
    assert not Entity.objects.get(tag="ledger").groups.exists()


def test_keys_written_with_no_value_are_as_good_as_absent(admin_api, ws):
    text = PAYMENTS.replace(
        "  x-cortex-custom-metadata: {tier: 1, oncall: {team: payments}}\n",
        "  x-cortex-custom-metadata:\n  x-cortex-link:\n  x-cortex-git:\n",
    )
    r = admin_api.post("/open-api", text, content_type=OPENAPI)
    assert r.status_code == 200, r.content
    details = admin_api.get("/catalog/payments-api").json()
    assert (details["metadata"], details["links"], details["git"]) == ([], [], None)


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (
            "  x-cortex-custom-metadata: [1, 2]",
            "info.x-cortex-custom-metadata: must be a mapping",
        ),
        (
            "  x-cortex-custom-data: hello",
            "info.x-cortex-custom-data: must be a mapping",
        ),
        (
            "  x-cortex-link: {name: Runbook, url: 'https://x'}",
            "info.x-cortex-link: must be a list",
        ),
        (
            "  x-cortex-link: [{name: Runbook}]",
            "info.x-cortex-link[0].url: is required",
        ),
        ("  x-cortex-link: [https://x]", "info.x-cortex-link[0]: must be a mapping"),
        (
            "  x-cortex-git: {github: {repo: acme/x}}",
            "info.x-cortex-git.github.repository: is required",
        ),
        (
            "  x-cortex-git: {svn: {repository: acme/x}}",
            "info.x-cortex-git.svn: is not one of github",
        ),
        ("  x-cortex-git: acme/x", "info.x-cortex-git: must be a mapping"),
    ],
)
def test_custom_data_links_and_git_of_the_wrong_shape_are_refused_naming_them(
    admin_api, ws, extra, says
):
    text = PAYMENTS.replace(
        "  x-cortex-custom-metadata: {tier: 1, oncall: {team: payments}}\n", ""
    )
    r = admin_api.post("/open-api", text + extra + "\n", content_type=OPENAPI)
    assert r.status_code == 400, r.content
    assert says in r.json()["message"]
    assert not Entity.objects.exists()


def test_an_owner_email_of_no_member_is_listed_but_linked_to_nobody(admin_api, ws):
    text = PAYMENTS.replace("grace@example.com", "Stranger@Elsewhere.com")
    admin_api.post("/open-api", text, content_type=OPENAPI)
    details = admin_api.get("/catalog/payments-api").json()
    assert details["owners"]["individuals"] == [{"email": "stranger@elsewhere.com"}]
    assert not Entity.objects.get(tag="payments-api").owner_users.exists()
    listed = admin_api.get("/catalog", {"owners": "STRANGER@elsewhere.com"}).json()
    assert [e["tag"] for e in listed["entities"]] == ["payments-api"]


def test_the_owner_filter_matches_emails_whatever_their_case(admin_api, ws, grace):
    admin_api.post("/open-api", PAYMENTS, content_type=OPENAPI)
    for owner in ("grace@example.com", "Grace@Example.COM"):
        assert admin_api.get("/catalog", {"owners": owner}).json()["total"] == 1


def test_a_missing_entity_named_by_a_number_is_said_to_be_neither_tag_nor_id(
    admin_api, ws
):
    r = admin_api.get("/catalog/4242")
    assert r.status_code == 404
    assert r.json()["message"] == "could not find entity with tag or id: 4242"


def test_the_list_gives_custom_data_and_links_when_asked_and_details_always(
    admin_api, ws
):
    text = PAYMENTS + (
        "  x-cortex-link:\n"
        "    - {name: Runbook, type: runbook, url: 'https://wiki.example.com/pay'}\n"
    )
    admin_api.post("/open-api", text, content_type=OPENAPI)
    admin_api.post(
        "/catalog/payments-api/custom-data", {"key": "ci", "value": "jenkins"}
    )
    plain = admin_api.get("/catalog").json()["entities"][0]
    assert "metadata" not in plain and "links" not in plain

    listed = admin_api.get(
        "/catalog", {"includeMetadata": "true", "includeLinks": "true"}
    ).json()["entities"][0]
    metadata = [
        {"key": "ci", "value": "jenkins"},
        {"key": "oncall", "value": {"team": "payments"}},
        {"key": "tier", "value": 1},
    ]
    links = [
        {
            "name": "Runbook",
            "type": "runbook",
            "url": "https://wiki.example.com/pay",
            "description": None,
        }
    ]
    assert (listed["metadata"], listed["links"]) == (metadata, links)
    details = admin_api.get("/catalog/payments-api").json()
    assert (details["metadata"], details["links"]) == (metadata, links)
