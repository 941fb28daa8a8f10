"""Text on the grey page reaches WCAG's 4.5:1 contrast: links, and the pink of
inline code (Bootstrap's own shades are 4.3:1 there)."""

import re

import pytest
from playwright.sync_api import Page

from tests.e2e.conftest import log_in

pytestmark = pytest.mark.e2e

# The element's colour and the first opaque background behind it:
COLOURS = """(element) => {
  let node = element, background = "rgba(0, 0, 0, 0)";
  while (node && /rgba\\(.*, 0\\)$/.test(background)) {
    background = getComputedStyle(node).backgroundColor;
    node = node.parentElement;
  }
  return [getComputedStyle(element).color, background];
}"""


def luminance(css: str) -> float:
    red, green, blue = (int(v) / 255 for v in re.findall(r"\d+", css)[:3])

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(locator) -> float:
    text, background = locator.evaluate(COLOURS)
    light, dark = sorted((luminance(text), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_inline_code_and_links_on_the_grey_page_reach_4_5_to_1(
    page: Page, live_server, demo
):
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/workflows/hello-world/")
    code = page.locator("main code", has_text="hello-world").first
    assert contrast(code) >= 4.5
    link = page.locator("main").get_by_role("link", name="Workflows").first
    assert contrast(link) >= 4.5
