"""A name without spaces as long as the form allows (200 characters) wraps: no
page gets wider than the window, and Run and Cancel run stay in view."""

import re

import pytest
from playwright.sync_api import Page, expect

from catalog.models import Entity
from portal.models import Workspace
from tests.e2e.conftest import log_in
from tests.e2e.test_run_page import save, start
from workflows.models import Secret
from workflows.secrets import encrypt

pytestmark = pytest.mark.e2e

LONG = "W" * 200
WORKFLOW = f"""
tag: long
name: {LONG}
filter: {{type: GLOBAL}}
actions:
  - {{slug: ask, name: Ask, isRootAction: true, outgoingActions: [],
     schema: {{type: USER_INPUT, inputs: [{{key: n, name: N, type: INPUT_FIELD, required: false}}]}}}}
"""


def fits_the_window(page: Page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def one_line(locator) -> bool:
    """Whether the element's text is laid out on one line."""
    return locator.evaluate(
        "e => { const r = document.createRange(); r.selectNodeContents(e);"
        " return new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size === 1; }"
    )


def in_view(page: Page, locator) -> bool:
    box = locator.bounding_box()
    return box is not None and box["x"] + box["width"] <= page.viewport_size["width"]


def test_a_200_character_name_wraps_on_every_page_that_shows_it(
    page: Page, live_server, demo
):
    run = start(save(WORKFLOW), "ada@example.com")
    demo_ws = Workspace.objects.get(slug="demo")
    Secret.objects.create(
        workspace=demo_ws, tag="t" * 100, name=LONG, encrypted_value=encrypt("x")
    )
    Entity.objects.filter(workspace=demo_ws, tag="payments-api").update(name=LONG)
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server, "ada@example.com")

    page.goto(f"{live_server.url}/workflows/")
    assert fits_the_window(page)
    run_button = page.get_by_role("button", name=f"Run {LONG}")
    expect(run_button).to_be_visible()
    assert in_view(page, run_button)

    page.goto(f"{live_server.url}/workflows/runs/")
    assert fits_the_window(page)
    cancel = page.get_by_role("button", name=re.compile(f"Cancel run \\d+ of {LONG}"))
    assert in_view(page, cancel)

    for path in (
        "/workflows/long/",
        run.get_absolute_url(),
        "/settings/secrets/",
        "/catalog/",
        "/catalog/payments-api/",
    ):
        page.goto(f"{live_server.url}{path}")
        assert fits_the_window(page), path
    page.goto(f"{live_server.url}{run.get_absolute_url()}")
    assert in_view(page, page.get_by_role("button", name="Cancel run").first)


VALUE = "v" * 2000
VALUES = f"""
tag: long-values
name: Long values
filter: {{type: GLOBAL}}
runResponseTemplate: |
  | Host | Value |
  | --- | --- |
  | a | {{{{actions.make.outputs.result.0.value}}}} |
actions:
  - slug: make
    name: Make
    isRootAction: true
    outgoingActions: []
    schema: {{type: JQ, expression: '[{{name: "a", value: "{VALUE}", verdict: "APPROVED", by: "linus@example.com"}}]'}}
"""


def test_a_2000_character_value_wraps_in_the_response_outputs_and_block_tables(
    page: Page, live_server, demo, celery_worker_process
):
    from tests.conftest import wait_for
    from workflows.models import Run

    run = start(save(VALUES), "ada@example.com")
    wait_for(lambda: Run.objects.get(pk=run.pk).status == Run.Status.COMPLETED)
    log_in(page, live_server, "ada@example.com")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"{live_server.url}{run.get_absolute_url()}")
        expect(page.locator('[data-test="run-response"] td').last).to_contain_text(
            VALUE[:100]
        )
        assert fits_the_window(page), width
        page.locator(".run-blocks summary", has_text="Make").click()  # inputs, outputs
        # The list of objects is a table:
        expect(page.locator(".run-blocks td", has_text=VALUE[:100])).to_be_visible()
        assert fits_the_window(page), width
        # whose short values keep their words whole (QA: "APPROVE/D"):
        for word in ("APPROVED", "linus@example.com"):
            cell = page.locator(".run-blocks td", has_text=word)
            assert one_line(cell), (word, width)


def test_a_200_character_workflow_name_wraps_in_the_run_dialog_and_the_message(
    page: Page, live_server, demo
):
    save(WORKFLOW)
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/workflows/")
    page.get_by_role("button", name=f"Run {LONG}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(LONG)
    fits = dialog.evaluate("d => d.scrollWidth <= d.clientWidth")
    assert fits
    dialog.get_by_role("button", name="Run workflow").click()
    expect(page.get_by_role("alert").filter(has_text="started")).to_be_visible()
    assert fits_the_window(page)
