"""The entity page's run tiles in a browser: a run started elsewhere appears."""

import pytest
from playwright.sync_api import Page, expect

from portal.models import User, Workspace
from tests.e2e.conftest import log_in
from tests.factories import EntityFactory
from tests.workflows.test_views import entity_workflow, make_run
from workflows.models import Run

pytestmark = pytest.mark.e2e


def tile_check(status=Run.Status.COMPLETED) -> tuple:
    """(workflow, entity, run): a run of "Tile check" on "Tile API", by grace."""
    ws = Workspace.objects.get(slug="demo")
    grace = User.objects.get(email="grace@example.com")
    wf = entity_workflow(ws, "tile-check", name="Tile check")
    entity = EntityFactory(workspace=ws, tag="tile-api", name="Tile API")
    return wf, entity, make_run(wf, status=status, initiator=grace, entity=entity)


def test_a_run_started_elsewhere_appears_among_the_entity_tiles_when_all_had_ended(
    page: Page, live_server, demo, monkeypatch
):
    monkeypatch.setattr("catalog.views.IDLE_POLL_SECONDS", 1)
    wf, entity, ended = tile_check()
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/catalog/tile-api/workflows/")
    tiles = page.locator('[data-test="run-tile"]')
    expect(tiles).to_have_count(1)

    # Started by the API, another tab or someone else:
    started = make_run(
        wf, status=Run.Status.IN_PROGRESS, initiator=ended.initiator, entity=entity
    )

    expect(tiles).to_have_count(2, timeout=10_000)
    expect(tiles.first.get_by_role("link")).to_have_attribute(
        "href", started.get_absolute_url()
    )
    expect(tiles.first).to_contain_text("In progress")


def test_tiles_and_runs_tab_rows_say_out_loud_when_a_run_changes_status(
    page: Page, live_server, demo, monkeypatch
):
    monkeypatch.setattr("workflows.views.POLL_SECONDS", 1)
    _, _, run = tile_check(Run.Status.PAUSED)
    announcer = page.locator('[data-test="status-announcer"]')
    log_in(page, live_server, "grace@example.com")

    for url, status, said in (
        ("/catalog/tile-api/workflows/", Run.Status.IN_PROGRESS, "In progress"),
        ("/workflows/runs/", Run.Status.COMPLETED, "Successful"),
    ):
        page.goto(f"{live_server.url}{url}")
        expect(announcer).to_have_attribute("role", "status")
        expect(announcer).to_be_empty()
        Run.objects.filter(pk=run.pk).update(status=status)  # the worker, elsewhere
        expect(announcer).to_have_text(
            f"Run {run.pk} of Tile check: {said}", timeout=10_000
        )


def test_focus_on_all_runs_stays_there_as_the_tiles_refresh(
    page: Page, live_server, demo, monkeypatch
):
    monkeypatch.setattr("workflows.views.POLL_SECONDS", 1)
    tile_check(Run.Status.PAUSED)  # unfinished: the tiles refresh every second
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/catalog/tile-api/workflows/")
    link = page.get_by_role("link", name="All runs on Tile API")
    link.focus()

    with page.expect_response(lambda r: "/catalog/tile-api/workflows/" in r.url):
        pass  # a refresh came
    page.wait_for_timeout(300)  # and was swapped in
    expect(link).to_be_focused()
