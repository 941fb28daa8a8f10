"""The ways into a run from the browser, with a real worker, and Cancel run.

(a) a workflow's page → Run → Run workflow; (b) the Workflows page → Run →
Confirm (global) or Select an entity (entity) → Run workflow; (c) an entity's
Workflows section → Run → Confirm → Run workflow → the run tile → the run;
(d) Cancel run from the Runs tab.
"""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import wait_for
from tests.e2e.conftest import log_in, wait_for_htmx
from workflows import engine
from workflows.models import Run

pytestmark = pytest.mark.e2e

RUN_PAGE = re.compile(r"/workflows/runs/(\d+)/$")


def landed_run(page: Page) -> Run:
    expect(page).to_have_url(RUN_PAGE)
    return Run.objects.get(pk=RUN_PAGE.search(page.url).group(1))


def grace_provisions_ledger(page: Page, live_server) -> Run:
    """Grace runs Provision a service on Ledger; it pauses for its form."""
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/workflows/provision-a-service/run/?entity=ledger")
    page.get_by_role("button", name="Run workflow").click()
    return landed_run(page)


def finished(run: Run) -> Run:
    def run_ended():
        run.refresh_from_db()
        return run.is_terminal

    wait_for(run_ended)
    return run


def test_run_from_the_workflow_page_lands_on_the_run_page(
    page: Page, live_server, demo, celery_worker_process
):
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/workflows/hello-world/")
    page.get_by_role("button", name="Run", exact=True).click()
    dialog = page.get_by_role("dialog", name="Confirm")
    expect(dialog).to_contain_text("Run Hello world?")
    dialog.get_by_role("button", name="Run workflow").click()

    run = landed_run(page)
    expect(page.get_by_role("heading", name="Hello world")).to_be_visible()
    assert (run.workflow.tag, run.initiator.email) == (
        "hello-world",
        "grace@example.com",
    )
    assert finished(run).status == Run.Status.COMPLETED


def test_run_from_the_workflows_page_confirms_a_global_and_selects_an_entity(
    page: Page, live_server, demo, celery_worker_process
):
    log_in(page, live_server, "grace@example.com")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Workflows"
    ).click()
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()

    # A GLOBAL workflow: Confirm → Run workflow
    page.get_by_role("button", name="Run Hello world").click()
    page.get_by_role("dialog", name="Confirm").get_by_role(
        "button", name="Run workflow"
    ).click()
    run = landed_run(page)
    assert run.workflow.tag == "hello-world" and run.entity is None

    # An ENTITY workflow: Select an entity → search → pick → Run workflow
    page.goto(f"{live_server.url}/workflows/")
    page.get_by_role("button", name="Run Provision a service").click()
    dialog = page.get_by_role("dialog", name="Select an entity")
    expect(dialog.get_by_role("radio")).not_to_have_count(0)
    expect(dialog.get_by_text("Money")).to_have_count(0)  # a library, not a service
    dialog.get_by_text("Payments API").click()
    # A search after picking keeps the pick when it still matches (QA: cleared):
    dialog.get_by_placeholder("Search by name or tag").fill("paym")
    wait_for_htmx(page)
    expect(dialog.get_by_role("radio")).to_have_count(1)
    expect(dialog.get_by_role("radio")).to_be_checked()
    dialog.get_by_role("button", name="Run workflow").click()
    run = landed_run(page)
    assert run.workflow.tag == "provision-a-service"
    assert run.entity.tag == "payments-api"


def test_run_from_an_entity_shows_a_run_tile_that_opens_the_run(
    page: Page, live_server, demo, celery_worker_process
):
    log_in(page, live_server, "grace@example.com")
    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="All entities"
    ).click()
    page.get_by_placeholder("Search by name or tag").fill("payments")
    wait_for_htmx(page)
    page.get_by_role("link", name="Payments API").click()
    page.get_by_role("navigation", name="Entity").get_by_role(
        "link", name="Workflows"
    ).click()
    expect(page.get_by_text("No runs on Payments API yet.")).to_be_visible()

    page.get_by_role("button", name="Run Provision a service").click()
    dialog = page.get_by_role("dialog", name="Confirm")
    expect(dialog).to_contain_text("Payments API")
    dialog.get_by_role("button", name="Run workflow").click()

    expect(page).to_have_url(re.compile(r"/catalog/payments-api/workflows/$"))
    tile = page.locator("[data-test=run-tile]").filter(has_text="Provision a service")
    expect(tile).to_have_count(1)
    # The run pauses for its form; the tile follows it without a reload:
    expect(tile).to_contain_text("Paused", timeout=20_000)
    tile.click()
    run = landed_run(page)
    assert run.entity.tag == "payments-api"
    assert run.initiator.email == "grace@example.com"


def test_the_runs_tab_updates_by_itself_and_cancels_a_run(
    page: Page, live_server, demo, celery_worker_process
):
    paused = grace_provisions_ledger(page, live_server)
    page.goto(f"{live_server.url}/workflows/hello-world/")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("dialog", name="Confirm").get_by_role(
        "button", name="Run workflow"
    ).click()
    hello = landed_run(page)

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Workflows"
    ).click()
    page.get_by_role("link", name="Runs", exact=True).click()
    expect(page).to_have_url(re.compile(r"/workflows/runs/$"))
    # Polling shows both runs reaching their state without a reload:
    expect(page.locator(f"#run-{hello.pk}")).to_contain_text("Successful")
    row = page.locator(f"#run-{paused.pk}")
    expect(row).to_contain_text("Paused", timeout=20_000)
    expect(
        page.locator(f"#run-{hello.pk}").get_by_role(
            "link", name=re.compile("Cancel run")
        )
    ).to_have_count(0)

    cancel = row.get_by_role(
        "button", name=f"Cancel run {paused.pk} of Provision a service"
    )
    cancel.focus()
    # The paused run keeps the table refreshing: a refresh leaves focus where it was.
    page.evaluate(
        "() => new Promise((done) => document.body.addEventListener("
        "'htmx:afterSettle', done, {once: true}))"
    )
    expect(cancel).to_be_focused()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Cancel run")
    expect(dialog).to_contain_text("Provision a service")
    dialog.get_by_role("link", name="Keep running").press("Enter")
    expect(dialog).to_have_count(0)
    expect(cancel).to_be_focused()  # back where it was

    cancel.press("Enter")
    dialog.get_by_role("button", name="Cancel run").click()
    expect(dialog).to_have_count(0)
    expect(row).to_contain_text("Canceled")
    expect(row.get_by_role("button", name=re.compile("Cancel run"))).to_have_count(0)
    # Said where everyone hears it, and focus on the run, not lost:
    expect(page.get_by_role("status").filter(has_text="canceled")).to_have_text(
        f"Run {paused.pk} of Provision a service canceled."
    )
    expect(page.locator(f"#run-link-{paused.pk}")).to_be_focused()
    paused.refresh_from_db()
    assert paused.status == Run.Status.CANCELLED


def test_a_viewer_sees_workflows_and_runs_but_no_run_or_cancel(
    page: Page, live_server, demo
):
    log_in(page, live_server, "vera@example.com")
    page.goto(f"{live_server.url}/workflows/")
    expect(page.get_by_role("link", name="Hello world")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile(r"^Run "))).to_have_count(0)
    expect(page.get_by_text("You can see workflows but not run them")).to_be_visible()
    page.goto(f"{live_server.url}/workflows/hello-world/")
    expect(page.get_by_role("button", name="Run", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Access")).to_have_count(0)


def test_the_bell_tells_about_a_finished_run_and_links_to_it(
    page: Page, live_server, demo, celery_worker_process
):
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/workflows/hello-world/")
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("dialog", name="Confirm").get_by_role(
        "button", name="Run workflow"
    ).click()
    run = finished(landed_run(page))
    page.goto(f"{live_server.url}/workflows/")
    bell = page.locator("#notifications-menu summary")
    expect(bell).to_have_accessible_name(re.compile(r"^Notifications ?, \d+ unread"))
    bell.click()
    wait_for_htmx(page)
    expect(bell).to_have_accessible_name("Notifications")  # all read now
    item = page.locator("#notification-panel").get_by_role(
        "link", name=re.compile(r"Hello world #\d+ succeeded")
    )
    expect(item).to_be_visible()
    expect(page.locator("#notification-count .badge")).to_have_count(0)
    item.click()
    expect(page).to_have_url(re.compile(rf"/workflows/runs/{run.pk}/$"))


def test_on_a_phone_the_runs_filters_fold_away_until_asked_for_or_set(
    page: Page, live_server, demo
):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/workflows/runs/")
    status = page.get_by_label("Status")
    expect(status).to_be_hidden()
    page.get_by_text("Filters", exact=True).click()
    expect(status).to_be_visible()
    # A filter that is set stays in view:
    page.goto(f"{live_server.url}/workflows/runs/?status=PAUSED")
    expect(page.get_by_label("Status")).to_be_visible()
    expect(page.get_by_text("Filters (on)")).to_be_visible()
    # At a laptop's width they are always there, with no Filters button:
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{live_server.url}/workflows/runs/")
    expect(page.get_by_label("Status")).to_be_visible()
    expect(page.get_by_text("Filters", exact=True)).to_be_hidden()


def test_the_run_page_says_out_loud_when_its_run_changes_status(
    page: Page, live_server, demo, celery_worker_process
):
    run = grace_provisions_ledger(page, live_server)
    expect(page.locator("[data-test=run-status]")).to_have_text("Paused")
    announcer = page.get_by_role("status").and_(page.locator("#run-announcer"))

    engine.cancel(run, by=run.initiator)  # elsewhere: the page learns it by polling
    expect(announcer).to_have_text(f"Run {run.pk}: Canceled", timeout=15_000)
    expect(announcer).to_have_attribute("aria-live", "polite")


def test_on_a_phone_each_workflow_is_a_block_with_its_run_button_below_its_name(
    page: Page, live_server, demo
):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/workflows/")
    row = page.locator("#workflow-hello-world")
    name = row.get_by_role("link", name="Hello world", exact=True).bounding_box()
    run = row.get_by_role("button", name="Run Hello world").bounding_box()
    assert run["y"] > name["y"] + name["height"]
    assert run["x"] + run["width"] <= 390
    expect(row.locator('td[data-label="Runs on"]')).to_contain_text("Global")


def test_space_presses_run_and_cancel_run_as_it_presses_a_button(
    page: Page, live_server, demo
):
    from tests.e2e.test_run_page import save, start
    from tests.e2e.test_run_page_focus import SECRET

    run = start(save(SECRET), "grace@example.com")  # queued: no worker here
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/workflows/")
    page.get_by_role("button", name="Run Hello world").focus()
    page.keyboard.press("Space")
    expect(page.get_by_role("dialog", name="Confirm")).to_be_visible()
    page.keyboard.press("Escape")

    page.goto(f"{live_server.url}/workflows/runs/")
    # Whether the browser was told not to scroll, as Space on a button doesn't:
    page.evaluate(
        "window.addEventListener('keydown', (e) => { window.spaceKept = e.defaultPrevented; })"
    )
    page.get_by_role("button", name=f"Cancel run {run.pk} of Store a token").focus()
    page.keyboard.press("Space")
    expect(page.get_by_role("dialog")).to_contain_text("Cancel run")
    assert page.evaluate("window.spaceKept") is True


def test_a_recent_run_tile_shows_its_number_and_time_whole_beside_a_long_status(
    page: Page, live_server, demo
):
    from tests.e2e.test_run_page import save, start
    from tests.e2e.test_run_page_focus import SECRET

    for _ in range(2):
        start(save(SECRET), "grace@example.com")
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/workflows/")
    tiles = page.locator('[data-test="run-tile"]')
    expect(tiles).to_have_count(2)
    for tile in tiles.all():
        inside = tile.evaluate(
            """t => {
              const span = t.querySelector('span[title]');  // Run N · its time
              const a = span.getBoundingClientRect(), b = t.getBoundingClientRect();
              return span.textContent.startsWith('Run ') && span.scrollWidth <= span.clientWidth && a.right <= b.right;
            }"""
        )
        assert inside
