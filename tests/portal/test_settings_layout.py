"""Settings pages in Chromium at a laptop's and a phone's width: nothing is cut off."""

import pytest
from playwright.sync_api import Page, expect

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
