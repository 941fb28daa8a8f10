import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import log_in, wait_for_htmx

pytestmark = pytest.mark.e2e


def test_a_user_logs_in_finds_an_entity_opens_its_workflows_and_logs_out(
    page: Page, live_server, demo
):
    log_in(page, live_server, "grace@example.com")
    sidebar = page.get_by_role("navigation", name="Main")
    expect(sidebar.get_by_text("Catalogs")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Workflows")).to_be_visible()
    expect(sidebar.get_by_role("link", name="Settings")).to_be_visible()

    sidebar.get_by_role("link", name="All entities").click()
    expect(page.get_by_role("heading", name="All entities")).to_be_visible()
    expect(page.get_by_role("link", name="Payments API")).to_be_visible()

    page.get_by_placeholder("Search by name or tag").fill("ledg")
    wait_for_htmx(page)
    expect(page.get_by_role("link", name="Ledger")).to_be_visible()
    expect(page.get_by_role("link", name="Payments API")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"q=ledg"))

    page.get_by_role("link", name="Ledger").click()
    expect(page.get_by_role("heading", name="Ledger")).to_be_visible()
    entity_nav = page.get_by_role("navigation", name="Entity")
    expect(entity_nav.get_by_role("link", name="Overview")).to_be_visible()
    entity_nav.get_by_role("link", name="Workflows").click()
    expect(page.get_by_role("heading", name="Workflows")).to_be_visible()
    expect(entity_nav.get_by_role("link", name="Workflows")).to_have_attribute(
        "aria-current", "page"
    )

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to Cairn")).to_be_visible()
    page.goto(f"{live_server.url}/catalog/")
    expect(page).to_have_url(re.compile(r"/login/"))


def test_a_user_switches_workspace_and_sees_only_its_entities(
    page: Page, live_server, demo
):
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/catalog/")
    expect(page.get_by_role("link", name="Payments API")).to_be_visible()
    page.get_by_label("Workspace").select_option("acme")
    page.get_by_role("button", name="Switch").click()
    expect(page.get_by_role("link", name="Rocket API")).to_be_visible()
    expect(page.get_by_role("link", name="Payments API")).to_have_count(0)


def test_the_keyboard_skips_to_the_content_and_escape_closes_the_bell(
    page: Page, live_server, demo
):
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/catalog/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    sidebar = page.get_by_role("navigation", name="Main")
    expect(sidebar.get_by_role("link", name="All entities")).to_have_attribute(
        "aria-current", "page"
    )

    bell = page.locator("#notifications-menu")
    bell.locator("summary").click()
    expect(bell).to_have_attribute("open", "")
    page.keyboard.press("Escape")
    expect(bell).not_to_have_attribute("open", "")
    expect(bell.locator("summary")).to_be_focused()
