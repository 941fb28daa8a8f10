import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import log_in

pytestmark = pytest.mark.e2e


def test_adding_an_integration_shows_only_the_chosen_kinds_hints(
    page: Page, live_server, demo
):
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/settings/integrations/")
    base_url = page.locator("#div_id_base_url")

    expect(base_url.get_by_text("Leave empty for https://slack.com.")).to_be_visible()
    expect(base_url.get_by_text("https://gitlab.com", exact=False)).to_be_hidden()

    page.get_by_role("combobox", name="Kind").select_option("Jira")
    expect(base_url.get_by_text("Required: your site's address")).to_be_visible()
    expect(base_url.get_by_text("Leave empty for https://slack.com.")).to_be_hidden()
    token = page.locator("#div_id_token")
    expect(token.get_by_text("email:API token", exact=False)).to_be_visible()
    expect(token.get_by_text("A bot token", exact=False)).to_be_hidden()
    expect(token.get_by_text("Stored encrypted", exact=False)).to_be_visible()
