"""The run page in a browser, with a real worker: forms, secrets, approvals, Cancel run."""

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from portal.models import User, Workspace
from tests.conftest import wait_for
from tests.e2e.conftest import log_in, wait_for_htmx
from workflows import descriptor, services
from workflows.models import Run, RunEvent, Step

pytestmark = pytest.mark.e2e

NESTED = """
tag: register-servers
name: Register servers
filter: {type: GLOBAL}
runResponseTemplate: "Registered **{{actions.collect.outputs.owner}}**'s servers"
actions:
  - slug: collect
    name: Collect servers
    isRootAction: true
    outgoingActions: []
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs:
        - {key: owner, name: Owner, type: INPUT_FIELD, required: true}
        - {key: hostnames, name: Hostnames, type: NESTED_FORM_FIELD, dataType: STRING, required: true, maxRows: 5}
        - key: servers
          name: Servers
          type: NESTED_FORM_FIELD
          dataType: OBJECT
          required: true
          inputs:
            - {key: host, name: Host, type: INPUT_FIELD, required: true}
            - {key: port, name: Port, type: NUMBER_FIELD, format: INTEGER, required: true, min: 1, max: 65535}
"""

SECRET = """
tag: store-token
name: Store a token
filter: {type: GLOBAL}
actions:
  - slug: ask
    name: Ask for the token
    isRootAction: true
    outgoingActions: []
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs:
        - {key: label, name: Label, type: INPUT_FIELD, required: true}
        - {key: token, name: Token, type: SECRET_FIELD, required: true, validationRegex: '^ghp_[a-z0-9]{6}$'}
"""

APPROVAL = """
tag: ship-it
name: Ship it
filter: {type: GLOBAL}
runResponseTemplate: "Shipped, approved by {{#actions.approve.outputs.approvedBy}}{{.}}{{/actions.approve.outputs.approvedBy}}"
failedRunResponseTemplate: "Not shipped"
actions:
  - slug: approve
    name: Platform approval
    isRootAction: true
    outgoingActions: [done]
    schema:
      type: MANUAL_APPROVAL
      approvingTeamIds: [platform]
      approverDescription: "{{context.initiatedBy.email}} wants to ship."
  - slug: done
    name: Done
    isRootAction: false
    outgoingActions: []
    schema: {type: JQ, expression: '"shipped"'}
"""


def save(text: str):
    workspace = Workspace.objects.get(slug="demo")
    data = descriptor.validate(descriptor.parse(text))
    return services.workflow_upsert(workspace=workspace, descriptor=data)[0]


def start(workflow, email: str) -> Run:
    user = User.objects.get(email=email)
    perms = user.memberships.get(workspace=workflow.workspace).permission_set()
    return services.run_start(workflow=workflow, user=user, perms=perms)


def open_run(page: Page, live_server, run: Run) -> None:
    page.goto(f"{live_server.url}{run.get_absolute_url()}")


def status(page: Page):
    return page.locator('[data-test="run-status"]')


def response(page: Page):
    return page.locator('[data-test="run-response"]')


def fill_rows(page: Page, group, rows: list[dict[str, str]]) -> None:
    """Type each row's values into an Object nested form, adding rows as needed."""
    for index, row in enumerate(rows):
        if index:
            group.get_by_role("button", name="Add").click()
            wait_for_htmx(page)
        for label, value in row.items():
            group.get_by_label(label).nth(index).fill(value)


def test_nested_string_and_object_rows_are_added_removed_and_submitted(
    page: Page, live_server, demo, celery_worker_process
):
    run = start(save(NESTED), "grace@example.com")
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    # The form appears once the worker reaches it (the page updates by itself):
    expect(
        page.get_by_role("heading", name="Collect servers: your input is needed")
    ).to_be_visible(timeout=20_000)
    page.get_by_label("Owner").fill("grace")

    hostnames = page.get_by_role("group", name="Hostnames")
    hostnames.get_by_label("Hostnames row 1").fill("a.example.com")
    for number, host in [(2, "b.example.com"), (3, "c.example.com")]:
        hostnames.get_by_role("button", name="Add").click()
        wait_for_htmx(page)
        hostnames.get_by_label(f"Hostnames row {number}").fill(host)
    hostnames.get_by_role("button", name="Remove").nth(1).click()
    wait_for_htmx(page)
    expect(hostnames.get_by_role("textbox")).to_have_count(2)
    expect(hostnames.get_by_label("Hostnames row 1")).to_have_value("a.example.com")
    expect(hostnames.get_by_label("Hostnames row 2")).to_have_value("c.example.com")

    servers = page.get_by_role("group", name=re.compile(r"^Servers\*?$"))
    fill_rows(
        page,
        servers,
        [
            {"Host": "web-1", "Port": "80"},
            {"Host": "web-2", "Port": "8080"},
            {"Host": "web-3", "Port": "443"},
        ],
    )
    # Each row is a group a screen reader names with its field:
    expect(
        servers.get_by_role("group", name="Servers Row 2", exact=True).get_by_label(
            "Host"
        )
    ).to_have_value("web-2")
    servers.get_by_role("button", name="Remove").nth(1).click()
    wait_for_htmx(page)
    expect(servers.get_by_label("Host")).to_have_count(2)
    expect(servers.get_by_label("Host").nth(1)).to_have_value("web-3")
    expect(servers.get_by_label("Port").nth(1)).to_have_value("443")
    # Nothing typed elsewhere was lost on the way:
    expect(page.get_by_label("Owner")).to_have_value("grace")
    expect(hostnames.get_by_label("Hostnames row 2")).to_have_value("c.example.com")

    page.get_by_role("button", name="Submit").click()

    expect(status(page)).to_have_text("Successful", timeout=20_000)
    expect(response(page)).to_contain_text("Registered grace's servers")
    outputs = page.locator('[data-test="run-tab-outputs"]')
    expect(outputs).to_contain_text("a.example.com")
    expect(outputs).to_contain_text("c.example.com")
    expect(outputs).not_to_contain_text("b.example.com")
    servers_table = outputs.get_by_role("table")
    expect(servers_table.get_by_role("row")).to_have_count(3)
    expect(servers_table).to_contain_text("web-1")
    expect(servers_table).to_contain_text("web-3")
    expect(servers_table).not_to_contain_text("web-2")
    step = Step.objects.get(run=run, slug="collect")
    assert step.outputs["hostnames"] == ["a.example.com", "c.example.com"]
    assert step.outputs["servers"] == [
        {"host": "web-1", "port": 80},
        {"host": "web-3", "port": 443},
    ]


def test_a_secret_is_refused_by_its_regex_then_accepted_and_shown_masked(
    page: Page, live_server, demo, celery_worker_process
):
    run = start(save(SECRET), "grace@example.com")
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    token = page.get_by_role("textbox", name="Token")
    expect(token).to_be_visible(timeout=20_000)
    expect(token).to_have_attribute("type", "password")

    page.get_by_role("textbox", name="Label").fill("deploy key")
    token.fill("not-a-token")
    page.get_by_role("button", name="Submit").click()
    wait_for_htmx(page)

    expect(
        page.locator(".invalid-feedback").get_by_text(
            "Token is not in the expected format. The whole value must match the pattern ^ghp_[a-z0-9]{6}$."
        )
    ).to_be_visible()
    expect(page.get_by_role("textbox", name="Token")).to_have_value(
        ""
    )  # typed again, not sent back
    expect(page.get_by_role("textbox", name="Label")).to_have_value("deploy key")
    expect(status(page)).to_have_text("Paused")
    assert Step.objects.get(run=run, slug="ask").status == Step.Status.WAITING

    page.get_by_role("textbox", name="Token").fill("ghp_abc123")
    page.get_by_role("button", name="Submit").click()

    expect(status(page)).to_have_text("Successful", timeout=20_000)
    outputs = page.locator('[data-test="run-tab-outputs"]')
    expect(outputs).to_contain_text("deploy key")
    expect(outputs).to_contain_text("********")
    assert "ghp_abc123" not in page.content()
    page.get_by_role("link", name="Run context").click()
    wait_for_htmx(page)
    expect(page.locator('[data-test="run-context"]')).to_be_visible()
    assert "ghp_abc123" not in page.content()


SECRETS_IN_ROWS = """
tag: register-databases
name: Register databases
filter: {type: GLOBAL}
actions:
  - slug: ask
    name: Ask for the databases
    isRootAction: true
    outgoingActions: [measure]
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs:
        - {key: label, name: Label, type: INPUT_FIELD, required: true}
        - {key: token, name: Token, type: SECRET_FIELD, required: true, validationRegex: '^ghp_[a-z0-9]{6}$'}
        - key: servers
          name: Servers
          type: NESTED_FORM_FIELD
          dataType: OBJECT
          required: true
          inputs:
            - {key: host, name: Host, type: INPUT_FIELD, required: true}
            - {key: password, name: Password, type: SECRET_FIELD, required: true}
  - slug: measure
    name: Measure
    isRootAction: false
    outgoingActions: []
    schema:
      type: JAVASCRIPT
      script: 'return {token: actions.ask.outputs.token.length, passwords: actions.ask.outputs.servers.map(s => s.password.length)};'
"""


def test_secrets_typed_survive_add_remove_and_errors_elsewhere_in_their_rows(
    page: Page, live_server, demo, celery_worker_process
):
    run = start(save(SECRETS_IN_ROWS), "grace@example.com")
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    token = page.get_by_role("textbox", name="Token")
    expect(token).to_be_visible(timeout=20_000)
    token.fill("ghp_abc123")
    servers = page.get_by_role("group", name="Servers")
    fill_rows(
        page,
        servers,
        [
            {"Host": "db-1", "Password": "pw-one"},
            {"Host": "db-2", "Password": "pw-two"},
            {"Host": "db-3", "Password": "pw-three"},
        ],
    )
    servers.get_by_role("button", name="Remove").nth(1).click()
    wait_for_htmx(page)

    # Row 3 is row 2 now, its password with it; the token is still there:
    expect(servers.get_by_label("Host")).to_have_count(2)
    expect(servers.get_by_label("Password").nth(0)).to_have_value("pw-one")
    expect(servers.get_by_label("Password").nth(1)).to_have_value("pw-three")
    expect(page.get_by_role("textbox", name="Token")).to_have_value("ghp_abc123")

    # An error elsewhere (Label is required) keeps them too:
    page.get_by_role("button", name="Submit").click()
    wait_for_htmx(page)
    expect(
        page.locator(".invalid-feedback").get_by_text("Label is required.")
    ).to_be_visible()
    expect(page.get_by_role("textbox", name="Token")).to_have_value("ghp_abc123")
    expect(servers.get_by_label("Password").nth(1)).to_have_value("pw-three")

    page.get_by_role("textbox", name="Label").fill("primary")
    page.get_by_role("button", name="Submit").click()
    expect(status(page)).to_have_text("Successful", timeout=20_000)
    measured = Step.objects.get(run=run, slug="measure").outputs
    assert measured == {"token": 10, "passwords": [6, 8]}
    assert "pw-three" not in page.content()


def test_linus_approves_a_run_grace_started_and_her_page_updates_by_itself(
    page: Page, browser: Browser, live_server, demo, celery_worker_process
):
    run = start(save(APPROVAL), "grace@example.com")
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    expect(
        page.get_by_role("heading", name="Platform approval: waiting for approval")
    ).to_be_visible(timeout=20_000)
    expect(page.get_by_text("Who may decide:")).to_contain_text("linus@example.com")
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)

    linus_context = browser.new_context()
    try:
        linus = linus_context.new_page()
        log_in(linus, live_server, "linus@example.com")
        open_run(linus, live_server, run)
        approval = linus.get_by_role(
            "region", name="Platform approval: your approval is needed"
        )
        expect(approval.get_by_text("grace@example.com wants to ship.")).to_be_visible()
        linus.get_by_role("button", name="Approve").click()
        expect(status(linus)).to_have_text("Successful", timeout=20_000)
        expect(linus.get_by_text("Platform approval: you approved.")).to_be_visible()
    finally:
        linus_context.close()

    # Grace did nothing: the poller brought the result to her page.
    expect(status(page)).to_have_text("Successful", timeout=20_000)
    expect(response(page)).to_contain_text("Shipped, approved by linus@example.com")
    run.refresh_from_db()
    assert (
        run.steps.get(slug="approve").decisions.get().user.email == "linus@example.com"
    )


def test_linus_rejects_a_run_with_a_reason(
    page: Page, live_server, demo, celery_worker_process
):
    run = start(save(APPROVAL), "grace@example.com")
    wait_for(lambda: Run.objects.get(pk=run.pk).status == Run.Status.PAUSED, timeout=20)
    log_in(page, live_server, "linus@example.com")
    open_run(page, live_server, run)

    page.get_by_role("button", name="Reject").click()
    wait_for_htmx(page)
    expect(page.get_by_text("Give a reason for rejecting.")).to_be_visible()
    expect(status(page)).to_have_text("Paused")

    page.get_by_label("Reason").fill("Not during the freeze")
    page.get_by_role("button", name="Reject").click()

    expect(status(page)).to_have_text("Error", timeout=20_000)
    expect(
        page.get_by_role("alert").filter(has_text="The run was rejected")
    ).to_contain_text("Rejected by linus@example.com: Not during the freeze")
    expect(response(page)).to_contain_text("Not shipped")
    expect(page.get_by_role("button", name="Reject")).to_have_count(0)


def test_cancel_run_from_the_run_page_asks_first_then_cancels(
    page: Page, live_server, demo, celery_worker_process
):
    run = start(save(SECRET), "grace@example.com")
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    expect(page.get_by_role("textbox", name="Token")).to_be_visible(timeout=20_000)

    page.get_by_role("button", name="Cancel run").click()
    dialog = page.get_by_role("dialog", name="Cancel run")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Keep running").click()
    expect(dialog).to_be_hidden()
    assert Run.objects.get(pk=run.pk).status == Run.Status.PAUSED

    page.get_by_role("button", name="Cancel run").click()
    dialog.get_by_role("button", name="Cancel run").click()

    expect(page).to_have_url(re.compile(rf"{run.get_absolute_url()}$"))
    expect(status(page)).to_have_text("Canceled")
    expect(page.get_by_text("This run was canceled.")).to_be_visible()
    expect(page.get_by_role("textbox", name="Token")).to_have_count(0)
    expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    assert Run.objects.get(pk=run.pk).status == Run.Status.CANCELLED


def test_the_page_updates_by_itself_without_touching_the_form_or_closing_blocks(
    page: Page, live_server, demo, celery_worker_process
):
    run = start(save(SECRET), "grace@example.com")
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    label = page.get_by_role("textbox", name="Label")
    expect(label).to_be_visible(timeout=20_000)
    label.fill("half-typed")
    page.get_by_role("link", name="Activity").click()
    wait_for_htmx(page)
    expect(page).to_have_url(re.compile(r"\?tab=activity$"))
    page.locator("#block-ask summary").click()
    expect(page.locator("#block-ask")).to_have_attribute("open", "")

    RunEvent.objects.create(run=run, kind="note", message="Someone had a look")

    expect(page.get_by_text("Someone had a look")).to_be_visible(timeout=10_000)
    expect(label).to_have_value("half-typed")
    expect(page.locator("#block-ask")).to_have_attribute("open", "")


def grace_opens_a_slow_call(page: Page, live_server) -> Run:
    """Grace's run of "slow-call", in progress with a block in flight (a worker
    holds it), open on its page."""
    import uuid

    from tests.workflows.test_views import make_run, workflow

    ws = Workspace.objects.get(slug="demo")
    grace = User.objects.get(email="grace@example.com")
    run = make_run(workflow(ws, "slow-call"), status="IN_PROGRESS", initiator=grace)
    Run.objects.filter(pk=run.pk).update(lease=uuid.uuid4())
    log_in(page, live_server, "grace@example.com")
    page.goto(f"{live_server.url}{run.get_absolute_url()}")
    return run


def test_the_canceling_message_goes_once_the_run_has_ended(
    page: Page, live_server, demo
):
    run = grace_opens_a_slow_call(page, live_server)
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel run").click()
    canceling = page.get_by_role("alert").filter(has_text="Canceling run")
    expect(canceling).to_be_visible()
    expect(page.locator("[data-test=run-status]")).to_have_text("Canceling")

    # The worker's block in flight finishes; the run ends canceled:
    Run.objects.filter(pk=run.pk).update(status="CANCELLED", lease=None)

    expect(page.locator("[data-test=run-status]")).to_have_text(
        "Canceled", timeout=10_000
    )
    expect(canceling).to_have_count(0)
    expect(page.locator("#run-announcer")).to_have_text(f"Run {run.pk}: Canceled")


def test_the_run_page_asks_every_half_second_at_first_then_every_two_seconds(
    page: Page, live_server, demo
):
    page.clock.install()
    grace_opens_a_slow_call(page, live_server)
    # The poller's own asking stops; the test asks in its place:
    page.evaluate("document.getElementById('run-poller').remove()")
    due = "() => cairnPollDue()"
    # For 10 s after the page loads, every time the poller asks (0.5 s):
    assert [page.evaluate(due) for _ in range(3)] == [True, True, True]
    page.clock.run_for(10_500)
    assert page.evaluate(due) is True  # 2 s since it last asked
    page.clock.run_for(500)
    assert page.evaluate(due) is False
    page.clock.run_for(1600)
    assert page.evaluate(due) is True


def test_the_canceling_message_is_not_shown_beside_a_run_that_ended_meanwhile(
    page: Page, live_server, demo
):
    run = grace_opens_a_slow_call(page, live_server)

    def block_returns_first(route):
        answer = route.fetch(max_redirects=0)  # the cancel: Canceling
        # The block in flight returns before the browser loads the run page:
        Run.objects.filter(pk=run.pk).update(status="CANCELLED", lease=None)
        route.fulfill(response=answer)

    page.route("**/cancel/", block_returns_first)
    page.get_by_role("button", name="Cancel run").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel run").click()
    expect(page.locator("[data-test=run-status]")).to_have_text("Canceled")
    expect(page.get_by_text("Canceling run")).to_have_count(0)


def test_a_session_ended_mid_form_is_said_and_the_form_goes_through_after_logging_in_again(
    page: Page, live_server, demo, celery_worker_process
):
    """Before, the poller swapped a whole login page into the run page, and a
    login made in another tab left the open form with a refused CSRF token."""
    run = start(save(SECRET), "grace@example.com")
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    label = page.get_by_role("textbox", name="Label")
    expect(label).to_be_visible(timeout=20_000)
    label.fill("deploy key")
    page.get_by_role("textbox", name="Token").fill("ghp_abc123")

    # Logged out in another tab:
    other = page.context.new_page()
    other.goto(f"{live_server.url}/")
    other.get_by_role("button", name="Log out").click()

    problem = page.locator('[data-test="request-problem"]')
    expect(problem).to_contain_text("Your session has ended", timeout=10_000)
    expect(page.get_by_label("Email address")).to_have_count(
        0
    )  # no login page swapped in
    expect(label).to_have_value("deploy key")

    # Logged in again in that tab: the token the form was given is stale now.
    log_in(other, live_server, "grace@example.com")
    expect(problem).to_be_hidden(timeout=10_000)  # the next poll went through
    expect(page.get_by_role("textbox", name="Token")).to_have_value("ghp_abc123")
    page.get_by_role("button", name="Submit").click()

    expect(status(page)).to_have_text("Successful", timeout=20_000)
    assert Step.objects.get(run=run, slug="ask").outputs["label"] == "deploy key"


def test_a_refusal_with_nowhere_to_show_it_is_said_and_stays_while_the_page_polls(
    page: Page, live_server, demo, celery_worker_process
):
    """A 404 from a request of the page (here for a run that is gone) is said
    above the page; the poller's answers don't hide it (review), the person
    does."""
    run = start(save(SECRET), "grace@example.com")
    log_in(page, live_server, "grace@example.com")
    open_run(page, live_server, run)
    expect(page.get_by_role("textbox", name="Label")).to_be_visible(timeout=20_000)

    page.evaluate(
        "htmx.ajax('GET', '/workflows/runs/999999/status/', {source: document.body, swap: 'none'})"
    )
    problem = page.locator('[data-test="request-problem"]')
    expect(problem).to_contain_text("not there for you any more")
    page.wait_for_timeout(2500)  # several polls (every half second at first)
    expect(problem).to_be_visible()
    problem.get_by_role("button", name="Dismiss").click()
    expect(problem).to_be_hidden()
