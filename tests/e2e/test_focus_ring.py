"""Keyboard focus shows on every kind of control: a 2px ring, white in the dark
sidebar (Bootstrap's own rules for buttons, fields and nav links take the
outline away, and ours put it back)."""

import pytest
from playwright.sync_api import Page

from tests.e2e.conftest import log_in

pytestmark = pytest.mark.e2e

FOCUSED = """() => {
  const el = document.activeElement, style = getComputedStyle(el);
  return {
    what: el.tagName.toLowerCase() + (el.className ? "." + el.className.split(" ").join(".") : ""),
    style: style.outlineStyle, width: style.outlineWidth, color: style.outlineColor,
    sidebar: !!el.closest(".sidebar"),
  };
}"""


def focus_stops(page: Page, count: int) -> list[dict]:
    stops = []
    for _ in range(count):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUSED)
        if stop["what"] != "body":  # past the last control, before the first
            stops.append(stop)
    return stops


@pytest.mark.parametrize("path", ["/workflows/", "/settings/secrets/"])
def test_every_control_reached_with_tab_shows_a_focus_ring(
    page: Page, live_server, demo, path
):
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}{path}")
    stops = focus_stops(page, 40)
    kinds = {"btn", "nav-link", "form-control", "form-select"}
    reached = {k for s in stops for k in kinds if f".{k}" in s["what"] + "."}
    assert {"btn", "nav-link"} <= reached, stops  # the kinds that showed nothing
    for stop in stops:
        assert (stop["style"], stop["width"]) == ("solid", "2px"), stop
        white = stop["color"] == "rgb(255, 255, 255)"
        assert white == stop["sidebar"], stop
