"""Keyboard focus on the run page: after an in-page update it lands somewhere
useful (an error, the row changed, the message saying what happened), never on
<body>; the Cancel run dialog is a modal that takes focus and gives it back."""

import pytest
from playwright.sync_api import Page, expect

from catalog.models import Team
from tests.conftest import wait_for
from tests.e2e.conftest import log_in, wait_for_htmx
from tests.e2e.test_run_form_keyboard import ROWS
from tests.e2e.test_run_page import APPROVAL, SECRET, open_run, save, start, status
from workflows.models import Run

pytestmark = pytest.mark.e2e


def focused_is_body(page: Page) -> bool:
    return page.evaluate("document.activeElement === document.body")


def paused(run: Run) -> Run:
    wait_for(lambda: Run.objects.get(pk=run.pk).status == Run.Status.PAUSED, timeout=20)
    return run


def test_a_form_sent_back_with_errors_puts_focus_on_its_first_invalid_field(
    page: Page, live_server, demo, celery_worker_process
):
    run = start(save(SECRET), "grace@example.com")
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    token = page.get_by_role("textbox", name="Token")
    expect(token).to_be_visible(timeout=20_000)
    page.get_by_role("textbox", name="Label").fill("deploy key")
    token.fill("not-a-token")
    page.get_by_role("button", name="Submit").click()
    wait_for_htmx(page)

    expect(
        page.locator(".invalid-feedback").get_by_text(
            "Token is not in the expected format"
        )
    ).to_be_visible()
    expect(page.get_by_role("textbox", name="Token")).to_be_focused()


def test_a_link_of_the_error_summary_puts_focus_on_its_field(
    page: Page, live_server, demo, celery_worker_process
):
    run = start(save(SECRET), "grace@example.com")
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    expect(page.get_by_role("textbox", name="Token")).to_be_visible(timeout=20_000)
    page.get_by_role("textbox", name="Token").fill("not-a-token")
    page.get_by_role("button", name="Submit").click()
    wait_for_htmx(page)

    summary = page.locator('[data-test="error-summary"]')
    expect(summary).to_contain_text("Label: Label is required.")
    expect(page.get_by_role("textbox", name="Label")).to_be_focused()
    summary.get_by_role("link", name="Token").click()
    expect(page.get_by_role("textbox", name="Token")).to_be_focused()
    summary.get_by_role("link", name="Label").click()
    expect(page.get_by_role("textbox", name="Label")).to_be_focused()


def test_a_form_the_run_comes_to_takes_focus_nobody_had_moved(
    page: Page, live_server, demo
):
    from workflows import engine

    # No worker: the run waits, queued, while Grace looks at it.
    run = start(save(SECRET), "grace@example.com")
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    expect(status(page)).to_be_visible()
    assert focused_is_body(page)

    engine.advance(run.pk)  # a worker gets to it: the run waits for the form

    heading = page.get_by_role(
        "heading", name="Ask for the token: your input is needed"
    )
    expect(heading).to_be_visible(timeout=10_000)
    expect(heading).to_be_focused()


def test_a_form_the_run_comes_to_leaves_focus_where_someone_put_it(
    page: Page, live_server, demo
):
    from workflows import engine

    run = start(save(SECRET), "grace@example.com")
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    page.get_by_role("link", name="Activity").focus()

    engine.advance(run.pk)

    expect(page.get_by_role("textbox", name="Token")).to_be_visible(timeout=10_000)
    expect(page.get_by_role("link", name="Activity")).to_be_focused()


def test_rejecting_without_a_reason_puts_focus_on_the_reason_which_says_what_is_missing(
    page: Page, live_server, demo, celery_worker_process
):
    run = paused(start(save(APPROVAL), "grace@example.com"))
    log_in(page, live_server, "linus@example.com")
    open_run(page, live_server, run)

    page.get_by_role("button", name="Reject").click()
    wait_for_htmx(page)

    reason = page.get_by_role("textbox", name="Reason")
    expect(reason).to_be_focused()
    expect(reason).to_have_accessible_description(
        "Required to reject; optional when you approve. Everyone who can see the"
        " run sees it. Give a reason for rejecting."
    )
    expect(reason).to_have_attribute("aria-invalid", "true")


def test_a_refused_decision_puts_focus_on_the_alert_saying_why(
    page: Page, live_server, demo, celery_worker_process
):
    run = paused(start(save(APPROVAL), "grace@example.com"))
    log_in(page, live_server, "linus@example.com")
    open_run(page, live_server, run)
    expect(page.get_by_role("button", name="Approve")).to_be_visible()
    # Someone takes linus out of the team while the page is open:
    Team.objects.get(workspace=run.workspace, tag="platform").members.clear()

    page.get_by_role("button", name="Approve").click()
    wait_for_htmx(page)

    alert = page.locator('[data-test="run-action-error"]')
    expect(alert).to_contain_text("You are not one of the approvers of this step.")
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_be_focused()


def test_a_reason_being_typed_survives_another_approvers_decision_and_keeps_focus(
    page: Page, live_server, demo, celery_worker_process
):
    from portal.models import User
    from workflows import engine

    two = APPROVAL.replace(
        "approvingTeamIds: [platform]",
        "approvingTeamIds: [platform]\n      requiredApprovals: 2",
    )
    run = paused(start(save(two), "grace@example.com"))
    team = Team.objects.get(workspace=run.workspace, tag="platform")
    ada = User.objects.get(email="ada@example.com")
    team.members.add(ada)
    log_in(page, live_server, "linus@example.com")
    open_run(page, live_server, run)
    reason = page.get_by_role("textbox", name="Reason")
    reason.fill("Looks risky becau")
    expect(page.locator("#run-action")).to_contain_text("0 of 2 approvals")

    step = run.steps.get(slug="approve")
    engine.decide(Run.objects.get(pk=run.pk), step, by=ada, approve=True)

    expect(page.locator("#run-action")).to_contain_text(
        "1 of 2 approvals", timeout=20_000
    )
    expect(reason).to_have_value("Looks risky becau")
    expect(reason).to_be_focused()
    assert page.evaluate("document.activeElement.selectionStart") == len(
        "Looks risky becau"
    )


def test_a_reason_typed_for_one_approval_is_not_carried_into_the_next(
    page: Page, live_server, demo, celery_worker_process
):
    from portal.models import User
    from workflows import engine

    two_steps = (
        APPROVAL.replace("outgoingActions: [done]", "outgoingActions: [again]", 1)
        + """  - slug: again
    name: Second approval
    isRootAction: false
    outgoingActions: [done]
    schema: {type: MANUAL_APPROVAL, approvingTeamIds: [platform]}
"""
    )
    run = paused(start(save(two_steps), "grace@example.com"))
    ada = User.objects.get(email="ada@example.com")
    Team.objects.get(workspace=run.workspace, tag="platform").members.add(ada)
    log_in(page, live_server, "linus@example.com")
    open_run(page, live_server, run)
    page.get_by_role("textbox", name="Reason").fill("About the first step")

    engine.decide(run, run.steps.get(slug="approve"), by=ada, approve=True)

    expect(page.locator("#run-action")).to_contain_text(
        "Second approval", timeout=20_000
    )
    expect(page.get_by_role("textbox", name="Reason")).to_have_value("")


def test_the_message_that_input_was_sent_goes_once_the_run_is_canceled(
    page: Page, live_server, demo, celery_worker_process
):
    from workflows import engine

    form_then_wait = """
tag: form-then-wait
name: Form then wait
filter: {type: GLOBAL}
actions:
  - slug: ask
    name: Collect
    isRootAction: true
    outgoingActions: [approve]
    schema:
      type: USER_INPUT
      inputs: [{key: note, name: Note, type: INPUT_FIELD, required: true}]
  - slug: approve
    name: Platform approval
    isRootAction: false
    outgoingActions: []
    schema: {type: MANUAL_APPROVAL, approvingTeamIds: [platform]}
"""
    run = paused(start(save(form_then_wait), "grace@example.com"))
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    page.get_by_role("textbox", name="Note").fill("ship it")
    page.get_by_role("button", name="Submit").click()
    sent = page.get_by_role("alert").filter(
        has_text="Collect: your input was submitted."
    )
    expect(sent).to_be_visible(timeout=20_000)
    wait_for(lambda: Run.objects.get(pk=run.pk).steps.filter(slug="approve").exists())

    engine.cancel(Run.objects.get(pk=run.pk), by=None)

    expect(status(page)).to_have_text("Canceled", timeout=20_000)
    expect(sent).to_have_count(0)
    assert not focused_is_body(page)


def test_after_approving_focus_is_on_the_message_that_says_so(
    page: Page, live_server, demo, celery_worker_process
):
    run = paused(start(save(APPROVAL), "grace@example.com"))
    log_in(page, live_server, "linus@example.com")
    open_run(page, live_server, run)

    page.get_by_role("button", name="Approve").click()

    message = page.get_by_role("alert").filter(
        has_text="Platform approval: you approved."
    )
    expect(message).to_be_visible(timeout=20_000)
    expect(message).to_be_focused()
    assert not focused_is_body(page)


def test_adding_and_removing_a_row_puts_focus_in_the_rows(
    page: Page, live_server, demo, celery_worker_process
):
    run = start(save(ROWS), "grace@example.com")
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    hostnames = page.get_by_role("group", name="Hostnames")
    expect(hostnames).to_be_visible(timeout=20_000)
    hostnames.get_by_label("Hostnames row 1").fill("a.example.com")

    hostnames.get_by_role("button", name="Add a row to Hostnames").click()
    wait_for_htmx(page)
    expect(hostnames.get_by_label("Hostnames row 2")).to_be_focused()

    page.keyboard.type("b.example.com")
    hostnames.get_by_role("button", name="Remove Hostnames row 1").click()
    wait_for_htmx(page)
    # The row that took its place, now row 1:
    row = hostnames.get_by_label("Hostnames row 1")
    expect(row).to_have_value("b.example.com")
    expect(row).to_be_focused()


def test_a_tab_chosen_from_the_keyboard_keeps_focus_when_the_page_updates(
    page: Page, live_server, demo, celery_worker_process
):
    run = paused(start(save(SECRET), "grace@example.com"))
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    page.get_by_role("link", name="Activity").focus()
    page.keyboard.press("Enter")
    wait_for_htmx(page)

    expect(page.locator('[data-test="run-tab-activity"]')).to_be_visible()
    expect(page.get_by_role("link", name="Activity")).to_be_focused()


def test_cancel_run_opens_a_modal_that_keeps_focus_and_gives_it_back(
    page: Page, live_server, demo, celery_worker_process
):
    run = paused(start(save(SECRET), "grace@example.com"))
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    cancel = page.get_by_role("button", name="Cancel run")

    cancel.click()
    dialog = page.get_by_role("dialog", name="Cancel run")
    expect(dialog).to_be_visible()
    # The same question as on the Runs tab:
    expect(dialog).to_contain_text(
        f"Cancel the run of Store a token started {run.created_at:%Y-%m-%d} "
    )
    expect(dialog).to_contain_text("by grace@example.com?")
    keep = dialog.get_by_role("button", name="Keep running")
    expect(keep).to_be_focused()
    # Tab goes round the dialog, never into the page behind it:
    for _ in range(6):
        page.keyboard.press("Tab")
        outside = page.evaluate(
            "!document.getElementById('cancel-run-dialog').contains(document.activeElement)"
            " && document.activeElement !== document.body"
        )
        assert not outside
    keep.click()
    expect(dialog).to_be_hidden()
    expect(cancel).to_be_focused()

    cancel.press("Enter")
    expect(keep).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(cancel).to_be_focused()
    assert Run.objects.get(pk=run.pk).status == Run.Status.PAUSED

    cancel.press("Enter")
    dialog.get_by_role("button", name="Cancel run").click()
    expect(status(page)).to_have_text("Canceled")
    expect(page.get_by_role("alert").filter(has_text="canceled")).to_be_focused()
