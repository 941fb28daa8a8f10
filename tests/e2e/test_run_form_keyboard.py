"""The run page's form from the keyboard: Enter in a field submits the form.

A form's implicit submission (Enter in a text field) presses its first submit
button in tree order. Nested rows' Remove and Add buttons are submit buttons
too (they work without JavaScript), so Enter must not reach them.
"""

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import log_in, wait_for_htmx
from tests.e2e.test_run_page import open_run, save, start, status
from workflows.models import Step

pytestmark = pytest.mark.e2e

ROWS = """
tag: list-hosts
name: List hosts
filter: {type: GLOBAL}
actions:
  - slug: ask
    name: Ask for hosts
    isRootAction: true
    outgoingActions: []
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs:
        - {key: hostnames, name: Hostnames, type: NESTED_FORM_FIELD, dataType: STRING, required: true, maxRows: 5}
        - key: servers
          name: Servers
          type: NESTED_FORM_FIELD
          dataType: OBJECT
          required: false
          inputs:
            - {key: host, name: Host, type: INPUT_FIELD, required: true}
        - {key: owner, name: Owner, type: INPUT_FIELD, required: true}
"""


def two_hostnames(page: Page):
    """The form, with two Hostnames rows typed in."""
    hostnames = page.get_by_role("group", name="Hostnames")
    expect(hostnames).to_be_visible(timeout=20_000)
    hostnames.get_by_label("Hostnames row 1").fill("a.example.com")
    hostnames.get_by_role("button", name="Add a row to Hostnames").click()
    wait_for_htmx(page)
    hostnames.get_by_label("Hostnames row 2").fill("b.example.com")
    return hostnames


def test_enter_in_a_row_field_submits_the_form_and_removes_no_row(
    page: Page, live_server, demo, celery_worker_process
):
    run = start(save(ROWS), "grace@example.com")
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    hostnames = two_hostnames(page)

    # Owner is left blank: the form comes back with its error, rows untouched.
    hostnames.get_by_label("Hostnames row 2").press("Enter")
    wait_for_htmx(page)
    expect(
        page.locator(".invalid-feedback").get_by_text("Owner is required.")
    ).to_be_visible()
    expect(hostnames.get_by_role("textbox")).to_have_count(2)
    expect(hostnames.get_by_label("Hostnames row 1")).to_have_value("a.example.com")
    expect(hostnames.get_by_label("Hostnames row 2")).to_have_value("b.example.com")
    expect(
        page.get_by_role("group", name="Servers").get_by_label("Host")
    ).to_have_count(1)

    page.get_by_role("textbox", name="Owner").fill("grace")
    page.get_by_role("textbox", name="Owner").press("Enter")

    expect(status(page)).to_have_text("Successful", timeout=20_000)
    assert Step.objects.get(run=run, slug="ask").outputs["hostnames"] == [
        "a.example.com",
        "b.example.com",
    ]


def test_enter_submits_the_form_without_javascript_too(
    browser: Browser, live_server, demo, celery_worker_process
):
    run = start(save(ROWS), "grace@example.com")
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, live_server, "grace@example.com")
        open_run(page, live_server, run)
        # Without JavaScript the page reloads itself until the form is there:
        expect(page.get_by_role("group", name="Hostnames")).to_be_visible(
            timeout=20_000
        )
        hostnames = two_hostnames(page)
        hostnames.get_by_label("Hostnames row 1").press("Enter")
        expect(
            page.locator(".invalid-feedback").get_by_text("Owner is required.")
        ).to_be_visible()
        expect(hostnames.get_by_label("Hostnames row 1")).to_have_value("a.example.com")
        expect(hostnames.get_by_label("Hostnames row 2")).to_have_value("b.example.com")
    finally:
        context.close()
