import pytest

from tests.factories import (
    EntityFactory,
    EntityTypeFactory,
    GroupFactory,
    TeamFactory,
    UserFactory,
    api_key,
)

CATALOG = "/api/v1/catalog"


@pytest.fixture
def raw(ws):
    return api_key(ws, "Viewer")[1]


@pytest.fixture
def catalog(client, raw):
    def get(url: str = CATALOG, **params):
        return client.get(url, params, HTTP_AUTHORIZATION=f"Bearer {raw}")

    return get


def tags(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [e["tag"] for e in response.json()["entities"]]


def test_the_catalog_lists_entities_in_cortex_shape(catalog, ws):
    platform = TeamFactory(workspace=ws, tag="platform", name="Platform")
    ada = UserFactory(email="ada@example.com")
    entity = EntityFactory(
        workspace=ws, tag="ledger", name="Ledger", description="Books"
    )
    entity.groups.add(GroupFactory(workspace=ws, tag="backend"))
    entity.owner_teams.add(platform)
    entity.owner_users.add(ada)
    body = catalog().json()
    assert (body["page"], body["total"], body["totalPages"]) == (0, 1, 1)
    [item] = body["entities"]
    assert item == {
        "id": str(entity.pk),
        "tag": "ledger",
        "name": "Ledger",
        "description": "Books",
        "type": "service",
        "groups": ["backend"],
        "isArchived": False,
        "lastUpdated": entity.updated_at.isoformat(),
        "owners": {
            "teams": [{"tag": "platform", "name": "Platform"}],
            "individuals": [{"email": "ada@example.com"}],
        },
        "git": None,
    }


def test_the_catalog_filters_by_types(catalog, ws):
    library = EntityTypeFactory(workspace=ws, tag="library")
    environment = EntityTypeFactory(workspace=ws, tag="environment")
    EntityFactory(workspace=ws, tag="money", name="Money", type=library)
    EntityFactory(workspace=ws, tag="prod", name="Prod", type=environment)
    EntityFactory(workspace=ws, tag="ledger", name="Ledger")
    assert tags(catalog(types="library")) == ["money"]
    assert tags(catalog(types="library,environment")) == ["money", "prod"]


def test_the_catalog_filters_by_groups_without_repeating_entities(catalog, ws):
    backend = GroupFactory(workspace=ws, tag="backend")
    tier1 = GroupFactory(workspace=ws, tag="tier-1")
    both = EntityFactory(workspace=ws, tag="ledger", name="Ledger")
    both.groups.add(backend, tier1)
    EntityFactory(workspace=ws, tag="money", name="Money").groups.add(tier1)
    EntityFactory(workspace=ws, tag="search", name="Search")
    assert tags(catalog(groups="backend")) == ["ledger"]
    response = catalog(groups="backend,tier-1")
    assert tags(response) == ["ledger", "money"]
    assert response.json()["total"] == 2


def test_the_catalog_searches_names_and_tags(catalog, ws):
    EntityFactory(workspace=ws, tag="payments-api", name="Payments API")
    EntityFactory(workspace=ws, tag="ledger", name="Books")
    assert tags(catalog(query="paym")) == ["payments-api"]
    assert tags(catalog(query="LEDG")) == ["ledger"]


def test_the_catalog_hides_archived_entities_unless_asked(catalog, ws):
    EntityFactory(workspace=ws, tag="old", name="Old", archived=True)
    EntityFactory(workspace=ws, tag="new", name="New")
    assert tags(catalog()) == ["new"]
    assert tags(catalog(includeArchived="true")) == ["new", "old"]


def test_the_catalog_pages_from_zero(catalog, ws):
    for i in range(5):
        EntityFactory(workspace=ws, tag=f"svc-{i}", name=f"Service {i}")
    first = catalog(page=0, pageSize=2)
    last = catalog(page=2, pageSize=2)
    beyond = catalog(page=3, pageSize=2)
    assert tags(first) == ["svc-0", "svc-1"]
    assert (first.json()["total"], first.json()["totalPages"]) == (5, 3)
    assert tags(last) == ["svc-4"] and last.json()["page"] == 2
    assert tags(beyond) == []


def test_an_empty_catalog_has_no_pages(catalog, ws):
    body = catalog().json()
    assert (body["entities"], body["total"], body["totalPages"]) == ([], 0, 0)


@pytest.mark.parametrize(
    "params",
    [{"pageSize": 0}, {"pageSize": 1001}, {"page": -1}, {"pageSize": "many"}],
    ids=["zero-page-size", "huge-page-size", "negative-page", "non-numeric-page-size"],
)
def test_a_bad_page_or_page_size_is_a_400_with_a_message(catalog, ws, params):
    r = catalog(**params)
    assert r.status_code == 400
    body = r.json()
    assert body["httpStatus"] == 400 and body["type"] == "BAD_REQUEST"
    assert body["message"]


def test_entity_details_are_found_by_tag(catalog, ws):
    EntityFactory(workspace=ws, tag="ledger", name="Ledger", description="")
    body = catalog(f"{CATALOG}/ledger").json()
    assert (body["tag"], body["name"], body["description"]) == (
        "ledger",
        "Ledger",
        None,
    )


def test_entity_details_of_an_unknown_tag_are_a_404_with_cortexs_message(catalog, ws):
    r = catalog(f"{CATALOG}/nope")
    assert r.status_code == 404
    assert r.json()["message"] == "could not find entity with tag: nope"


def test_the_catalog_query_count_does_not_grow_with_rows(
    catalog, ws, django_assert_max_num_queries
):
    team = TeamFactory(workspace=ws)
    group = GroupFactory(workspace=ws)
    owner = UserFactory()

    def add(count: int) -> None:
        for _ in range(count):
            entity = EntityFactory(workspace=ws)
            entity.owner_teams.add(team)
            entity.groups.add(group)
            entity.owner_users.add(owner)

    add(2)
    # Authentication (key, allowlist, roles, last-used) + count + rows + 3 prefetches:
    with django_assert_max_num_queries(10) as few:
        catalog(groups=group.tag)
    add(30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(tags(catalog(groups=group.tag))) == 32
