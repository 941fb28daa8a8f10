"""Creating and editing a workflow in the browser: settings, YAML, Access, delete."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import log_in
from workflows.models import Workflow

pytestmark = pytest.mark.e2e


def test_an_admin_creates_edits_opens_access_and_deletes_a_workflow(
    page: Page, live_server, demo
):
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/workflows/")
    page.get_by_role("link", name="Create workflow").click()
    page.get_by_label("Name").fill("Rotate keys")
    page.get_by_role("button", name="Create workflow").click()
    expect(page).to_have_url(re.compile(r"/workflows/rotate-keys/$"))
    expect(page.get_by_role("heading", name="Rotate keys")).to_be_visible()
    expect(page.get_by_text("Draft", exact=True).first).to_be_visible()

    # Settings: publish it and scope it to services
    page.get_by_role("link", name="Edit settings").click()
    page.get_by_label("Published: everyone who may see workflows sees it").check()
    page.get_by_label("An entity, chosen when it starts").check()
    page.get_by_label("Service", exact=True).check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    expect(page.get_by_text("An entity of type service")).to_be_visible()

    # YAML: an error is listed and nothing is saved; fixed, it saves
    page.get_by_role("link", name="Edit YAML").click()
    editor = page.get_by_label("Descriptor")
    good = editor.input_value()
    editor.fill(good.replace("type: JQ", "type: NOT_A_BLOCK"))
    page.get_by_role("button", name="Save descriptor").click()
    errors = page.locator("#descriptor-errors li")
    expect(errors.first).to_contain_text("NOT_A_BLOCK")
    assert Workflow.objects.get(tag="rotate-keys").versions.count() == 2
    page.get_by_label("Descriptor").fill(good.replace("Say hello", "Greet"))
    page.get_by_role("button", name="Save descriptor").click()
    expect(page.get_by_role("cell", name=re.compile("Greet"))).to_be_visible()

    # Access: Runnable via API
    page.get_by_role("button", name="Access").click()
    dialog = page.get_by_role("dialog", name="Access")
    dialog.get_by_label("Runnable via API").check()
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_text("can be run via the API")).to_be_visible()
    assert Workflow.objects.get(tag="rotate-keys").is_runnable_via_api

    # Delete, after confirming
    page.get_by_role("button", name="Delete").click()
    page.get_by_role("dialog", name="Delete workflow").get_by_role(
        "button", name="Delete workflow"
    ).click()
    expect(page).to_have_url(re.compile(r"/workflows/$"))
    expect(page.get_by_text("Workflow Rotate keys deleted.")).to_be_visible()
    assert not Workflow.objects.filter(tag="rotate-keys").exists()


def test_a_user_sees_no_editing_controls(page: Page, live_server, demo):
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}/workflows/")
    expect(page.get_by_role("link", name="Create workflow")).to_have_count(0)
    page.get_by_role("link", name="Hello world", exact=True).click()
    for name in ("Access", "Edit settings", "Edit YAML", "Delete"):
        expect(page.get_by_role("link", name=name)).to_have_count(0)
    expect(page.get_by_role("link", name="Export YAML")).to_be_visible()


def test_an_import_refused_puts_focus_on_the_list_of_its_problems(
    page: Page, live_server, demo
):
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/workflows/new/")
    page.get_by_label("Descriptor (YAML or JSON)").fill("tag: broken\nname: Broken\n")
    page.get_by_role("button", name="Import workflow").click()

    problems = page.locator("#import-errors")
    expect(problems).to_contain_text("Nothing was saved")
    expect(problems).to_be_focused()
    assert not Workflow.objects.filter(tag="broken").exists()


def test_the_yaml_editor_numbers_its_lines_beside_them_as_it_scrolls(
    page: Page, live_server, demo
):
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/workflows/cut-a-release/yaml/")
    editor = page.get_by_label("Descriptor")
    gutter = page.locator(".yaml-gutter")
    lines = editor.input_value().count("\n") + 1
    expect(gutter).to_be_visible()
    expect(gutter).to_have_text("\n".join(str(n) for n in range(1, lines + 1)))
    # A number is where its line is: the same font, size, line height and top.
    same = page.evaluate(
        """() => {
          const g = getComputedStyle(document.querySelector('.yaml-gutter'));
          const e = getComputedStyle(document.querySelector('.yaml-editor'));
          const top = (s) => parseFloat(s.paddingTop);
          return ['fontFamily', 'fontSize', 'lineHeight'].every((k) => g[k] === e[k])
            && Math.abs(top(g) + 1 - (top(e) + parseFloat(e.borderTopWidth))) < 0.5;
        }"""
    )
    assert same

    editor.press("Control+End")
    editor.press("Enter")
    editor.type("# a line more")
    expect(gutter).to_have_text("\n".join(str(n) for n in range(1, lines + 2)))
    scrolled = page.evaluate(
        "() => [document.querySelector('.yaml-editor').scrollTop,"
        " document.querySelector('.yaml-gutter').scrollTop]"
    )
    assert scrolled[0] > 0 and scrolled[0] == scrolled[1]


def test_a_yaml_problem_at_a_line_puts_the_caret_there_when_asked(
    page: Page, live_server, demo
):
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/workflows/cut-a-release/yaml/")
    editor = page.get_by_label("Descriptor")
    text = editor.input_value().replace("type: INPUT_FIELD", "type: [", 1)
    editor.fill(text)
    page.get_by_role("button", name="Save descriptor").click()
    problem = page.locator("#descriptor-errors li")
    expect(problem).to_contain_text("invalid YAML: line ")
    line, column = map(
        int, re.search(r"line (\d+), column (\d+)", problem.inner_text()).groups()
    )

    page.get_by_role("button", name=f"Go to line {line}").click()
    expect(editor).to_be_focused()
    caret = page.evaluate("() => document.querySelector('.yaml-editor').selectionStart")
    lines = editor.input_value().split("\n")
    assert caret == sum(len(text) + 1 for text in lines[: line - 1]) + column - 1


def test_a_problem_inside_an_expression_offers_no_go_to_line(
    page: Page, live_server, demo
):
    log_in(page, live_server, "ada@example.com")
    page.goto(f"{live_server.url}/workflows/hello-world/yaml/")
    editor = page.get_by_label("Descriptor")
    text = editor.input_value()
    editor.fill(re.sub(r"expression: .*", "expression: '.a |||'", text, count=1))
    page.get_by_role("button", name="Save descriptor").click()
    expect(page.locator("#descriptor-errors li")).to_contain_text("line 1")
    expect(page.get_by_role("button", name=re.compile("Go to line"))).to_have_count(0)
