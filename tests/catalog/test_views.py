import re

import pytest
from django.urls import reverse

from tests.factories import EntityFactory, EntityTypeFactory, GroupFactory, TeamFactory


def _without_csrf(response) -> str:
    return re.sub(
        r'"x-csrftoken": "[^"]+"|value="[A-Za-z0-9]{64}"', "", response.content.decode()
    )


def test_entity_list_requires_login(client, db):
    r = client.get(reverse("catalog:entity-list"))
    assert r.status_code == 302
    assert r["Location"].startswith(reverse("login"))


def test_entity_list_shows_only_the_current_workspaces_entities(
    client, grace, ws, other_ws
):
    EntityFactory(workspace=ws, name="Payments API")
    EntityFactory(workspace=other_ws, name="Rocket API")
    client.force_login(grace)
    html = client.get(reverse("catalog:entity-list")).content.decode()
    assert "Payments API" in html
    assert "Rocket API" not in html


def test_entity_list_searches_by_name_and_tag(client, grace, ws):
    EntityFactory(workspace=ws, tag="payments-api", name="Payments API")
    EntityFactory(workspace=ws, tag="ledger", name="Ledger")
    client.force_login(grace)
    by_name = client.get(reverse("catalog:entity-list"), {"q": "paym"}).content.decode()
    by_tag = client.get(reverse("catalog:entity-list"), {"q": "ledg"}).content.decode()
    assert "Payments API" in by_name and "Ledger" not in by_name
    assert "Ledger" in by_tag and "Payments API" not in by_tag


def test_entity_list_filters_by_type_group_and_owner_team(client, grace, ws):
    library = EntityTypeFactory(workspace=ws, tag="library")
    backend = GroupFactory(workspace=ws, tag="backend")
    platform = TeamFactory(workspace=ws, tag="platform")
    lib = EntityFactory(workspace=ws, name="Money", type=library)
    svc = EntityFactory(workspace=ws, name="Ledger")
    svc.groups.add(backend)
    owned = EntityFactory(workspace=ws, name="Identity")
    owned.owner_teams.add(platform)
    client.force_login(grace)
    url = reverse("catalog:entity-list")
    assert [e.name for e in client.get(url, {"type": "library"}).context["page"]] == [
        lib.name
    ]
    assert [e.name for e in client.get(url, {"group": "backend"}).context["page"]] == [
        svc.name
    ]
    assert [e.name for e in client.get(url, {"team": "platform"}).context["page"]] == [
        owned.name
    ]


def test_entity_list_pages_through_results(client, grace, ws):
    for i in range(30):
        EntityFactory(workspace=ws, tag=f"svc-{i:02}", name=f"Service {i:02}")
    client.force_login(grace)
    first = client.get(reverse("catalog:entity-list"))
    second = client.get(reverse("catalog:entity-list"), {"page": 2})
    assert len(first.context["page"]) == 25
    assert [e.name for e in second.context["page"]] == [
        f"Service {i}" for i in range(25, 30)
    ]
    assert "Page 1 of 2" in first.content.decode()


def test_entity_list_answers_htmx_with_the_results_fragment(client, grace, ws):
    EntityFactory(workspace=ws, name="Ledger")
    client.force_login(grace)
    r = client.get(
        reverse("catalog:entity-list"), {"q": "led"}, headers={"HX-Request": "true"}
    )
    html = r.content.decode()
    assert 'id="results"' in html and "Ledger" in html
    assert "<html" not in html


def test_entity_list_query_count_does_not_grow_with_rows(
    client, grace, ws, django_assert_max_num_queries
):
    team = TeamFactory(workspace=ws)
    group = GroupFactory(workspace=ws)
    for _ in range(20):
        e = EntityFactory(workspace=ws)
        e.owner_teams.add(team)
        e.groups.add(group)
    client.force_login(grace)
    with django_assert_max_num_queries(12):
        client.get(reverse("catalog:entity-list"))


def test_entity_page_shows_overview_and_workflows_in_its_sidebar(client, grace, ws):
    entity = EntityFactory(
        workspace=ws, tag="ledger", name="Ledger", description="Books"
    )
    client.force_login(grace)
    html = client.get(entity.get_absolute_url()).content.decode()
    assert "Overview" in html and "Workflows" in html and "Books" in html
    r = client.get(reverse("catalog:entity-workflows", args=["ledger"]))
    assert r.status_code == 200
    assert "No workflows apply to this entity yet." in r.content.decode()


@pytest.mark.parametrize("name", ["catalog:entity-detail", "catalog:entity-workflows"])
def test_entity_pages_answer_404_for_another_workspaces_entity(
    client, grace, other_ws, name
):
    EntityFactory(workspace=other_ws, tag="rocket")
    client.force_login(grace)
    r = client.get(reverse(name, args=["rocket"]))
    assert r.status_code == 404
    missing = client.get(reverse(name, args=["no-such-entity"]))
    assert missing.status_code == 404
    assert _without_csrf(r) == _without_csrf(missing)
