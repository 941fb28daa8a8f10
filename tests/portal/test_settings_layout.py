"""Settings pages in Chromium at a laptop's and a phone's width: nothing is cut off."""

import pytest
from playwright.sync_api import Page, expect

from portal import services
from portal.models import Role, User, Workspace
from tests.e2e.conftest import browser_type_launch_args, demo, log_in  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("demo")]

LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _right_edge_overflow(page: Page, selector: str) -> list[float]:
    """How far each match reaches past the right edge of what its scroller shows
    (or the window), in pixels; 0 for one in full view."""
    return page.locator(selector).evaluate_all(
        """els => els.map(el => {
            const scroller = el.closest('.table-responsive');
            const edge = scroller
                ? scroller.getBoundingClientRect().right
                : document.documentElement.clientWidth;
            return Math.max(0, el.getBoundingClientRect().right - edge);
        })"""
    )


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1280px", "390px"])
def test_every_members_change_roles_and_remove_buttons_are_in_view_without_scrolling(
    page: Page, live_server, viewport
):
    page.set_viewport_size(viewport)
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/settings/members/")
    buttons = "table .btn"
    expect(page.get_by_role("button", name="Remove grace@example.com")).to_be_visible()
    assert page.locator(buttons).count() >= 7  # 4 Change roles, 3 Remove
    assert _right_edge_overflow(page, buttons) == [0] * page.locator(buttons).count()
    scroller = page.locator(".table-responsive").first
    assert scroller.evaluate("el => el.scrollWidth <= el.clientWidth")


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1280px", "390px"])
def test_the_delete_team_button_has_its_icon_and_text_on_one_line(
    page: Page, live_server, viewport
):
    page.set_viewport_size(viewport)
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/settings/teams/")
    page.get_by_role("link", name="Platform").first.click()
    delete = page.get_by_role("button", name="Delete")
    save = page.get_by_role("button", name="Save team")
    # One line of text: as tall as the Save button next to it, not twice that.
    assert delete.bounding_box()["height"] == save.bounding_box()["height"]


TABLE_PAGES = [
    "/catalog/",
    "/workflows/cut-a-release/",  # its blocks
    "/settings/members/",
    "/settings/roles/",
    "/settings/teams/",
    "/settings/api-keys/",
    "/settings/tokens/",
    "/settings/secrets/",
    "/settings/integrations/",
    "/settings/ip-allowlist/",
    "/settings/outbound-allowlist/",
]


def _a_row_in_every_settings_table() -> None:
    ws = Workspace.objects.get(slug="demo")
    ada = User.objects.get(email="ada@example.com")
    admin = Role.objects.get(workspace=ws, name="Admin")
    services.api_key_create(
        workspace=ws,
        name="Deploy bot for the payments pipeline",
        description="Used by CI to start release workflows",
        roles=[admin],
        created_by=ada,
    )
    services.api_key_create(workspace=ws, name="Ada's laptop CLI", user=ada)
    services.secret_create(
        workspace=ws, tag="pagerduty-routing-key", name="PagerDuty key", value="s3"
    )
    services.integration_create(
        workspace=ws,
        kind="SLACK",
        alias="engineering-announcements",
        base_url="https://slack.internal.example.com/api",
        token="t",
    )
    services.ip_allowlist_add(
        workspace=ws, address="2001:db8:1234:5678::/64", description="Office VPN"
    )
    services.outbound_allowlist_add(workspace=ws, host="artifacts.internal.example.com")


@pytest.mark.parametrize("path", TABLE_PAGES)
def test_every_table_fits_a_phone_with_each_row_stacked_and_labelled(
    page: Page, live_server, path
):
    _a_row_in_every_settings_table()
    page.set_viewport_size(PHONE)
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}{path}")
    table = page.locator("table.table-stack").first
    expect(table.locator("tbody tr").first).to_be_visible()
    assert page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    scroller = page.locator(".table-responsive").first
    assert scroller.evaluate("el => el.scrollWidth <= el.clientWidth")
    # Stacked: the header row is hidden and the cells after the first name themselves.
    assert table.locator("thead").evaluate(
        "el => el.getBoundingClientRect().height <= 1"
    )
    labelled = table.locator("tbody tr").first.locator("td[data-label]")
    assert labelled.count() >= 1
    assert (
        _right_edge_overflow(page, "table td") == [0] * page.locator("table td").count()
    )
