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
    run_button = page.get_by_role("link", name=f"Run {LONG}")
    expect(run_button).to_be_visible()
    assert in_view(page, run_button)

    page.goto(f"{live_server.url}/workflows/runs/")
    assert fits_the_window(page)
    cancel = page.get_by_role("link", name=re.compile(f"Cancel run \\d+ of {LONG}"))
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
