import re

import pytest
from playwright.sync_api import Page, expect

from portal.models import Workspace
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
    required = base_url.locator("label .asteriskField")
    expect(required).to_be_hidden()

    page.get_by_role("combobox", name="Kind").select_option("Jira")
    expect(required).to_be_visible()
    expect(base_url.get_by_text("Required: your site's address")).to_be_visible()
    expect(base_url.get_by_text("Leave empty for https://slack.com.")).to_be_hidden()
    token = page.locator("#div_id_token")
    expect(token.get_by_text("email:API token", exact=False)).to_be_visible()
    expect(token.get_by_text("A bot token", exact=False)).to_be_hidden()
    expect(token.get_by_text("Stored encrypted", exact=False)).to_be_visible()


def test_an_admin_links_a_members_github_login_and_the_member_sees_it(
    page: Page, live_server, demo
):
    from workflows.models import Integration

    Integration.objects.create(
        workspace=Workspace.objects.get(slug="demo"),
        kind="GITHUB",
        base_url="https://api.github.com",
    )
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/settings/members/")
    page.get_by_role("row", name="grace@example.com").get_by_role(
        "link", name="Change roles"
    ).click()
    accounts = page.locator("#linked-accounts")
    accounts.get_by_label("GitHub (default)").fill("grace hopper")
    accounts.get_by_role("button", name="Save linked accounts").click()
    expect(
        page.get_by_text("The GitHub (default) account must be a GitHub login")
    ).to_be_visible()
    accounts.get_by_label("GitHub (default)").fill("grace-hopper")
    accounts.get_by_role("button", name="Save linked accounts").click()
    expect(
        page.get_by_text("Linked accounts of grace@example.com saved.")
    ).to_be_visible()

    page.context.clear_cookies()
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/settings/")
    page.get_by_role("link", name="Linked accounts").first.click()
    expect(
        page.get_by_role("row", name="GitHub (default)").get_by_text("grace-hopper")
    ).to_be_visible()


def test_leaving_every_role_unticked_says_so_on_the_page(page: Page, live_server, demo):
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/settings/api-keys/")
    page.get_by_label("Name").fill("deploys")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("Choose at least one role.")).to_be_visible()

    page.goto(f"{live_server.url}/settings/members/")
    page.get_by_role("row", name="grace@example.com").get_by_role(
        "link", name="Change roles"
    ).click()
    for box in page.locator("#div_id_roles").get_by_role("checkbox").all():
        box.uncheck()
    page.get_by_role("button", name="Save roles").click()
    expect(page.get_by_text("Choose at least one role.")).to_be_visible()


def test_a_form_that_comes_back_with_an_error_puts_focus_on_the_bad_field(
    page: Page, live_server, demo
):
    page.set_viewport_size({"width": 390, "height": 844})  # the field is far down
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/settings/ip-allowlist/")
    page.get_by_label("Address or range").fill("999.1.1.1")
    page.get_by_label("Address or range").press("Enter")

    field = page.get_by_label("Address or range")
    expect(field).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(field).to_be_focused()
    expect(field).to_be_in_viewport()


def test_removing_a_member_asks_in_a_dialog_that_keeps_them_unless_confirmed(
    page: Page, live_server, demo
):
    from portal.models import Membership

    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/settings/members/")
    vera = page.get_by_role("row", name="vera@example.com")
    remove = vera.get_by_role("button", name="Remove")
    remove.click()
    dialog = page.get_by_role("dialog", name="Remove vera@example.com from")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_text("They lose access, leave its teams")).to_be_visible()

    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_be_hidden()
    expect(remove).to_be_focused()
    page.keyboard.press("Enter")  # the same button, from the keyboard
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert Membership.objects.filter(user__email="vera@example.com").exists()

    remove.click()
    dialog.get_by_role("button", name="Remove", exact=True).click()
    expect(page.get_by_role("row", name="vera@example.com")).to_have_count(0)
    assert not Membership.objects.filter(
        user__email="vera@example.com", workspace__slug="demo"
    ).exists()


def test_on_a_phone_a_settings_page_starts_on_the_first_screen_with_its_section_shown(
    page: Page, live_server, demo
):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/settings/ip-allowlist/")
    heading = page.get_by_role("heading", name="IP allowlist", level=1)
    assert heading.bounding_box()["y"] < 844 / 2
    current = page.get_by_role("navigation", name="Settings").get_by_role(
        "link", name="IP allowlist"
    )
    box = current.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    expect(current).to_have_attribute("aria-current", "page")


def test_the_confirm_dialog_keeps_a_name_with_a_question_mark_whole(
    page: Page, live_server, demo
):
    from portal.models import Role

    Role.objects.create(
        workspace=Workspace.objects.get(slug="demo"), name="Who? Me", permissions=[]
    )
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/settings/roles/")
    page.get_by_role("row", name="Who? Me").get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name="Delete the role Who? Me?")
    expect(dialog).to_be_visible()
    expect(
        dialog.get_by_text("Members and API keys that have it lose it.")
    ).to_be_visible()
    dialog.get_by_role("button", name="Keep it").click()
    # Asked again the next time, and Delete deletes:
    page.get_by_role("row", name="Who? Me").get_by_role("button", name="Delete").click()
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_role("row", name="Who? Me")).to_have_count(0)


def test_a_new_key_page_puts_focus_on_the_copy_it_now_warning(
    page: Page, live_server, demo
):
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/settings/api-keys/")
    page.get_by_label("Name").fill("deploys")
    page.locator("#div_id_roles").get_by_role("checkbox").first.check()
    page.get_by_role("button", name="Create key").click()

    warning = page.locator("#copy-warning")
    expect(warning).to_contain_text("Copy it now.")
    expect(warning).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Copy")).to_be_focused()
