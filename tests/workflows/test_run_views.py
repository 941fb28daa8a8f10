"""The run page: status and blocks, live updates, forms, approvals, the initiator pick."""

import re
from datetime import timedelta
from html import unescape
from urllib.parse import unquote

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import Team
from portal.models import Role
from tests.factories import EntityFactory, UserFactory, api_key, member
from tests.workflows.enginekit import action, chain, make_workflow
from workflows import engine, services
from workflows.models import Decision, Notification, Run, RunEvent, Step
from workflows.secrets import MASK

S = Run.Status
HX = {"HX-Request": "true"}


def run_to_rest(run: Run) -> Run:
    """Advance until the run pauses or ends (what workers would do)."""
    for _ in range(200):
        run.refresh_from_db()
        if run.status != S.IN_PROGRESS:
            return run
        engine.advance(run.pk)
    raise AssertionError("run did not come to rest")


def start(workflow, user, **kwargs) -> Run:
    return run_to_rest(engine.start(workflow=workflow, initiator=user, **kwargs))


def page(client, run, **params):
    return client.get(reverse("workflows:run-detail", args=[run.pk]), params)


def poll(client, run, **params):
    return client.get(
        reverse("workflows:run-status", args=[run.pk]), params, headers=HX
    )


def submit(client, run, data, *, htmx=False):
    url = reverse("workflows:run-submit-input", args=[run.pk])
    return client.post(url, data, headers=HX if htmx else {})


def decide(client, run, data, *, htmx=False):
    url = reverse("workflows:run-decide", args=[run.pk])
    return client.post(url, data, headers=HX if htmx else {})


def text(response) -> str:
    return response.content.decode()


def refusal(html: str) -> str:
    """The message of the run page's refusal alert."""
    found = re.search(r'data-test="run-action-error">.*?<div>(.*?)</div>', html, re.S)
    return unescape(found.group(1))


def poll_url(html: str) -> str:
    return (
        re.search(r'id="run-poller" hx-get="([^"]+)"', html)
        .group(1)
        .replace("&amp;", "&")
    )


FORM_INPUTS = [
    {
        "type": "INPUT_FIELD",
        "key": "contact",
        "name": "Owner contact",
        "required": True,
        "validationRegex": r"^[^@\s]+@[^@\s]+$",
    },
    {
        "type": "NESTED_FORM_FIELD",
        "key": "hostnames",
        "name": "Hostnames",
        "required": False,
        "dataType": "STRING",
        "maxRows": 3,
    },
    {
        "type": "NESTED_FORM_FIELD",
        "key": "envVars",
        "name": "Environment variables",
        "required": False,
        "dataType": "OBJECT",
        "inputs": [
            {
                "type": "INPUT_FIELD",
                "key": "name",
                "name": "Name",
                "required": True,
                "validationRegex": "^[A-Z_]+$",
            },
            {"type": "INPUT_FIELD", "key": "value", "name": "Value", "required": True},
        ],
    },
    {
        "type": "SECRET_FIELD",
        "key": "password",
        "name": "Database password",
        "required": True,
        "validationRegex": "^.{12,}$",
    },
]


def form_workflow(ws, *, restricted=False, inputs=FORM_INPUTS, tag="form-wf"):
    return make_workflow(
        ws,
        [
            action("collect", "USER_INPUT", ["after"], root=True, inputs=inputs),
            action("after", "ECHO", [], outputs={"done": "yes"}),
        ],
        tag=tag,
        restrictActionCompletionToRunnerUser=restricted,
        runResponseTemplate="Contact: **{{actions.collect.outputs.contact}}**",
    )


def waiting_step(run: Run) -> Step:
    return Step.objects.get(run=run, status=Step.Status.WAITING)


VALID = {
    "contact": "ops@example.com",
    "hostnames.TOTAL": "2",
    "hostnames.0.value": "a.example.com",
    "hostnames.1.value": "b.example.com",
    "envVars.TOTAL": "1",
    "envVars.0.name": "LOG_LEVEL",
    "envVars.0.value": "debug",
    "password": "correct horse battery",
}


@pytest.fixture
def platform(ws):
    linus = UserFactory(email="linus@example.com", first_name="Linus")
    member(ws, linus, "User")
    team = Team.objects.create(workspace=ws, tag="platform", name="Platform")
    team.members.add(linus)
    return team


@pytest.fixture
def linus(platform):
    return platform.members.get()


def approval_workflow(ws, **schema):
    return make_workflow(
        ws,
        [
            action(
                "collect",
                "USER_INPUT",
                ["approve"],
                root=True,
                inputs=[FORM_INPUTS[0], FORM_INPUTS[3]],
            ),
            action(
                "approve",
                "MANUAL_APPROVAL",
                ["after"],
                **{
                    "approvingTeamIds": ["platform"],
                    "approverDescription": "Ship it for **{{context.initiatedBy.email}}**?",
                    **schema,
                },
            ),
            action("after", "ECHO", [], outputs={"done": "yes"}),
        ],
        tag="approval-wf",
    )


def waiting_for_approval(client, ws, grace, **schema) -> Run:
    run = start(approval_workflow(ws, **schema), grace)
    client.force_login(grace)
    submit(
        client,
        run,
        {
            "step": waiting_step(run).pk,
            "contact": "ops@example.com",
            "password": "correct horse battery",
        },
    )
    run = run_to_rest(run)
    assert run.status == S.PAUSED
    return run


# --- the page -------------------------------------------------------------------------------


def test_the_run_page_shows_the_workflow_status_initiator_and_every_block(
    client, ws, grace, test_blocks
):
    run = start(form_workflow(ws), grace)
    client.force_login(grace)

    r = page(client, run)

    assert r.status_code == 200
    html = text(r)
    assert '<h1 class="h3 mb-0">Form-Wf</h1>' in html
    assert 'data-test="run-status">Paused</span>' in html
    assert "grace@example.com" in html
    assert "via UI" in html
    blocks = re.findall(r'data-test="block" data-slug="([^"]+)"', html)
    assert blocks == ["collect", "after"]
    # The block not reached yet is listed as pending:
    assert re.search(r"After</span>.*?Pending</span>", html, re.S)


def test_the_run_page_links_the_entity_the_run_is_on(client, ws, grace, test_blocks):
    entity = EntityFactory(workspace=ws, tag="payments", name="Payments API")
    wf = make_workflow(ws, chain("a"), filter={"type": "ENTITY"})
    run = start(wf, grace, entity=entity)
    client.force_login(grace)
    html = text(page(client, run))
    assert f'href="{reverse("catalog:entity-detail", args=["payments"])}"' in html
    assert "Payments API" in html


def test_the_run_page_names_an_entity_deleted_since_the_run_started(
    client, ws, grace, test_blocks
):
    entity = EntityFactory(workspace=ws, tag="payments", name="Payments API")
    run = start(
        make_workflow(ws, chain("a"), filter={"type": "ENTITY"}), grace, entity=entity
    )
    entity.delete()
    client.force_login(grace)
    html = text(page(client, run))
    assert "· on Payments API" in html and "(deleted since)" in html
    assert reverse("catalog:entity-detail", args=["payments"]) not in html


def test_the_run_page_says_when_the_run_started_and_ended_as_the_run_lists_do(
    client, ws, grace, test_blocks
):
    run = start(make_workflow(ws, chain("a")), grace)
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(
        created_at=now - timedelta(seconds=27), finished_at=now - timedelta(seconds=5)
    )
    client.force_login(grace)
    html = text(page(client, run))
    # (humanize puts a no-break space between a number and its unit)
    assert re.search(r"· started <time [^>]*>27\xa0seconds ago</time>", html)
    assert re.search(r"· ended <time [^>]*>5\xa0seconds ago</time>", html)
    # What the Runs tab says of the same run:
    runs_tab = text(client.get(reverse("workflows:run-list")))
    assert re.search(
        r'<td class="text-nowrap small" [^>]*>27\xa0seconds ago</td>', runs_tab
    )


def test_the_run_page_names_the_workflow_as_the_version_the_run_ran_calls_it(
    client, ws, grace, test_blocks
):
    wf = make_workflow(ws, chain("a"), tag="qa-form", name="QA form test")
    run = start(wf, grace)
    services.workflow_upsert(
        workspace=ws,
        descriptor={**wf.current_version.descriptor, "name": "QA form test v2"},
    )
    client.force_login(grace)

    html = text(page(client, run))

    assert "<title>QA form test · run" in html
    assert '<h1 class="h3 mb-0">QA form test</h1>' in html
    workflow_url = reverse("workflows:workflow-detail", args=["qa-form"])
    assert f'<a href="{workflow_url}">QA form test</a></li>' in html  # breadcrumb
    assert (
        f'· version 1 of the workflow now called <a href="{workflow_url}">'
        "QA form test v2</a>" in html
    )
    # The poller's header says the same:
    html = text(poll(client, run))
    assert '<h1 class="h3 mb-0">QA form test</h1>' in html


def test_blocks_follow_the_graph_with_the_path_not_taken_marked_skipped(
    client, ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [
            action("first", "ECHO", ["branch"], root=True),
            action(
                "branch",
                "CONDITIONAL_BRANCH",
                ["left", "right"],
                target="right",
                joiningAction="join",
            ),
            action("left", "ECHO", ["left-2"]),
            action("left-2", "ECHO", []),
            action("right", "ECHO", []),
            action("join", "ECHO", []),
        ],
    )
    run = start(wf, grace)
    client.force_login(grace)
    html = text(page(client, run))
    order = re.findall(r'data-test="block" data-slug="([^"]+)"', html)
    assert order == ["first", "branch", "left", "left-2", "right", "join"]
    assert Step.objects.get(run=run, slug="left").status == Step.Status.SKIPPED
    assert "Skipped" in html


def test_a_completed_run_shows_its_response_and_does_not_poll(
    client, ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        chain("a", "b"),
        runResponseTemplate="## Done\n\nSee <script>alert(1)</script> **now**",
    )
    run = start(wf, grace)
    client.force_login(grace)
    html = text(page(client, run))
    assert run.status == S.COMPLETED
    assert "<h4>Done</h4>" in html  # under the page's h2 "Response"
    assert "<strong>now</strong>" in html
    assert "<script>alert(1)</script>" not in html
    assert 'id="run-poller"' in html
    assert "hx-trigger=" not in re.search(r'<div id="run-poller"[^>]*>', html).group(0)
    assert 'http-equiv="refresh"' not in html


def test_a_run_in_progress_polls_its_status_often_then_every_two_seconds(
    client, ws, grace, test_blocks
):
    run = engine.start(workflow=make_workflow(ws, chain("a")), initiator=grace)
    assert run.status == S.IN_PROGRESS
    client.force_login(grace)
    html = text(page(client, run))
    poller = re.search(r'<div id="run-poller"[^>]*>', html).group(0)
    # Every half second, when cairnPollDue() says so (e2e: test_run_page):
    assert 'hx-trigger="every 0.5s [cairnPollDue()]"' in poller
    assert "now - asked >= 2 * 1000" in html and "Date.now() + 10 * 1000" in html
    assert "Running…" in html
    # Without JavaScript the page reloads itself instead:
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html


def test_a_failed_run_shows_the_error_and_its_block_holds_it(
    client, ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [
            action("a", "ECHO", ["boom"], root=True),
            action("boom", "FAIL", ["c"], message="the disk is full"),
            action("c"),
        ],
        failedRunResponseTemplate="Failed in *{{context.workflowRunId}}*",
    )
    run = start(wf, grace)
    client.force_login(grace)
    html = text(page(client, run))
    assert 'data-test="run-status">Error</span>' in html
    assert "The run failed.</strong> Boom: the disk is full" in html
    assert "<strong>Error:</strong> the disk is full" in html
    assert f"<em>{run.uid}</em>" in html
    assert re.search(r"C</span>.*?Not run</span>", html, re.S)


def test_the_outputs_tab_shows_each_block_s_outputs_with_secrets_masked(
    client, ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [
            action(
                "a",
                "ECHO",
                [],
                root=True,
                outputs={"who": "{{context.initiatedBy.email}}"},
                secretOutputs={"token": "ghp_topsecret"},
            )
        ],
    )
    run = start(wf, grace)
    client.force_login(grace)
    html = text(page(client, run))
    assert 'data-test="run-tab-outputs"' in html
    assert "grace@example.com" in html
    assert MASK in html
    assert "ghp_topsecret" not in html


def test_the_run_context_tab_shows_the_run_context(client, ws, grace, test_blocks):
    run = start(make_workflow(ws, chain("a")), grace, initial_context={"ticket": 42})
    client.force_login(grace)
    html = text(page(client, run, tab="context"))
    assert 'data-test="run-tab-context"' in html
    assert "&quot;workflowRunId&quot;: &quot;" + str(run.uid) in html
    assert "&quot;ticket&quot;: 42" in html


def test_the_activity_tab_lists_the_run_s_events(client, ws, grace, test_blocks):
    run = start(make_workflow(ws, chain("a")), grace)
    client.force_login(grace)
    html = text(page(client, run, tab="activity"))
    assert "Started via UI" in html
    assert "A completed" in html


def test_a_run_of_another_workspace_is_not_found(client, ws, grace, ted, test_blocks):
    run = start(make_workflow(ws, chain("a")), grace)
    client.force_login(ted)
    assert page(client, run).status_code == 404
    assert "Switch to" not in text(page(client, run))  # nor named to outsiders
    assert poll(client, run).status_code == 404
    r = submit(client, run, {"step": "1"})
    assert r.status_code == 404
    assert decide(client, run, {"step": "1"}).status_code == 404


def test_a_run_of_another_of_ones_workspaces_offers_to_switch_there(
    client, ws, other_ws, grace, ted, test_blocks
):
    """An email's link, opened with another workspace open."""
    run = start(make_workflow(other_ws, chain("a")), ted)
    member(other_ws, grace, "User")  # grace joined One first: One is open
    client.force_login(grace)
    r = page(client, run)
    assert r.status_code == 404
    html = text(r)
    assert (
        "It belongs to <strong>Two</strong>, and <strong>One</strong> is open." in html
    )
    assert "Switch to Two" in html
    url = reverse("workflows:run-detail", args=[run.pk])
    switched = client.post("/workspaces/switch/", {"workspace": "two", "next": url})
    assert switched["Location"] == url
    assert "Switch to" not in text(page(client, run))
    assert page(client, run).status_code == 200


def test_the_switch_is_offered_only_where_one_may_see_runs(
    client, ws, other_ws, grace, ted, test_blocks
):
    run = start(make_workflow(other_ws, chain("a")), ted)
    Role.objects.create(workspace=other_ws, name="Catalog only", permissions=[])
    member(other_ws, grace, "Catalog only")
    client.force_login(grace)
    r = page(client, run)
    assert r.status_code == 404 and "Switch to" not in text(r)


def test_the_switch_is_offered_to_someone_who_may_not_see_runs_where_they_are(
    client, ws, other_ws, grace, ted, test_blocks
):
    mine = start(make_workflow(ws, chain("a")), grace)
    theirs = start(make_workflow(other_ws, chain("a")), ted)
    Role.objects.create(workspace=ws, name="Catalog only", permissions=[])
    member(ws, grace, "Catalog only")
    member(other_ws, grace, "User")
    client.force_login(grace)
    assert "Switch to Two" in text(page(client, theirs))
    assert page(client, mine).status_code == 403  # as before: no right to see it


def test_the_run_page_needs_a_login(client, ws, grace, test_blocks):
    run = start(make_workflow(ws, chain("a")), grace)
    r = page(client, run)
    assert r.status_code == 302
    assert "/login/" in r["Location"]


def test_the_run_page_s_queries_do_not_grow_with_its_steps_and_events(
    client, ws, grace, test_blocks, django_assert_max_num_queries
):
    def queries_for(slugs):
        wf = make_workflow(ws, chain(*slugs), tag=f"wf-{len(slugs)}")
        run = start(wf, grace)
        assert run.status == S.COMPLETED
        with CaptureQueriesContext(connection) as captured:
            assert page(client, run, tab="activity").status_code == 200
        return len(captured), run

    client.force_login(grace)
    small, _ = queries_for([f"s{i}" for i in range(2)])
    large, run = queries_for([f"b{i}" for i in range(40)])
    assert RunEvent.objects.filter(run=run).count() > 40
    assert large == small
    with django_assert_max_num_queries(small):
        page(client, run, tab="outputs")


def test_a_paused_run_s_page_queries_do_not_grow_with_its_steps(
    client, ws, grace, linus, test_blocks, django_assert_max_num_queries
):
    def approval_after(count):
        actions = chain(*[f"s{i}" for i in range(count)])
        actions[-1]["outgoingActions"] = ["approve"]
        actions.append(
            action("approve", "MANUAL_APPROVAL", [], approvingTeamIds=["platform"])
        )
        return start(make_workflow(ws, actions, tag=f"wf-{count}"), grace)

    client.force_login(linus)
    small = approval_after(2)
    with CaptureQueriesContext(connection) as captured:
        page(client, small)
    large = approval_after(30)
    with django_assert_max_num_queries(len(captured)):
        page(client, large)


# --- live updates -----------------------------------------------------------------------------


def test_the_poller_answers_204_while_nothing_changed(client, ws, grace, test_blocks):
    run = engine.start(workflow=make_workflow(ws, chain("a", "b")), initiator=grace)
    client.force_login(grace)
    url = poll_url(text(page(client, run)))
    r = client.get(url, headers=HX)
    assert r.status_code == 204


def test_the_poller_sends_the_changed_regions_but_not_the_form(
    client, ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [
            action("a", "ECHO", ["collect"], root=True),
            action("collect", "USER_INPUT", [], inputs=FORM_INPUTS[:1]),
        ],
    )
    run = engine.start(workflow=wf, initiator=grace)
    client.force_login(grace)
    url = poll_url(text(page(client, run)))
    engine.advance(run.pk)  # the worker runs a block: the run pauses for input

    r = client.get(url, headers=HX)

    assert r.status_code == 200
    html = text(r)
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="run-poller"')
    assert '<div id="run-header" class="mb-3" hx-swap-oob="true">' in html
    assert '<div id="run-body" hx-swap-oob="true">' in html
    # What the run waits for changed (nothing → the form), so the form comes too:
    assert '<div id="run-action" hx-swap-oob="true">' in html
    assert 'name="contact"' in html

    # Later polls while the person types leave the form alone:
    RunEvent.objects.create(run=run, kind="note", message="something else")
    html = text(client.get(poll_url(html), headers=HX))
    assert 'id="run-body" hx-swap-oob="true"' in html
    assert 'id="run-action"' not in html


def test_a_poll_after_the_session_ended_is_a_401_not_the_login_page(
    client, ws, grace, test_blocks
):
    run = engine.start(workflow=make_workflow(ws, chain("a")), initiator=grace)
    client.force_login(grace)
    url = poll_url(text(page(client, run)))
    client.logout()  # in another tab

    r = client.get(url, headers=HX)
    assert r.status_code == 401  # htmx swaps it nowhere; the page says why
    assert text(r) == "Your session has ended: log in again"
    # Without htmx, the browser goes to the login page as before:
    assert client.get(url)["Location"].startswith("/login/")


def test_a_request_from_a_page_opened_by_another_account_acts_on_nothing(
    client, ws, grace, mona, test_blocks
):
    """QA: grace's open form, submitted after mona logged in in another tab,
    was recorded as mona's."""
    run = start(form_workflow(ws), grace)
    client.force_login(mona)  # the browser's session is mona's now
    headers = {**HX, "X-Cairn-User": str(grace.pk), "X-Cairn-Workspace": str(ws.pk)}
    url = reverse("workflows:run-submit-input", args=[run.pk])
    r = client.post(url, {"step": waiting_step(run).pk, **VALID}, headers=headers)
    assert r.status_code == 409
    assert unquote(r["X-Cairn-Message"]) == (
        "This page was opened by another account; this browser is now logged in as"
        " mona@example.com. Reload the page before going on."
    )
    assert waiting_step(run).status == Step.Status.WAITING
    # A page of mona's own goes through:
    mine = {**HX, "X-Cairn-User": str(mona.pk), "X-Cairn-Workspace": str(ws.pk)}
    assert client.get(poll_url(text(page(client, run))), headers=mine).status_code in (
        200,
        204,
    )


def test_a_request_from_a_page_of_another_workspace_acts_on_nothing(
    client, ws, grace, test_blocks
):
    run = start(form_workflow(ws), grace)
    ws.name = "Équipe Ünï"  # a header is Latin-1: the message goes percent-encoded
    ws.save()
    client.force_login(grace)
    headers = {**HX, "X-Cairn-User": str(grace.pk), "X-Cairn-Workspace": "999999"}
    url = reverse("workflows:run-submit-input", args=[run.pk])
    r = client.post(url, {"step": waiting_step(run).pk, **VALID}, headers=headers)
    assert r.status_code == 409
    assert r["X-Cairn-Message"].isascii()
    assert "has switched to Équipe Ünï" in unquote(r["X-Cairn-Message"])
    assert waiting_step(run).status == Step.Status.WAITING


def test_the_poller_stops_once_the_run_has_ended(client, ws, grace, test_blocks):
    run = engine.start(workflow=make_workflow(ws, chain("a")), initiator=grace)
    client.force_login(grace)
    url = poll_url(text(page(client, run)))
    run_to_rest(run)

    html = text(client.get(url, headers=HX))

    assert 'data-test="run-status">Successful</span>' in html
    poller = re.search(r'<div id="run-poller"[^>]*>', html).group(0)
    assert "hx-trigger" not in poller
    # An old poller of a finished run is told to stop (htmx's 286):
    assert client.get(poll_url(html), headers=HX).status_code == 286


def test_a_tab_link_swaps_the_body_with_that_tab(client, ws, grace, test_blocks):
    run = start(make_workflow(ws, chain("a")), grace)
    client.force_login(grace)
    html = text(poll(client, run, tab="context", a="none"))
    assert 'data-test="run-tab-context"' in html
    assert "tab=context" in poll_url(html)


def test_the_status_url_without_htmx_sends_the_browser_to_the_run_page(
    client, ws, grace, test_blocks
):
    run = start(make_workflow(ws, chain("a")), grace)
    client.force_login(grace)
    r = client.get(reverse("workflows:run-status", args=[run.pk]), {"tab": "context"})
    assert r.status_code == 302
    assert r["Location"] == run.get_absolute_url() + "?tab=context"


# --- Cancel run ----------------------------------------------------------------------------------


def test_cancel_run_is_offered_to_the_initiator_and_to_managers_but_not_to_viewers(
    client, ws, grace, mona, vera, test_blocks
):
    run = start(form_workflow(ws), grace)
    cancel_url = reverse("workflows:run-cancel", args=[run.pk])
    for user, shown in [(grace, True), (mona, True), (vera, False)]:
        client.force_login(user)
        html = text(page(client, run))
        assert ('commandfor="cancel-run-dialog" command="show-modal"' in html) is shown
        assert ('<dialog id="cancel-run-dialog"' in html) is shown, user
        assert (f'action="{cancel_url}"' in html) is shown, user


def test_cancel_run_is_not_offered_once_the_run_has_ended(
    client, ws, grace, test_blocks
):
    run = start(make_workflow(ws, chain("a")), grace)
    client.force_login(grace)
    assert "Cancel run" not in text(page(client, run))


def test_the_cancel_run_confirmation_cancels_the_run_and_comes_back_to_it(
    client, ws, grace, test_blocks
):
    run = start(form_workflow(ws), grace)
    client.force_login(grace)
    html = text(page(client, run))
    assert 'name="next" value="' + run.get_absolute_url() + '"' in html

    r = client.post(
        reverse("workflows:run-cancel", args=[run.pk]),
        {"next": run.get_absolute_url()},
    )

    assert r.status_code == 302
    assert r["Location"] == run.get_absolute_url()
    run.refresh_from_db()
    assert run.status == S.CANCELLED
    html = text(client.get(r["Location"]))
    assert 'data-test="run-status">Canceled</span>' in html
    assert "This run was canceled." in html
    assert 'name="contact"' not in html  # the pending form closed


# --- user input --------------------------------------------------------------------------------


def test_the_initiator_sees_the_form_with_nested_rows_add_and_remove(
    client, ws, grace, test_blocks
):
    run = start(form_workflow(ws), grace)
    client.force_login(grace)
    html = text(page(client, run))
    assert "Collect: your input is needed" in html
    assert f'name="step" value="{waiting_step(run).pk}"' in html
    assert 'name="contact"' in html
    assert 'name="hostnames.0.value"' in html
    assert 'name="envVars.0.name"' in html and 'name="envVars.0.value"' in html
    assert 'name="add_row" value="hostnames"' in html
    assert 'name="remove_row" value="hostnames.0"' in html
    assert ">Remove Hostnames row 1</span>" in html
    assert 'type="password"' in html


def test_submitting_the_form_stores_the_values_and_the_run_goes_on(
    client, ws, grace, test_blocks
):
    run = start(form_workflow(ws), grace)
    step = waiting_step(run)
    client.force_login(grace)

    r = submit(client, run, {"step": step.pk, **VALID})

    assert r.status_code == 302
    assert r["Location"] == run.get_absolute_url()
    step.refresh_from_db()
    assert step.status == Step.Status.COMPLETED
    assert step.completed_by == grace
    assert step.outputs == {
        "contact": "ops@example.com",
        "hostnames": ["a.example.com", "b.example.com"],
        "envVars": [{"name": "LOG_LEVEL", "value": "debug"}],
        "password": MASK,
    }
    run = run_to_rest(run)
    assert run.status == S.COMPLETED
    html = text(client.get(r["Location"]))
    assert "Collect: your input was submitted." in html
    assert "<strong>ops@example.com</strong>" in html
    assert "a.example.com" in html and "LOG_LEVEL" in html
    assert "correct horse battery" not in html


def test_a_form_s_answers_are_shown_in_the_form_s_order_whatever_order_they_are_stored_in(
    client, ws, grace, test_blocks
):
    run = start(form_workflow(ws), grace)
    step = waiting_step(run)
    client.force_login(grace)
    submit(client, run, {"step": step.pk, **VALID})
    step.refresh_from_db()
    # As PostgreSQL's jsonb may keep them: keys in an order of its own.
    outputs = {key: step.outputs[key] for key in reversed(list(step.outputs))}
    outputs["envVars"] = [{"value": "debug", "name": "LOG_LEVEL"}]
    Step.objects.filter(pk=step.pk).update(outputs=outputs)

    for html in (text(page(client, run)), text(page(client, run, tab="outputs"))):
        answers = re.findall(r'<dl class="row[^"]*run-values">.*?</dl>', html, re.S)
        shown = [dl for dl in answers if "ops@example.com" in dl]
        assert shown
        for dl in shown:
            labels = ["Owner contact", "Hostnames", "Environment variables"]
            labels += [">Name</th>", ">Value</th>", "Database password"]
            at = [dl.index(label) for label in labels]
            assert at == sorted(at), dl


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("contact", "Owner contact: text must not contain NUL characters."),
        ("hostnames.1.value", "Row 2: text must not contain NUL characters."),
        ("envVars.0.value", "Value: text must not contain NUL characters."),
    ],
)
def test_a_nul_pasted_into_a_field_is_refused_and_the_form_still_waits(
    client, ws, grace, test_blocks, field, message
):
    # PostgreSQL can't store a NUL: it failed the whole run (QA, 2026-12-06).
    run = start(form_workflow(ws), grace)
    step = waiting_step(run)
    client.force_login(grace)

    r = submit(client, run, {"step": step.pk, **VALID, field: "pasted\x00text"})

    assert r.status_code == 400
    assert message in text(r)
    step.refresh_from_db()
    assert step.status == Step.Status.WAITING
    assert Run.objects.get(pk=run.pk).status == S.PAUSED


def test_submitting_over_htmx_redirects_the_browser_to_the_run(
    client, ws, grace, test_blocks
):
    run = start(form_workflow(ws), grace)
    client.force_login(grace)
    r = submit(client, run, {"step": waiting_step(run).pk, **VALID}, htmx=True)
    assert r.status_code == 200
    assert r["HX-Redirect"] == run.get_absolute_url()


def test_bad_values_show_the_form_again_with_the_messages_and_store_nothing(
    client, ws, grace, test_blocks
):
    run = start(form_workflow(ws), grace)
    step = waiting_step(run)
    client.force_login(grace)
    data = {
        **VALID,
        "step": step.pk,
        "contact": "not an email",
        "envVars.0.name": "lower case",
    }

    r = submit(client, run, data, htmx=True)

    assert r.status_code == 400
    html = text(r)
    assert html.lstrip().startswith('<div id="run-action"')
    assert "Owner contact is not in the expected format" in html
    assert (
        "Name is not in the expected format. The whole value must match the pattern ^[A-Z_]+$."
        in html
    )
    # What was typed is still there, the secret included (it was valid):
    assert 'value="not an email"' in html
    assert 'value="lower case"' in html
    assert 'value="b.example.com"' in html
    assert "correct horse battery" not in html  # a secret is never sent back
    step.refresh_from_db()
    assert step.status == Step.Status.WAITING
    assert Run.objects.get(pk=run.pk).status == S.PAUSED
    assert "contact" not in Run.objects.get(pk=run.pk).state["actions"]["collect"].get(
        "outputs", {}
    )


def test_a_secret_that_fails_its_regex_is_refused_then_a_good_one_is_stored_masked(
    client, ws, grace, test_blocks
):
    run = start(form_workflow(ws), grace)
    step = waiting_step(run)
    client.force_login(grace)

    r = submit(client, run, {**VALID, "step": step.pk, "password": "short"})

    assert r.status_code == 400
    html = text(r)
    assert (
        "Database password is not in the expected format. The whole value must match the pattern ^.{12,}$."
        in html
    )
    assert "short" not in html  # an invalid secret is typed again, not sent back
    assert Step.objects.get(pk=step.pk).status == Step.Status.WAITING

    r = submit(
        client, run, {**VALID, "step": step.pk, "password": "long enough secret"}
    )
    assert r.status_code == 302
    run = run_to_rest(run)
    assert run.state["actions"]["collect"]["outputs"]["password"] == MASK
    html = text(page(client, run))
    assert MASK in html
    assert "long enough secret" not in html


def test_add_row_over_htmx_renders_the_form_again_with_one_more_row_and_the_values(
    client, ws, grace, test_blocks
):
    run = start(form_workflow(ws), grace)
    client.force_login(grace)
    data = {
        "step": waiting_step(run).pk,
        "contact": "typed@example.com",
        "hostnames.TOTAL": "1",
        "hostnames.0.value": "a.example.com",
        "envVars.TOTAL": "1",
        "password": "typed secret!",
        "add_row": "hostnames",
    }

    r = submit(client, run, data, htmx=True)

    assert r.status_code == 200
    html = text(r)
    assert html.lstrip().startswith('<div id="run-action"')
    assert "<html" not in html
    assert 'name="hostnames.TOTAL" value="2"' in html
    assert 'name="hostnames.0.value" value="a.example.com"' in html
    assert 'name="hostnames.1.value"' in html
    assert 'value="typed@example.com"' in html
    assert "typed secret!" not in html  # typed again: never sent back
    assert "is required" not in html  # adding a row validates nothing
    assert Step.objects.get(run=run, slug="collect").status == Step.Status.WAITING


def test_add_is_not_offered_once_max_rows_is_reached(client, ws, grace, test_blocks):
    run = start(form_workflow(ws), grace)
    client.force_login(grace)
    data = {
        "step": waiting_step(run).pk,
        "hostnames.TOTAL": "2",
        "add_row": "hostnames",
    }
    html = text(submit(client, run, data, htmx=True))
    assert 'name="hostnames.TOTAL" value="3"' in html
    assert 'name="add_row" value="hostnames"' not in html
    assert 'name="add_row" value="envVars"' in html


def test_remove_row_drops_that_row_and_renumbers_the_rest(
    client, ws, grace, test_blocks
):
    run = start(form_workflow(ws), grace)
    client.force_login(grace)
    data = {
        "step": waiting_step(run).pk,
        "hostnames.TOTAL": "3",
        "hostnames.0.value": "a",
        "hostnames.1.value": "b",
        "hostnames.2.value": "c",
        "envVars.TOTAL": "2",
        "envVars.0.name": "A",
        "envVars.0.value": "1",
        "envVars.1.name": "B",
        "envVars.1.value": "2",
        "remove_row": "hostnames.1",
    }
    html = text(submit(client, run, data))  # without htmx: the whole page
    assert "<html" in html
    assert 'name="hostnames.TOTAL" value="2"' in html
    assert 'name="hostnames.0.value" value="a"' in html
    assert 'name="hostnames.1.value" value="c"' in html
    assert 'value="b"' not in html
    assert 'name="envVars.1.name" value="B"' in html

    data.update({"remove_row": "envVars.0"})
    html = text(submit(client, run, data, htmx=True))
    assert 'name="envVars.TOTAL" value="1"' in html
    assert 'name="envVars.0.name" value="B"' in html


def test_a_row_error_is_shown_beside_its_row(client, ws, grace, test_blocks):
    inputs = [{**FORM_INPUTS[1], "required": True}]
    run = start(form_workflow(ws, inputs=inputs), grace)
    client.force_login(grace)
    data = {
        "step": waiting_step(run).pk,
        "hostnames.TOTAL": "2",
        "hostnames.0.value": "a",
        "hostnames.1.value": " ",
    }
    html = text(submit(client, run, data, htmx=True))
    row_two = html[html.index('name="hostnames.1.value"') :]
    assert re.match(
        r'[^>]*class="form-control is-invalid".*?<div class="invalid-feedback"'
        r' id="id_hostnames.1.value_error">Row 2 is empty.',
        row_two,
        re.S,
    )
    # A screen reader reads the message with the field (QA: it read only the label):
    field = re.search(r'<input[^>]*name="hostnames.1.value"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in field
    assert 'aria-describedby="id_hostnames.1.value_error"' in field
    first = re.search(r'<input[^>]*name="hostnames.0.value"[^>]*>', html).group(0)
    assert "aria-invalid" not in first


def test_a_restricted_form_is_only_for_the_initiator_others_see_who_it_waits_for(
    client, ws, grace, mona, test_blocks
):
    run = start(form_workflow(ws, restricted=True), grace)
    client.force_login(mona)
    html = text(page(client, run))
    assert 'name="contact"' not in html
    assert "waiting for input from grace@example.com" in html


def test_someone_other_than_the_initiator_cannot_submit_a_restricted_form(
    client, ws, grace, mona, test_blocks
):
    run = start(form_workflow(ws, restricted=True), grace)
    step = waiting_step(run)
    client.force_login(mona)
    r = submit(client, run, {"step": step.pk, **VALID})
    assert r.status_code == 403
    step.refresh_from_db()
    assert step.status == Step.Status.WAITING
    assert step.completed_by is None


def _why_not(html: str) -> str:
    found = re.search(r'data-test="why-not">([^<]*)<', html)
    return unescape(found.group(1)) if found else ""


def test_the_page_says_up_front_why_a_member_may_not_fill_in_the_form(
    client, ws, grace, mona, vera, test_blocks
):
    restricted = start(form_workflow(ws, restricted=True), grace)
    client.force_login(mona)
    html = text(page(client, restricted))
    assert "waiting for input from grace@example.com." in html
    assert (
        _why_not(html) == "Only the person who started this run can fill in this form."
    )

    open_to_all = start(form_workflow(ws, tag="open-form"), grace)
    client.force_login(vera)  # a Viewer
    html = text(page(client, open_to_all))
    assert "waiting for input from" not in html  # any member who may run it may
    assert _why_not(html) == (
        "Your role in this workspace does not let you run workflows,"
        " so you can't fill in this form."
    )


def test_the_page_says_up_front_why_a_member_may_not_decide(
    client, ws, grace, mona, linus, test_blocks
):
    run = waiting_for_approval(client, ws, grace)
    client.force_login(mona)
    assert _why_not(text(page(client, run))) == (
        "You are not one of the approvers of this step."
    )
    client.force_login(linus)
    assert _why_not(text(page(client, run))) == ""  # he may: the buttons are there


@pytest.mark.parametrize("htmx", [False, True])
def test_a_refused_form_says_only_the_initiator_can_fill_it_in(
    client, ws, grace, mona, test_blocks, htmx
):
    run = start(form_workflow(ws, restricted=True), grace)
    client.force_login(mona)

    r = submit(client, run, {"step": waiting_step(run).pk, **VALID}, htmx=htmx)

    assert r.status_code == 403
    html = text(r)
    assert (
        refusal(html) == "Only the person who started this run can fill in this form."
    )
    assert "Your role in this workspace does not allow it" not in html
    assert "waiting for input from grace@example.com" in html
    if htmx:  # the region the form was in, not a whole page
        assert html.lstrip().startswith('<div id="run-action">')


def test_a_viewer_given_a_role_that_may_run_workflows_gets_the_form_at_the_next_poll(
    client, ws, grace, vera, test_blocks
):
    run = start(form_workflow(ws), grace)
    client.force_login(vera)
    html = text(page(client, run))
    assert 'name="contact"' not in html
    url = poll_url(html)
    assert client.get(url, headers=HX).status_code == 204

    member(ws, vera, "User")  # an admin changes her role: no event of the run

    html = text(client.get(url, headers=HX))
    assert '<div id="run-action" hx-swap-oob="true">' in html
    assert 'name="contact"' in html


def test_a_viewer_who_submits_a_form_is_told_their_role_does_not_let_them(
    client, ws, grace, vera, test_blocks
):
    run = start(form_workflow(ws), grace)
    client.force_login(vera)
    r = submit(client, run, {"step": waiting_step(run).pk, **VALID})
    assert r.status_code == 403
    assert refusal(text(r)) == (
        "Your role in this workspace does not let you run workflows,"
        " so you can't fill in this form."
    )
    assert waiting_step(run).completed_by is None


def test_an_unrestricted_form_may_be_completed_by_another_member(
    client, ws, grace, mona, test_blocks
):
    run = start(form_workflow(ws), grace)
    step = waiting_step(run)
    client.force_login(mona)
    assert 'name="contact"' in text(page(client, run))
    assert submit(client, run, {"step": step.pk, **VALID}).status_code == 302
    step.refresh_from_db()
    assert step.completed_by == mona


def test_a_form_that_no_longer_waits_is_refused_with_a_message(
    client, ws, grace, test_blocks
):
    run = start(form_workflow(ws), grace)
    step = waiting_step(run)
    client.force_login(grace)
    engine.cancel(run, by=grace)

    r = submit(client, run, {"step": step.pk, **VALID}, htmx=True)

    assert r["HX-Redirect"] == run.get_absolute_url()
    html = text(page(client, run))
    assert "This form is no longer waiting for input." in html


def test_fixed_inputs_are_shown_read_only_and_their_value_is_used(
    client, ws, grace, test_blocks
):
    inputs = [
        {
            "type": "INPUT_FIELD",
            "key": "region",
            "name": "Region",
            "defaultValue": "eu-west-1",
            "disabled": True,
        },
        {"type": "INPUT_FIELD", "key": "note", "name": "Note"},
    ]
    run = start(form_workflow(ws, inputs=inputs), grace)
    step = waiting_step(run)
    client.force_login(grace)
    html = text(page(client, run))
    assert re.search(r'<input[^>]*name="region"[^>]*disabled', html)
    submit(client, run, {"step": step.pk, "region": "us-east-1", "note": "hi"})
    step.refresh_from_db()
    assert step.outputs == {"region": "eu-west-1", "note": "hi"}


def test_a_form_without_fields_is_a_continue_button(client, ws, grace, test_blocks):
    run = start(form_workflow(ws, inputs=[]), grace)
    client.force_login(grace)
    html = text(page(client, run))
    assert "This step has no fields: submit to continue the run." in html
    assert submit(client, run, {"step": waiting_step(run).pk}).status_code == 302
    assert run_to_rest(run).status == S.COMPLETED


# --- manual approval ---------------------------------------------------------------------------------


def test_an_approver_sees_the_description_the_run_s_inputs_and_approve_or_reject(
    client, ws, grace, linus, test_blocks
):
    run = waiting_for_approval(client, ws, grace)
    client.force_login(linus)

    html = text(page(client, run))

    assert "Approve: your approval is needed" in html
    assert "Ship it for <strong>grace@example.com</strong>?" in html
    assert "The run's inputs" in html
    assert "Owner contact" in html and "ops@example.com" in html
    assert "Database password" in html and MASK in html
    assert "correct horse battery" not in html
    assert 'name="verdict" value="approve"' in html
    assert 'name="verdict" value="reject"' in html
    assert "0 of 1 approval" in html


def test_approving_records_the_decision_and_the_run_goes_on(
    client, ws, grace, linus, test_blocks
):
    run = waiting_for_approval(client, ws, grace)
    step = waiting_step(run)
    client.force_login(linus)

    r = decide(client, run, {"step": step.pk, "verdict": "approve"}, htmx=True)

    assert r["HX-Redirect"] == run.get_absolute_url()
    decision = Decision.objects.get(step=step)
    assert (decision.user, decision.verdict) == (linus, "APPROVED")
    assert run_to_rest(run).status == S.COMPLETED


def test_rejecting_without_a_reason_asks_for_one_and_records_nothing(
    client, ws, grace, linus, test_blocks
):
    run = waiting_for_approval(client, ws, grace)
    step = waiting_step(run)
    client.force_login(linus)

    r = decide(client, run, {"step": step.pk, "verdict": "reject", "reason": "  "})

    assert r.status_code == 400
    assert "Give a reason for rejecting." in text(r)
    assert not Decision.objects.exists()
    assert Run.objects.get(pk=run.pk).status == S.PAUSED


def test_a_reason_longer_than_2000_characters_is_refused_and_kept_for_editing(
    client, ws, grace, linus, test_blocks
):
    run = waiting_for_approval(client, ws, grace)
    client.force_login(linus)
    long = "why " * 600

    r = decide(
        client, run, {"step": waiting_step(run).pk, "verdict": "reject", "reason": long}
    )

    assert r.status_code == 400
    assert "Keep the reason to 2,000 characters (it has 2,399)." in text(r)
    assert long.strip() in text(r)  # in the textarea, to shorten
    assert not Decision.objects.exists()
    assert Run.objects.get(pk=run.pk).status == S.PAUSED


@pytest.mark.parametrize("verdict", ["approve", "reject"])
def test_a_nul_pasted_into_a_reason_is_refused_and_nothing_recorded(
    client, ws, grace, linus, test_blocks, verdict
):
    run = waiting_for_approval(client, ws, grace)
    step = waiting_step(run)
    client.force_login(linus)

    r = decide(
        client,
        run,
        {"step": step.pk, "verdict": verdict, "reason": "Fine\x00 (pasted)"},
    )

    assert r.status_code == 400
    assert "The reason: text must not contain NUL characters" in text(r)
    assert not Decision.objects.exists()
    assert Run.objects.get(pk=run.pk).status == S.PAUSED


def test_rejecting_with_a_reason_fails_the_run_and_shows_why(
    client, ws, grace, linus, test_blocks
):
    run = waiting_for_approval(client, ws, grace)
    step = waiting_step(run)
    client.force_login(linus)

    r = decide(
        client, run, {"step": step.pk, "verdict": "reject", "reason": "Not on Friday"}
    )

    assert r.status_code == 302
    run.refresh_from_db()
    assert run.status == S.FAILED
    html = text(client.get(r["Location"]))
    assert (
        "The run was rejected.</strong> Approve: Rejected by linus@example.com:"
        " Not on Friday" in html
    )
    # The Activity tab says the verdict, then why (a reason alone read as a verdict):
    event = RunEvent.objects.get(run=run, kind="rejected")
    assert event.message == "Rejected: Not on Friday"


def another_approver(ws):
    """ken, a member of the approving team beside linus."""
    ken = UserFactory(email="ken@example.com")
    member(ws, ken)
    Team.objects.get(tag="platform").members.add(ken)
    return ken


def test_others_see_who_may_decide_and_the_decisions_so_far(
    client, ws, grace, linus, test_blocks
):
    another_approver(ws)
    run = waiting_for_approval(client, ws, grace, requiredApprovals=2)
    engine.decide(run, waiting_step(run), by=linus, approve=True, reason="Fine by me")

    client.force_login(grace)
    html = text(page(client, run))
    assert "Approve: waiting for approval" in html
    # Who has decided is listed with the decisions, not among who may still:
    assert "Who may still decide: ken@example.com" in " ".join(html.split())
    assert "Linus approved" in html and "Fine by me" in html
    assert 'data-test="too-few-approvers"' not in html
    assert "1 of 2 approvals" in html
    assert 'name="verdict"' not in html

    client.force_login(linus)  # decided already: waits for the others too
    html = text(page(client, run))
    assert 'name="verdict"' not in html
    assert "You have decided." in html


def test_someone_added_to_an_approving_team_gets_the_form_at_the_next_poll(
    client, ws, grace, linus, test_blocks
):
    run = waiting_for_approval(client, ws, grace)
    ken = UserFactory(email="ken@example.com")
    member(ws, ken)
    client.force_login(ken)
    html = text(page(client, run))
    assert 'name="verdict"' not in html
    url = poll_url(html)
    assert client.get(url, headers=HX).status_code == 204

    Team.objects.get(tag="platform").members.add(ken)  # no event of the run

    html = text(client.get(url, headers=HX))
    assert '<div id="run-action" hx-swap-oob="true">' in html
    assert 'name="verdict" value="approve"' in html
    # and nothing changes after that:
    assert client.get(poll_url(html), headers=HX).status_code == 204


def test_an_approval_short_of_people_who_may_still_decide_says_so_and_what_to_do(
    client, ws, grace, linus, test_blocks
):
    # Two approvals, self-approval prevented, and Linus the team's only other
    # member: after his approval nobody can give the second (QA, 2026-12-06).
    run = waiting_for_approval(
        client, ws, grace, requiredApprovals=2, preventSelfApproval=True
    )
    engine.decide(run, waiting_step(run), by=linus, approve=True)
    for viewer in (grace, linus):
        client.force_login(viewer)
        html = text(page(client, run))
        assert "Who may still decide" not in html
        assert (
            "1 more approval is needed, and nobody else may decide. An admin can add"
            " members to the approving team Platform (Settings → Teams), or the run"
            " can be cancelled."
        ) in " ".join(html.split())


def test_a_block_still_waiting_for_approvals_names_no_one_as_having_completed_it(
    client, ws, grace, linus, test_blocks
):
    another_approver(ws)
    run = waiting_for_approval(client, ws, grace, requiredApprovals=2)
    engine.decide(run, waiting_step(run), by=linus, approve=True)
    client.force_login(grace)
    html = text(page(client, run))
    assert "1 of 2 approvals" in html
    # The decisions are listed, each by name; the form before names its sender:
    completed_by = re.findall(r"Completed by</dt><dd[^>]*>([^<]*)<", html)
    assert completed_by == [grace.display_name]


def test_an_approval_needing_more_than_those_left_says_how_many_may_still_decide(
    client, ws, grace, linus, test_blocks
):
    ken = another_approver(ws)
    run = waiting_for_approval(client, ws, grace, requiredApprovals=3)
    engine.decide(run, waiting_step(run), by=linus, approve=True)
    client.force_login(grace)
    html = " ".join(text(page(client, run)).split())
    assert "Who may still decide: ken@example.com" in html
    assert (
        "2 more approvals are needed, and only 1 person may still decide. An admin"
        " can add members to the approving team Platform (Settings → Teams), or one"
        " of them rejects."
    ) in html
    client.force_login(ken)  # who may still decide is told too, above the form
    html = " ".join(text(page(client, run)).split())
    assert 'name="verdict"' in html
    assert "2 more approvals are needed, and only 1 person may still decide." in html


def test_someone_outside_the_approving_teams_cannot_post_a_decision(
    client, ws, grace, mona, linus, test_blocks
):
    run = waiting_for_approval(client, ws, grace)
    step = waiting_step(run)
    client.force_login(mona)
    r = decide(client, run, {"step": step.pk, "verdict": "approve"})
    assert r.status_code == 403
    assert not Decision.objects.exists()
    assert Run.objects.get(pk=run.pk).status == S.PAUSED


@pytest.mark.parametrize("htmx", [False, True])
def test_a_refused_decision_says_the_engine_s_reason_instead_of_the_role_page(
    client, ws, grace, mona, linus, test_blocks, htmx
):
    run = waiting_for_approval(client, ws, grace)
    client.force_login(mona)

    r = decide(
        client,
        run,
        {"step": waiting_step(run).pk, "verdict": "reject", "reason": "No"},
        htmx=htmx,
    )

    assert r.status_code == 403
    html = text(r)
    assert refusal(html) == "You are not one of the approvers of this step."
    assert "Your role in this workspace does not allow it" not in html
    assert "Approve: waiting for approval" in html
    assert 'name="verdict"' not in html
    if htmx:
        assert html.lstrip().startswith('<div id="run-action">')
    assert not Decision.objects.exists()


def test_an_approver_who_started_the_run_may_not_approve_it_when_self_approval_is_off(
    client, ws, linus, test_blocks
):
    another_approver(ws)
    run = waiting_for_approval(client, ws, linus, preventSelfApproval=True)
    client.force_login(linus)
    html = text(page(client, run))
    assert 'name="verdict"' not in html
    assert (
        'ken@example.com <span class="text-body-secondary">(not Linus, who started the run)'
        in html
    )
    r = decide(client, run, {"step": waiting_step(run).pk, "verdict": "approve"})
    assert r.status_code == 403
    assert refusal(text(r)) == (
        "You started this run, and this step prevents self-approval:"
        " another member of the approving teams decides."
    )
    assert not Decision.objects.exists()


def test_an_initiator_outside_the_approving_teams_is_told_they_are_not_an_approver(
    client, ws, grace, linus, test_blocks
):
    run = waiting_for_approval(client, ws, grace, preventSelfApproval=True)
    r = decide(client, run, {"step": waiting_step(run).pk, "verdict": "approve"})
    assert r.status_code == 403
    assert refusal(text(r)) == "You are not one of the approvers of this step."
    # Nor does the list of approvers say she is left out of it:
    assert "who started the run" not in text(page(client, run))


def test_when_only_the_initiator_could_approve_the_page_says_nobody_can_and_why(
    client, ws, linus, test_blocks
):
    run = waiting_for_approval(client, ws, linus, preventSelfApproval=True)
    client.force_login(linus)
    html = text(page(client, run))
    assert 'name="verdict"' not in html
    assert nobody_approves(html) == (
        "nobody: Linus, who started the run, is the only member of the approving"
        " team Platform, and this step prevents self-approval. An admin can add"
        " another member to it (Settings → Teams). Until then the run waits, or"
        " cancel it."
    )
    # Nor is linus asked to approve his own run:
    assert not Notification.objects.filter(user=linus, kind="NEEDS_APPROVAL").exists()


def test_when_an_approving_team_does_not_exist_the_page_names_it(
    client, ws, grace, test_blocks
):
    run = waiting_for_approval(
        client, ws, grace, approvingTeamIds=["no-such-team", "platform"]
    )
    Team.objects.filter(tag="platform").delete()
    html = text(page(client, run))
    assert nobody_approves(html) == (
        "nobody: no team of this workspace is called no-such-team, platform. An"
        " admin can create them, or someone who may edit the workflow can change"
        " its approving teams (Settings → Teams). Until then the run waits, or"
        " cancel it."
    )


def test_an_approving_team_that_does_not_exist_is_named_even_when_another_team_can_decide(
    client, ws, grace, platform, test_blocks
):
    run = waiting_for_approval(
        client, ws, grace, approvingTeamIds=["platform", "sre-oncall"]
    )
    html = text(page(client, run))
    assert "Who may decide:\n        Linus" in html
    found = re.search(r'data-test="unknown-teams">(.*?)</p>', html, re.S)
    assert unescape(found.group(1)) == (
        "No team of this workspace is called sre-oncall, so nobody is asked"
        " through it. An admin can create it (Settings → Teams), or someone who"
        " may edit the workflow can change its approving teams."
    )


def test_the_page_warns_of_no_missing_team_when_every_approving_team_exists(
    client, ws, grace, platform, test_blocks
):
    run = waiting_for_approval(client, ws, grace)
    html = text(page(client, run))
    assert "Who may decide:" in html
    assert 'data-test="unknown-teams"' not in html


def nobody_approves(html: str) -> str:
    """What the run page says when nobody may decide on the approval."""
    found = re.search(r'data-test="nobody-approves">(.*?)</span>', html, re.S)
    return unescape(found.group(1))


def test_when_the_approving_team_has_no_members_the_page_says_so_not_that_the_initiator_is_one(
    client, ws, grace, test_blocks
):
    Team.objects.create(workspace=ws, tag="platform", name="Platform")
    run = waiting_for_approval(client, ws, grace, preventSelfApproval=True)
    html = text(page(client, run))
    assert 'name="verdict"' not in html
    assert nobody_approves(html) == (
        "nobody: the approving team Platform has no members. An admin can add"
        " members to it (Settings → Teams). Until then the run waits, or cancel it."
    )
    assert "grace@example.com, who started the run" not in html


def test_when_the_approving_teams_are_empty_or_missing_the_page_names_each(
    client, ws, grace, test_blocks
):
    Team.objects.create(workspace=ws, tag="platform", name="Platform")
    Team.objects.create(workspace=ws, tag="release", name="Release")
    run = waiting_for_approval(
        client,
        ws,
        grace,
        approvingTeamIds=["release", "platform", "no-such-team"],
        preventSelfApproval=True,
    )
    html = text(page(client, run))
    assert nobody_approves(html) == (
        "nobody: the approving teams Platform and Release have no members; no team"
        " of this workspace is called no-such-team. An admin can add members to"
        " them (Settings → Teams). Until then the run waits, or cancel it."
    )


def test_when_only_the_initiator_is_in_two_approving_teams_the_page_names_both(
    client, ws, grace, test_blocks
):
    for tag in ("platform", "release"):
        team = Team.objects.create(workspace=ws, tag=tag, name=tag.title())
        team.members.add(grace)
    run = waiting_for_approval(
        client,
        ws,
        grace,
        approvingTeamIds=["platform", "release"],
        preventSelfApproval=True,
    )
    html = text(page(client, run))
    assert nobody_approves(html) == (
        "nobody: grace@example.com, who started the run, is the only member of the"
        " approving teams Platform and Release, and this step prevents"
        " self-approval. An admin can add another member to them (Settings →"
        " Teams). Until then the run waits, or cancel it."
    )


def test_a_decision_on_an_approval_that_no_longer_waits_is_refused_with_a_message(
    client, ws, grace, linus, test_blocks
):
    run = waiting_for_approval(client, ws, grace)
    step = waiting_step(run)
    engine.cancel(run, by=grace)
    client.force_login(linus)
    r = decide(client, run, {"step": step.pk, "verdict": "approve"})
    assert r.status_code == 302
    assert (
        "Approve no longer waits for a decision (the run was canceled). Your"
        " approval was not recorded." in text(client.get(r["Location"]))
    )
    assert not Decision.objects.exists()


def test_who_loses_a_race_to_decide_is_told_who_decided_first_and_keeps_their_reason(
    client, ws, grace, linus, mona, test_blocks
):
    run = waiting_for_approval(client, ws, grace)
    step = waiting_step(run)
    client.force_login(linus)
    page(client, run)  # linus opens the form, then someone else decides
    Team.objects.get(tag="platform").members.add(mona)
    engine.decide(run, step, by=mona, approve=True)

    r = decide(client, run, {"step": step.pk, "verdict": "reject", "reason": "stop it"})

    assert r.status_code == 302
    html = " ".join(text(client.get(r["Location"])).split())
    assert (
        f"Approve no longer waits for a decision ({mona.display_name} approved)."
        " Your rejection was not recorded (your reason: “stop it”)."
    ) in html
    assert list(Decision.objects.values_list("user", flat=True)) == [mona.pk]

    long = "because " * 500  # a reason too late is repeated only in part
    r = decide(client, run, {"step": step.pk, "verdict": "reject", "reason": long})
    html = text(client.get(r["Location"]))
    assert f"(your reason: “{long[:200].rstrip()}…”)" in html
    assert long.strip() not in html


# --- a run started without its initiating user ------------------------------------------------------


def initiator_less_run(ws) -> Run:
    wf = make_workflow(
        ws,
        [action("collect", "USER_INPUT", [], root=True, inputs=FORM_INPUTS[:1])],
        restrictActionCompletionToRunnerUser=True,
    )
    run = engine.start(workflow=wf, initiator=None, source=Run.Source.API)
    assert run.status == S.PAUSED and run.initiator is None
    return run


def test_a_run_without_its_initiating_user_offers_to_pick_one(
    client, ws, ada, mona, grace, vera, test_blocks
):
    colleague = UserFactory(email="carl@example.com")
    member(ws, colleague, "User")
    run = initiator_less_run(ws)
    client.force_login(grace)
    html = text(page(client, run))
    assert "Pick the initiating user" in html
    assert f'<option value="{grace.pk}">grace@example.com</option>' in html
    assert f'<option value="{colleague.pk}">carl@example.com</option>' in html
    # The run acts with its initiator's rights: not those of an admin or a
    # manager (more than grace's), nor a viewer's (who may not run workflows).
    for other in (ada, mona, vera):
        assert f'<option value="{other.pk}">' not in html
    assert "nobody yet" in html


def test_a_run_a_workspace_key_started_without_run_as_names_the_key(
    client, ws, grace, test_blocks
):
    key, _ = api_key(ws, name="ci")
    wf = make_workflow(ws, [action("a", root=True)])
    run = engine.start(workflow=wf, initiator=None, source=Run.Source.API, api_key=key)
    engine.advance(run.pk)
    client.force_login(grace)
    html = text(page(client, run))
    assert 'by the API key <span class="text-body">ci</span>' in html
    assert "nobody yet" not in html


def test_the_initiating_user_choices_cost_the_same_queries_however_many_members(
    client, ws, grace, test_blocks, django_assert_max_num_queries
):
    wf = make_workflow(
        ws,
        [action("collect", "USER_INPUT", [], root=True, inputs=FORM_INPUTS[:1])],
        tag="team-only",
        restrictActionCompletionToRunnerUser=True,
        runRestrictionPolicies=[{"type": "TEAM", "id": "release"}],
    )
    team = Team.objects.create(workspace=ws, tag="release", name="Release")
    team.members.add(grace)
    run = engine.start(workflow=wf, initiator=None, source=Run.Source.API)

    def add(n, first):
        for i in range(first, first + n):
            user = UserFactory(email=f"member{i}@example.com")
            member(ws, user, "User")
            if i % 2:
                team.members.add(user)

    add(2, 0)
    client.force_login(grace)
    with CaptureQueriesContext(connection) as few:
        page(client, run)
    add(20, 2)
    with django_assert_max_num_queries(len(few)):
        html = text(page(client, run))
    # Only the members the policy lets run the workflow are offered:
    offered = set(re.findall(r'<option value="\d+">([^<]+)</option>', html))
    assert offered == {"grace@example.com"} | {
        f"member{i}@example.com" for i in range(22) if i % 2
    }


def test_picking_the_initiating_user_resumes_the_run_for_them(
    client, ws, ada, grace, test_blocks
):
    run = initiator_less_run(ws)
    client.force_login(ada)
    url = reverse("workflows:run-set-initiator", args=[run.pk])

    r = client.post(url, {"user": grace.pk})

    assert r.status_code == 302
    run = run_to_rest(run)
    assert run.initiator == grace
    assert run.status == S.PAUSED  # now waiting for grace's input
    html = text(page(client, run))
    assert "waiting for input from grace@example.com" in html


def test_a_user_cannot_make_an_admin_the_initiating_user(
    client, ws, ada, grace, test_blocks
):
    run = initiator_less_run(ws)
    client.force_login(grace)
    url = reverse("workflows:run-set-initiator", args=[run.pk])

    r = client.post(url, {"user": ada.pk})

    assert r.status_code == 403
    assert "You may not make ada@example.com the initiating user" in text(r)
    run.refresh_from_db()
    assert run.initiator is None and run.status == S.PAUSED


def test_a_viewer_cannot_pick_the_initiating_user(client, ws, vera, test_blocks):
    run = initiator_less_run(ws)
    client.force_login(vera)
    html = text(page(client, run))
    assert "Pick the initiating user" not in html
    assert "waits for someone who may run workflows" in html
    url = reverse("workflows:run-set-initiator", args=[run.pk])
    assert client.post(url, {"user": vera.pk}).status_code == 403
    assert Run.objects.get(pk=run.pk).initiator is None


def test_only_a_member_of_the_workspace_can_be_the_initiating_user(
    client, ws, grace, ted, test_blocks
):
    run = initiator_less_run(ws)
    client.force_login(grace)
    url = reverse("workflows:run-set-initiator", args=[run.pk])
    r = client.post(url, {"user": ted.pk})
    assert r.status_code == 400
    assert "Choose a member of this workspace." in text(r)
    assert Run.objects.get(pk=run.pk).initiator is None


def test_a_run_known_by_its_api_id_opens_its_page(client, ws, grace, test_blocks):
    run = start(make_workflow(ws, chain("a")), grace)
    client.force_login(grace)

    r = client.get(f"/workflows/runs/{run.uid}/")

    assert r.status_code == 302 and r["Location"] == run.get_absolute_url()


def test_a_run_id_of_another_workspace_is_not_found(
    client, ws, other_ws, grace, ted, test_blocks
):
    run = start(make_workflow(other_ws, chain("a")), ted)
    client.force_login(grace)
    assert client.get(f"/workflows/runs/{run.uid}/").status_code == 404


def test_a_run_id_of_another_of_ones_workspaces_leads_to_the_offer_to_switch(
    client, ws, other_ws, grace, ted, test_blocks
):
    run = start(make_workflow(other_ws, chain("a")), ted)
    member(other_ws, grace, "User")  # grace joined One first: One is open
    client.force_login(grace)
    r = client.get(f"/workflows/runs/{run.uid}/", follow=True)
    assert r.redirect_chain == [(run.get_absolute_url(), 302)]
    assert r.status_code == 404 and "Switch to Two" in text(r)


def test_a_run_id_is_refused_to_a_member_who_may_not_see_runs(
    client, ws, grace, test_blocks
):
    run = start(make_workflow(ws, chain("a")), grace)
    Role.objects.create(workspace=ws, name="Catalog only", permissions=[])
    member(ws, grace, "Catalog only")
    client.force_login(grace)
    assert client.get(f"/workflows/runs/{run.uid}/").status_code == 403


def test_a_forms_answers_are_shown_under_its_field_and_column_names(
    client, ws, grace, test_blocks
):
    servers = {
        "type": "NESTED_FORM_FIELD",
        "key": "servers",
        "name": "Servers",
        "dataType": "OBJECT",
        "required": True,
        "inputs": [
            {"type": "INPUT_FIELD", "key": "host", "name": "Host name"},
            {"type": "INPUT_FIELD", "key": "role", "name": "Server role"},
        ],
    }
    wf = make_workflow(
        ws, [action("collect", "USER_INPUT", [], root=True, inputs=[servers])]
    )
    run = start(wf, grace)
    engine.submit_input(
        run,
        waiting_step(run),
        values={"servers": [{"host": "db1", "role": "primary"}]},
        by=grace,
    )
    run = run_to_rest(run)
    client.force_login(grace)

    html = text(page(client, run))

    assert '<th scope="col" class="text-nowrap">Host name</th>' in html
    assert '<th scope="col" class="text-nowrap">Server role</th>' in html
    assert ">host<" not in html


def test_timestamps_in_outputs_are_shown_to_the_second_in_utc():
    from workflows.run_views import present

    shown = present(
        [{"user": "linus@example.com", "at": "2026-12-04T18:30:05.123456+00:00"}]
    )
    assert shown["rows"] == [["linus@example.com", "2026-12-04 18:30:05 UTC"]]
    assert present("2026-12-04T20:30:05+02:00")["text"] == "2026-12-04 18:30:05 UTC"
    assert present("2026-12-09T02:40:08.456Z")["text"] == "2026-12-09 02:40:08 UTC"
    assert present("not 2026-12-04T18:30:05")["text"] == "not 2026-12-04T18:30:05"


def test_a_step_waiting_for_a_callback_shows_its_latest_update(
    client, ws, grace, http_server, settings
):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.1"]
    http_server.route("POST", "/deploy", json={})
    wf = make_workflow(
        ws,
        [
            action(
                "deploy",
                "HTTP_REQUEST_ASYNC",
                root=True,
                url=http_server.url("/deploy"),
                httpMethod="POST",
            )
        ],
    )
    run = start(wf, grace)
    step = Step.objects.get(run=run)
    client.force_login(grace)
    assert "waiting for the external system to call back" in text(page(client, run))
    assert "Latest update" not in text(page(client, run))
    for message in ("Building", "Rolling out 3/10"):
        engine.callback(step, {"status": "UPDATE", "message": message})
    html = text(page(client, run))
    assert "Latest update: Rolling out 3/10" in html
    assert "Latest update: Building" not in html
