import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from playwright.sync_api import Page

from tests.e2e.conftest import browser_type_launch_args, demo, log_in  # noqa: F401
from tests.factories import EntityFactory, EntityTypeFactory, GroupFactory, TeamFactory
from tests.workflows.test_views import entity_workflow, make_run
from workflows.models import Run

HX = {"HX-Request": "true"}


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


def test_an_entity_description_is_markdown_rendered_safely(client, grace, ws):
    # Cortex's entity descriptions are Markdown (x-cortex descriptors use it).
    EntityFactory(
        workspace=ws,
        tag="ledger",
        description="Books **every** payment.\n\n- [Runbook](https://runbooks.example.com/ledger)\n\n<script>alert(1)</script>",
    )
    client.force_login(grace)
    html = client.get(
        reverse("catalog:entity-detail", args=["ledger"])
    ).content.decode()
    assert "Books <strong>every</strong> payment." in html
    assert '<li><a href="https://runbooks.example.com/ledger"' in html
    assert "<script>alert(1)" not in html


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


@pytest.mark.e2e
@pytest.mark.usefixtures("demo")
def test_entity_list_filters_show_their_whole_all_choice_at_every_width(
    page: Page, live_server
):
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}{reverse('catalog:entity-list')}")
    # Each select's room for text (its width less padding, which holds the arrow)
    # against the width of the text it shows:
    measure = """selects => selects.map(s => {
        const style = getComputedStyle(s);
        const ctx = document.createElement("canvas").getContext("2d");
        ctx.font = style.font;
        const room = s.clientWidth - parseFloat(style.paddingLeft)
            - parseFloat(style.paddingRight);
        const text = s.options[s.selectedIndex].text;
        return [text, ctx.measureText(text).width <= room];
    })"""
    selects = page.locator("#filter-type, #filter-group, #filter-team")
    for width in (1280, 992, 768, 390):
        page.set_viewport_size({"width": width, "height": 800})
        assert selects.evaluate_all(measure) == [
            ["All types", True],
            ["All groups", True],
            ["All owner teams", True],
        ], f"at {width}px"


# The entity page's run tiles, when every run on them has ended


def tiles_poller(html: str) -> str:
    return re.search(r'<div id="run-tiles-poller"[^>]*>', html).group(0)


def test_entity_tiles_with_only_finished_runs_ask_every_10s_whether_a_run_was_started(
    client, grace, ws
):
    wf = entity_workflow(ws)
    entity = EntityFactory(workspace=ws, tag="payments-api")
    make_run(wf, initiator=grace, entity=entity)
    newest = make_run(wf, status=Run.Status.FAILED, initiator=grace, entity=entity)
    make_run(wf, initiator=grace)  # on no entity, started later
    client.force_login(grace)
    url = reverse("catalog:entity-workflows", args=["payments-api"])
    html = client.get(url).content.decode()
    section = re.search(r'<section id="run-tiles"[^>]*>', html).group(0)
    assert "hx-trigger" not in section  # the tiles can't change any more
    poller = tiles_poller(html)
    assert f'hx-get="{url}?since={newest.pk}"' in poller
    assert 'hx-trigger="every 10s" hx-target="#run-tiles"' in poller


def test_entity_tiles_without_runs_ask_whether_a_first_one_was_started(
    client, grace, ws
):
    EntityFactory(workspace=ws, tag="payments-api")
    client.force_login(grace)
    url = reverse("catalog:entity-workflows", args=["payments-api"])
    html = client.get(url).content.decode()
    assert f'hx-get="{url}?since=0"' in tiles_poller(html)
    r = client.get(url, {"since": 0}, headers=HX)
    assert r.status_code == 204


def test_the_entity_tiles_idle_poll_answers_204_with_one_query_until_a_run_is_started_on_it(
    client, grace, ws
):
    wf = entity_workflow(ws)
    entity = EntityFactory(workspace=ws, tag="payments-api")
    other = EntityFactory(workspace=ws, tag="ledger")
    done = make_run(wf, initiator=grace, entity=entity)
    client.force_login(grace)
    url = reverse("catalog:entity-workflows", args=["payments-api"])

    def poll(since):
        with CaptureQueriesContext(connection) as ctx:
            r = client.get(url, {"since": since}, headers=HX)
        run_queries = [q for q in ctx.captured_queries if "workflows_run" in q["sql"]]
        return r, len(run_queries), len(ctx.captured_queries)

    r, run_queries, few = poll(done.pk)
    assert (r.status_code, r.content, run_queries) == (204, b"", 1)
    # Runs elsewhere (on another entity, on none) neither wake it nor cost more:
    for _ in range(20):
        make_run(wf, initiator=grace, entity=other)
        make_run(wf, initiator=grace)
    r, run_queries, queries = poll(done.pk)
    assert (r.status_code, run_queries, queries) == (204, 1, few)

    # A run started on the entity elsewhere (the API, another tab):
    started = make_run(
        wf, status=Run.Status.IN_PROGRESS, initiator=grace, entity=entity
    )
    r, _, _ = poll(done.pk)
    html = r.content.decode()
    assert r.status_code == 200
    assert html.lstrip().startswith('<section id="run-tiles"')
    assert f'href="{started.get_absolute_url()}"' in html
    assert re.search(r'id="run-tiles"[^>]*hx-trigger="every 3s"', html)
    assert 'id="run-tiles-poller"' not in html


def test_the_overview_shows_the_latest_deploys_in_queries_that_do_not_grow(
    client, grace, ws, django_assert_max_num_queries
):
    from datetime import UTC, datetime, timedelta

    from catalog.models import Deploy

    entity = EntityFactory(workspace=ws, tag="ledger")
    client.force_login(grace)
    html = client.get(
        reverse("catalog:entity-detail", args=["ledger"])
    ).content.decode()
    assert "No deploys recorded." in html
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for day in range(8):
        Deploy.objects.create(
            entity=entity,
            title=f"Release {day}",
            type="ROLLBACK" if day == 7 else "DEPLOY",
            timestamp=start + timedelta(days=day),
            environment="production",
            url="javascript:alert(1)" if day == 6 else "https://ci.example.com/7",
        )
    with django_assert_max_num_queries(12):
        html = client.get(
            reverse("catalog:entity-detail", args=["ledger"])
        ).content.decode()
    assert html.index("Release 7") < html.index("Release 6") < html.index("Release 3")
    assert "Release 2" not in html  # the latest five
    assert "javascript:" not in html
    assert (
        '<a href="https://ci.example.com/7" rel="noopener noreferrer">Release 5</a>'
        in html
    )


def test_a_viewer_on_an_entitys_workflows_tab_is_told_why_there_is_no_run(
    client, grace, vera, ws
):
    entity_workflow(ws)
    EntityFactory(workspace=ws, tag="payments-api")
    url = reverse("catalog:entity-workflows", args=["payments-api"])
    why = "your role lacks the <em>Run workflows</em> permission"
    client.force_login(vera)
    html = client.get(url).content.decode()
    assert why in html and 'aria-label="Run ' not in html
    client.force_login(grace)
    html = client.get(url).content.decode()
    assert why not in html and 'aria-label="Run ' in html


def test_a_run_tile_shows_the_runs_number(client, grace, ws):
    wf = entity_workflow(ws)
    entity = EntityFactory(workspace=ws, tag="payments-api")
    run = make_run(wf, initiator=grace, entity=entity)
    client.force_login(grace)
    url = reverse("catalog:entity-workflows", args=["payments-api"])
    html = client.get(url).content.decode()
    assert f"Run {run.pk} · " in html
    assert f", run {run.pk}: Successful, started" in html
