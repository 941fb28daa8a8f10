"""The run state machine, driven in-process (no worker): engine.advance is called directly."""

import json
import re
import subprocess
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import Team
from portal import services
from portal.mail import wait_until_sent
from portal.permissions import BUILTIN_ROLES
from tests.factories import UserFactory, member
from tests.workflows.enginekit import REFUSED, SEEN, action, chain, make_workflow
from workflows import engine, holder
from workflows.inputs import InputInvalid
from workflows.models import (
    Decision,
    Notification,
    Run,
    RunEvent,
    Secret,
    Step,
    Workflow,
)
from workflows.secrets import MASK, encrypt
from workflows.services import workflow_delete

S = Run.Status


def run_to_rest(run: Run) -> Run:
    """Advance until the run pauses or ends (what workers would do)."""
    for _ in range(50):
        run.refresh_from_db()
        if run.status != S.IN_PROGRESS:
            return run
        engine.advance(run.pk)
    raise AssertionError("run did not come to rest")


def steps(run: Run) -> dict[str, str]:
    return dict(run.steps.values_list("slug", "status"))


def workspace_secret(ws, tag: str, value: str) -> Secret:
    return Secret.objects.create(
        workspace=ws, tag=tag, name=tag.title(), encrypted_value=encrypt(value)
    )


@pytest.fixture
def platform(ws):
    linus = UserFactory(email="linus@example.com")
    member(ws, linus, "User")
    team = Team.objects.create(workspace=ws, tag="platform", name="Platform")
    team.members.add(linus)
    return team


# --- walking the graph ------------------------------------------------------------


def test_a_run_walks_its_blocks_in_order_and_renders_the_response(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [
            action(
                "a",
                "ECHO",
                ["b"],
                root=True,
                outputs={"name": "{{context.initiatedBy.email}}"},
            ),
            action(
                "b", "ECHO", [], outputs={"greeting": "hi {{actions.a.outputs.name}}"}
            ),
        ],
        runResponseTemplate="Said **{{actions.b.outputs.greeting}}**",
    )
    run = engine.start(workflow=wf, initiator=grace)
    assert run.status == S.IN_PROGRESS

    run = run_to_rest(run)

    assert run.status == S.COMPLETED
    assert test_blocks == ["a", "b"]
    assert steps(run) == {"a": "COMPLETED", "b": "COMPLETED"}
    assert run.state["actions"]["b"]["outputs"] == {"greeting": "hi grace@example.com"}
    assert run.response == "Said **hi grace@example.com**"
    assert run.finished_at is not None


def test_a_branch_runs_the_chosen_path_skips_the_other_and_continues_at_the_join(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [
            action(
                "pick",
                "CONDITIONAL_BRANCH",
                ["left", "right"],
                root=True,
                target="right",
                joiningAction="join",
            ),
            action("left", "ECHO", ["left-2"]),
            action("left-2", "ECHO", []),
            action("right", "ECHO", []),
            action("join", "ECHO", ["end"]),
            action("end", "ECHO", []),
        ],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))

    assert run.status == S.COMPLETED
    assert test_blocks == ["pick", "right", "join", "end"]
    assert steps(run) == {
        "pick": "COMPLETED",
        "right": "COMPLETED",
        "left": "SKIPPED",
        "left-2": "SKIPPED",
        "join": "COMPLETED",
        "end": "COMPLETED",
    }
    # Listed in the order they ran, the skipped ones last:
    assert list(run.steps.values_list("slug", flat=True)) == [
        "pick",
        "right",
        "join",
        "end",
        "left",
        "left-2",
    ]


def test_a_branch_with_no_path_taken_goes_straight_to_the_join(ws, grace, test_blocks):
    wf = make_workflow(
        ws,
        [
            action(
                "pick",
                "CONDITIONAL_BRANCH",
                ["left"],
                root=True,
                target=None,
                joiningAction="join",
            ),
            action("left", "ECHO", ["join"]),
            action("join", "ECHO", []),
        ],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert test_blocks == ["pick", "join"]
    assert steps(run)["left"] == "SKIPPED"


def test_the_blocks_after_a_nested_branchs_join_on_a_path_not_taken_are_skipped_too(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [
            action(
                "outer",
                "CONDITIONAL_BRANCH",
                ["inner"],
                root=True,
                target=None,
                joiningAction="merge",
            ),
            action(
                "inner",
                "CONDITIONAL_BRANCH",
                ["canary"],
                target="canary",
                joiningAction="after-canary",
            ),
            action("canary", "ECHO", []),
            action("after-canary", "ECHO", ["tidy"]),
            action("tidy", "ECHO", []),
            action("merge", "ECHO", []),
        ],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.COMPLETED
    assert test_blocks == ["outer", "merge"]
    assert steps(run) == {
        "outer": "COMPLETED",
        "merge": "COMPLETED",
        "inner": "SKIPPED",
        "canary": "SKIPPED",
        "after-canary": "SKIPPED",
        "tidy": "SKIPPED",
    }


def test_a_path_that_edges_into_the_join_runs_the_join_once(ws, grace, test_blocks):
    wf = make_workflow(
        ws,
        [
            action(
                "pick",
                "CONDITIONAL_BRANCH",
                ["left"],
                root=True,
                target="left",
                joiningAction="join",
            ),
            action("left", "ECHO", ["join"]),
            action("join", "ECHO", []),
        ],
    )
    run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert test_blocks == ["pick", "left", "join"]


def inside_an_outer_branch(*inner: dict, also=(), join="j") -> list[dict]:
    """outer → x → (the inner actions, starting with "inner") …; outer joins at
    `join` → after. `also`: more paths of the outer branch, not taken."""
    return [
        action(
            "outer",
            "CONDITIONAL_BRANCH",
            ["x", *also],
            root=True,
            target="x",
            joiningAction=join,
        ),
        action("x", "ECHO", ["inner"]),
        *inner,
        *(action(slug, "ECHO", [join]) for slug in also),
        action(join, "ECHO", ["after"]),
        action("after", "ECHO", []),
    ]


def nested(inner_target, inner_join=None):
    """outer → (x → inner branch → y …) → join → after."""
    inner = {"target": inner_target}
    if inner_join:
        inner["joiningAction"] = inner_join
    return inside_an_outer_branch(
        action(
            "inner",
            "CONDITIONAL_BRANCH",
            ["y", *([inner_join] if inner_join else [])],
            **inner,
        ),
        action("y", "ECHO", []),
        *([action(inner_join, "ECHO", [])] if inner_join else []),
        also=["other"],
        join="join",
    )


def test_an_inner_branch_that_takes_no_path_and_has_no_join_goes_on_at_the_outer_join(
    ws, grace, test_blocks
):
    wf = make_workflow(ws, nested(inner_target=None))
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.COMPLETED
    assert test_blocks == ["outer", "x", "inner", "join", "after"]
    assert steps(run)["y"] == "SKIPPED"


def test_an_inner_branch_going_straight_to_its_own_join_goes_on_at_the_outer_join(
    ws, grace, test_blocks
):
    wf = make_workflow(ws, nested(inner_target="inner-join", inner_join="inner-join"))
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.COMPLETED
    assert test_blocks == ["outer", "x", "inner", "inner-join", "join", "after"]


def test_an_inner_branch_path_and_its_join_then_the_outer_join(ws, grace, test_blocks):
    wf = make_workflow(ws, nested(inner_target="y", inner_join="inner-join"))
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.COMPLETED
    assert test_blocks == ["outer", "x", "inner", "y", "inner-join", "join", "after"]


def skipped_steps(run: Run) -> set[str]:
    return {slug for slug, status in steps(run).items() if status == "SKIPPED"}


def test_an_inner_path_not_taken_that_leads_into_the_outer_join_skips_only_itself(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        inside_an_outer_branch(
            action("inner", "CONDITIONAL_BRANCH", ["y", "z"], target="y"),
            action("y", "ECHO", []),
            action("z", "ECHO", ["j"]),
            also=["other"],
        ),
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.COMPLETED
    assert test_blocks == ["outer", "x", "inner", "y", "j", "after"]
    assert skipped_steps(run) == {"z", "other"}


def test_a_path_that_edges_into_the_outer_join_leaves_its_inner_join_skipped(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        inside_an_outer_branch(
            action(
                "inner",
                "CONDITIONAL_BRANCH",
                ["y", "z"],
                target="y",
                joiningAction="ij",
            ),
            action("y", "ECHO", ["j"]),  # straight out to the outer join
            action("z", "ECHO", []),
            action("ij", "ECHO", ["tidy"]),
            action("tidy", "ECHO", []),
        ),
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.COMPLETED
    assert test_blocks == ["outer", "x", "inner", "y", "j", "after"]
    assert skipped_steps(run) == {"z", "ij", "tidy"}


def test_an_inner_branch_taken_straight_to_the_outer_join_leaves_its_join_skipped(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        inside_an_outer_branch(
            action(
                "inner",
                "CONDITIONAL_BRANCH",
                ["y", "j"],
                target="j",  # the taken path is the outer join itself
                joiningAction="ij",
            ),
            action("y", "ECHO", ["ij"]),
            action("ij", "ECHO", ["tidy"]),
            action("tidy", "ECHO", []),
        ),
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.COMPLETED
    assert test_blocks == ["outer", "x", "inner", "j", "after"]
    assert skipped_steps(run) == {"y", "ij", "tidy"}


@pytest.mark.django_db(transaction=True)
def test_the_response_is_rendered_outside_the_transaction_that_ends_the_run(
    ws, grace, test_blocks, monkeypatch
):
    """A big template held SQLite's write lock (taken at BEGIN) while it rendered."""
    from django.db import connection

    rendering_in_transaction = []
    real = engine.render

    def spy(template, state):
        rendering_in_transaction.append(connection.in_atomic_block)
        return real(template, state)

    monkeypatch.setattr(engine, "render", spy)
    wf = make_workflow(
        ws, chain("a", "b"), runResponseTemplate="Done by {{context.initiatedBy.email}}"
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.response == "Done by grace@example.com"
    assert rendering_in_transaction[-1] is False


def test_a_failing_block_fails_the_run_and_renders_the_failure_template(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [
            action("a", "ECHO", ["b"], root=True),
            action("b", "FAIL", ["c"], message="disk full"),
            action("c"),
        ],
        failedRunResponseTemplate="Run {{context.workflowRunId}} failed",
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))

    assert run.status == S.FAILED
    assert "disk full" in run.error
    assert Step.objects.get(run=run, slug="b").error == "disk full"
    assert "c" not in steps(run)
    assert run.response == f"Run {run.uid} failed"


def test_a_block_that_crashes_fails_its_step_with_a_message_instead_of_killing_the_worker(
    ws, grace, test_blocks
):
    wf = make_workflow(ws, [action("a", "BOOM", root=True)])
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.FAILED
    assert "Internal error in BOOM block" in run.error


def http_workflow(ws, url):
    return make_workflow(
        ws,
        [
            action(
                "get-stats",
                "HTTP_REQUEST",
                ["after"],
                root=True,
                httpMethod="GET",
                url=url,
            ),
            action("after"),
        ],
    )


@pytest.mark.parametrize(
    "body",
    ['{"ok": 1, "ratio": NaN}', '{"ok": 1, "big": 1e400}'],
    ids=["nan", "past-a-double"],
)
def test_an_http_response_whose_json_holds_what_the_database_cannot_is_kept_as_text(
    ws, grace, http_server, loopback_allowed, test_blocks, body
):
    """NaN is not JSON (Python reads it) and 1e400 is infinity to a double;
    PostgreSQL stores neither: the run used to stay IN_PROGRESS, then fail."""
    http_server.route(
        "GET",
        "/stats",
        body=body.encode(),
        headers={"Content-Type": "application/json"},
    )
    wf = http_workflow(ws, http_server.url("/stats"))
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.COMPLETED, run.error
    assert run.state["actions"]["get-stats"]["outputs"]["body"] == body


def test_a_block_output_the_database_cannot_store_fails_its_step_naming_where(
    ws, grace, http_server, loopback_allowed
):
    http_server.route("GET", "/stats", json={"ok": 1, "name": "a\u0000b"})
    wf = http_workflow(ws, http_server.url("/stats"))
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.FAILED
    step = Step.objects.get(run=run, slug="get-stats")
    assert step.error == (
        "The HTTP_REQUEST block's outputs.body.name: text must not contain NUL characters"
    )
    assert step.inputs["url"] == http_server.url("/stats")  # what was asked stays
    assert "after" not in steps(run)


def test_a_variable_set_to_all_the_variables_is_a_copy_not_a_loop(ws, grace):
    wf = make_workflow(
        ws,
        [
            action(
                "remember",
                "SET_VARIABLES",
                root=True,
                variables=[
                    {
                        "slug": "before",
                        "source": {"type": "REFERENCE", "path": "variables"},
                    }
                ],
            )
        ],
        variables=[
            {"slug": "name", "type": "STRING", "defaultValue": "pay"},
            {"slug": "before", "type": "OBJECT"},
        ],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.COMPLETED, run.error
    assert run.state["variables"]["before"] == {"name": "pay", "before": None}


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (
            "let v = 1; for (let i = 0; i < 500; i++) v = [v]; return {v}",
            "The JAVASCRIPT block's outputs is nested more than 100 levels deep",
        ),
        (
            "const s = 'x'.repeat(1e6); return {a: Array(9).fill(s)}",
            "The JAVASCRIPT block's outputs: more than 8,000,000 characters of text",
        ),
    ],
    ids=["too-deep", "too-much-text"],
)
def test_a_block_whose_outputs_are_too_big_fails_its_step_saying_how(
    ws, grace, script, error
):
    wf = make_workflow(ws, [action("big", "JAVASCRIPT", root=True, script=script)])
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.FAILED
    assert Step.objects.get(run=run, slug="big").error == error


def test_a_block_type_cairn_cannot_run_fails_the_run_naming_it(ws, grace, test_blocks):
    wf = make_workflow(ws, [action("scaffold", "SCAFFOLDER", root=True)])
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.FAILED
    assert "Cairn cannot execute SCAFFOLDER blocks yet" in run.error


def test_a_template_that_does_not_parse_fails_its_step_saying_why(
    ws, grace, test_blocks
):
    # Saved before descriptors were checked for it (validation refuses it now):
    wf = make_workflow(
        ws, [action("a", "ECHO", root=True, outputs={"x": "{{#variables.n}}open"})]
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.FAILED
    assert Step.objects.get(run=run, slug="a").error == (
        'A template is not valid Mustache: the section "variables.n" is never'
        " closed with {{/variables.n}}"
    )


def test_the_audit_trail_records_what_happened(ws, grace, test_blocks):
    wf = make_workflow(ws, chain("a", "b"))
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    kinds = list(RunEvent.objects.filter(run=run).values_list("kind", flat=True))
    assert kinds == [
        "created",
        "step_completed",
        "step_completed",
        "completed",
    ]


# --- variables and initialContext -------------------------------------------------------


def test_initial_context_sets_declared_variables(ws, grace, test_blocks):
    wf = make_workflow(
        ws,
        [
            action(
                "a",
                outputs={"repo": "{{variables.repo}}", "n": "{{variables.count}}"},
                root=True,
            )
        ],
        variables=[
            {"slug": "repo", "type": "STRING"},
            {"slug": "count", "type": "NUMBER", "defaultValue": 1},
        ],
    )
    run = run_to_rest(
        engine.start(workflow=wf, initiator=grace, initial_context={"repo": "cairn"})
    )
    assert run.state["variables"] == {"repo": "cairn", "count": 1}
    assert run.state["context"]["initialContext"] == {"repo": "cairn"}
    assert run.state["actions"]["a"]["outputs"] == {"repo": "cairn", "n": "1"}


def test_initial_context_of_the_wrong_type_is_refused_and_nothing_is_stored(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws, [action("a", root=True)], variables=[{"slug": "count", "type": "NUMBER"}]
    )
    with pytest.raises(engine.EngineError, match="initialContext.count"):
        engine.start(workflow=wf, initiator=grace, initial_context={"count": "many"})
    assert not Run.objects.exists()


def test_every_initial_context_value_of_the_wrong_type_is_named_at_once(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [action("a", root=True)],
        variables=[
            {"slug": "count", "type": "NUMBER"},
            {"slug": "flag", "type": "BOOLEAN"},
            {"slug": "name", "type": "STRING"},
        ],
    )
    with pytest.raises(engine.EngineError) as refused:
        engine.start(
            workflow=wf,
            initiator=grace,
            initial_context={"count": "x", "flag": "y", "name": "fine"},
        )
    assert str(refused.value) == (
        "initialContext.count: must be NUMBER, got 'x';"
        " initialContext.flag: must be BOOLEAN, got 'y'"
    )
    assert not Run.objects.exists()


def test_a_workflow_without_blocks_is_refused_at_start_and_nothing_is_stored(ws, grace):
    wf = make_workflow(ws, [])
    with pytest.raises(engine.EngineError, match="no blocks yet"):
        engine.start(workflow=wf, initiator=grace)
    assert not Run.objects.exists()


# --- pauses: input, approval, callback ---------------------------------------------------


def test_a_run_pauses_for_input_holds_no_worker_and_resumes_with_the_values(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [
            action("form", "ASK", ["after"], root=True),
            action("after", outputs={"env": "{{actions.form.outputs.env}}"}),
        ],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.PAUSED
    assert run.lease is None
    form = Step.objects.get(run=run, slug="form")
    assert (form.status, form.waiting_for) == ("WAITING", "USER_INPUT")

    engine.submit_input(run, form, values={"env": "prod"}, by=grace)
    run.refresh_from_db()
    assert run.status == S.IN_PROGRESS  # resumed and admitted at once: a slot was free
    run = run_to_rest(run)

    assert run.status == S.COMPLETED
    assert run.state["actions"]["after"]["outputs"] == {"env": "prod"}
    form.refresh_from_db()
    assert form.completed_by == grace


def test_only_the_initiator_may_fill_the_form_when_the_workflow_restricts_completion(
    ws, grace, vera, test_blocks
):
    wf = make_workflow(
        ws,
        [action("form", "ASK", root=True)],
        restrictActionCompletionToRunnerUser=True,
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    form = Step.objects.get(run=run, slug="form")
    with pytest.raises(engine.NotAllowed):
        engine.submit_input(run, form, values={}, by=vera)
    assert Run.objects.get(pk=run.pk).status == S.PAUSED


def test_a_form_answered_twice_refuses_the_second_answer(ws, grace, test_blocks):
    wf = make_workflow(
        ws, [action("form", "ASK", ["b"], root=True), action("b", "ASK")]
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    form = Step.objects.get(run=run, slug="form")
    engine.submit_input(run, form, values={"x": 1}, by=grace)
    with pytest.raises(engine.NotWaiting):
        engine.submit_input(run, form, values={"x": 2}, by=grace)


def approval_workflow(ws, **schema):
    return make_workflow(
        ws,
        [
            action(
                "approve",
                "MANUAL_APPROVAL",
                ["after"],
                root=True,
                approvingTeamIds=["platform"],
                approverDescription="Ship {{context.initiatedBy.email}}?",
                **schema,
            ),
            action("after"),
        ],
    )


def test_an_approver_approves_and_the_run_continues(ws, grace, platform, test_blocks):
    linus = platform.members.get()
    run = run_to_rest(engine.start(workflow=approval_workflow(ws), initiator=grace))
    step = Step.objects.get(run=run, slug="approve")
    assert step.inputs["approverDescription"] == "Ship grace@example.com?"
    assert Notification.objects.filter(user=linus, kind="NEEDS_APPROVAL").exists()

    engine.decide(run, step, by=linus, approve=True)
    run = run_to_rest(run)

    assert run.status == S.COMPLETED
    assert Decision.objects.get(step=step).user == linus
    assert run.state["actions"]["approve"]["outputs"]["approvedBy"] == [
        "linus@example.com"
    ]


def unread_requests(run: Run) -> list[str]:
    return sorted(
        Notification.objects.filter(run=run, read_at__isnull=True)
        .exclude(kind__startswith="RUN_")  # what happened, not what is asked
        .values_list("kind", flat=True)
    )


def test_a_request_is_no_longer_new_once_answered(ws, grace, platform, test_blocks):
    linus = platform.members.get()
    ken = UserFactory(email="ken@example.com")
    member(ws, ken)
    platform.members.add(ken)
    wf = make_workflow(
        ws,
        [
            action("form", "ASK", ["approve"], root=True),
            action(
                "approve",
                "MANUAL_APPROVAL",
                [],
                approvingTeamIds=["platform"],
                requiredApprovals=2,
            ),
        ],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert unread_requests(run) == ["NEEDS_INPUT"]
    engine.submit_input(
        run, Step.objects.get(run=run, slug="form"), values={}, by=grace
    )
    run = run_to_rest(run)
    waiting = ["AWAITING_APPROVAL", "NEEDS_APPROVAL", "NEEDS_APPROVAL"]
    assert unread_requests(run) == waiting
    step = Step.objects.get(run=run, slug="approve")
    engine.decide(run, step, by=linus, approve=True)
    # Linus has answered; ken is still asked, and grace still waits:
    assert unread_requests(run) == ["AWAITING_APPROVAL", "NEEDS_APPROVAL"]
    assert not Notification.objects.filter(user=linus, read_at__isnull=True).exists()
    engine.decide(run, step, by=ken, approve=True)
    assert unread_requests(run) == []
    assert run_to_rest(run).status == S.COMPLETED


def test_cancelling_a_paused_run_retires_its_request(ws, grace, test_blocks):
    wf = make_workflow(ws, [action("form", "ASK", [], root=True)])
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert unread_requests(run) == ["NEEDS_INPUT"]
    engine.cancel(run, by=grace)
    assert unread_requests(run) == []
    assert Notification.objects.get(run=run, kind="RUN_CANCELLED").read_at is None


def test_approving_team_ids_in_digits_of_other_scripts_name_no_team(
    ws, grace, platform, test_blocks
):
    """ "²".isdigit() is true and int("²") raises: the worker died on it, five times."""
    superscript, arabic = "²", "".join(chr(0x660 + int(d)) for d in str(platform.pk))
    wf = approval_workflow(ws)
    version = wf.current_version
    version.descriptor["actions"][0]["schema"]["approvingTeamIds"] = [
        superscript,
        arabic,
        "platform",
    ]
    version.save()
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.PAUSED
    linus = platform.members.get()  # approves through the tag, not the look-alike id
    engine.decide(
        run, Step.objects.get(run=run, slug="approve"), by=linus, approve=True
    )
    assert run_to_rest(run).status == S.COMPLETED


def test_someone_outside_the_approving_teams_cannot_approve(
    ws, grace, vera, platform, test_blocks
):
    run = run_to_rest(engine.start(workflow=approval_workflow(ws), initiator=grace))
    step = Step.objects.get(run=run, slug="approve")
    with pytest.raises(engine.NotAllowed):
        engine.decide(run, step, by=vera, approve=True)
    assert not Decision.objects.exists()


def test_a_rejection_needs_a_reason_and_fails_the_run_with_it(
    ws, grace, platform, test_blocks
):
    linus = platform.members.get()
    run = run_to_rest(engine.start(workflow=approval_workflow(ws), initiator=grace))
    step = Step.objects.get(run=run, slug="approve")
    with pytest.raises(engine.EngineError, match="reason"):
        engine.decide(run, step, by=linus, approve=False)

    engine.decide(run, step, by=linus, approve=False, reason="Not on a Friday")

    run.refresh_from_db()
    assert run.status == S.FAILED
    assert "Rejected by linus@example.com: Not on a Friday" in run.error
    assert "after" not in steps(run)


def test_required_approvals_waits_for_that_many_approvers(
    ws, grace, platform, test_blocks
):
    linus = platform.members.get()
    ken = UserFactory(email="ken@example.com")
    member(ws, ken)
    platform.members.add(ken)
    run = run_to_rest(
        engine.start(
            workflow=approval_workflow(ws, requiredApprovals=2), initiator=grace
        )
    )
    step = Step.objects.get(run=run, slug="approve")

    engine.decide(run, step, by=linus, approve=True)
    assert Run.objects.get(pk=run.pk).status == S.PAUSED
    # Not "approved: false" while it waits (the page read that as a rejection):
    outputs = Step.objects.get(pk=step.pk).outputs
    assert "approved" not in outputs
    assert [d["user"] for d in outputs["decisions"]] == ["linus@example.com"]
    with pytest.raises(engine.EngineError, match="already decided"):
        engine.decide(run, step, by=linus, approve=True)
    engine.decide(run, step, by=ken, approve=True)

    assert run_to_rest(run).status == S.COMPLETED


def test_prevent_self_approval_stops_the_initiator_approving_their_own_run(
    ws, platform, test_blocks
):
    linus = platform.members.get()
    run = run_to_rest(
        engine.start(
            workflow=approval_workflow(ws, preventSelfApproval=True), initiator=linus
        )
    )
    step = Step.objects.get(run=run, slug="approve")
    with pytest.raises(engine.NotAllowed):
        engine.decide(run, step, by=linus, approve=True)


def test_a_callback_completes_a_waiting_block_and_a_late_one_is_refused(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [action("hook", "HTTP_REQUEST_ASYNC", ["after"], root=True), action("after")],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    step = Step.objects.get(run=run, slug="hook")
    assert run.state["actions"]["hook"]["outputs"]["callbackUrl"].endswith(
        f"/callback/{step.callback_id}"
    )

    engine.callback(step, {"status": "UPDATE", "message": "halfway"})
    assert Run.objects.get(pk=run.pk).status == S.PAUSED
    engine.callback(step, {"status": "SUCCESS", "message": "deployed"})
    run = run_to_rest(run)

    assert run.status == S.COMPLETED
    assert run.state["actions"]["hook"]["outputs"] == {"message": "deployed"}
    with pytest.raises(engine.NotWaiting):
        engine.callback(step, {"status": "SUCCESS", "message": "again"})


def early_callback_workflow(
    ws, answers=({"status": "SUCCESS", "message": "deployed"},), **schema
):
    """An async block whose callee calls back with `answers` before it waits."""
    return make_workflow(
        ws,
        [
            action(
                "hook",
                "HTTP_REQUEST_ASYNC",
                ["after"],
                root=True,
                answers=list(answers),
                **schema,
            ),
            action("after"),
        ],
    )


def updates(run) -> list[str]:
    """The messages of the run's UPDATE callbacks, as applied, in order."""
    return list(
        RunEvent.objects.filter(run=run, kind="step_updated")
        .order_by("pk")
        .values_list("message", flat=True)
    )


def test_a_callback_that_comes_before_the_block_waits_is_applied_once_it_does(
    ws, grace, test_blocks
):
    # The callee calls back before its answer to the request is in:
    answers = [
        {"status": "UPDATE", "message": "started"},
        {"status": "SUCCESS", "message": "deployed"},
        {"status": "UPDATE", "message": "too late to matter"},
    ]

    run = run_to_rest(
        engine.start(workflow=early_callback_workflow(ws, answers), initiator=grace)
    )

    assert run.status == S.COMPLETED
    assert run.state["actions"]["hook"]["outputs"] == {"message": "deployed"}
    assert Step.objects.get(run=run, slug="hook").early_callback is None
    assert updates(run) == ["started"]


def test_each_of_many_early_updates_is_applied_in_the_order_they_came(
    ws, grace, test_blocks
):
    answers = [{"status": "UPDATE", "message": f"step {i}"} for i in range(5)]
    answers.append({"status": "SUCCESS", "message": "deployed"})
    wf = early_callback_workflow(ws, answers)
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.COMPLETED
    assert updates(run) == [f"step {i}" for i in range(5)]


@pytest.mark.parametrize(
    ("late", "expected_status", "expected_updates"),
    [
        ({"status": "UPDATE", "message": "three"}, S.PAUSED, ["one", "two", "three"]),
        ({"status": "SUCCESS", "message": "deployed"}, S.COMPLETED, ["one", "two"]),
    ],
)
def test_a_callback_that_comes_while_kept_ones_wait_to_be_applied_goes_after_them(
    ws, grace, test_blocks, monkeypatch, late, expected_status, expected_updates
):
    answers = [
        {"status": "UPDATE", "message": "one"},
        {"status": "UPDATE", "message": "two"},
    ]
    apply = engine._apply_early_callback
    # The block waits, but its worker hasn't applied what was kept (it died,
    # and the sweep hasn't come yet) when the callee calls back again:
    monkeypatch.setattr(engine, "_apply_early_callback", lambda step_id: None)
    run = run_to_rest(
        engine.start(workflow=early_callback_workflow(ws, answers), initiator=grace)
    )
    monkeypatch.setattr(engine, "_apply_early_callback", apply)
    step = Step.objects.select_related("run").get(run=run, slug="hook")
    assert step.status == "WAITING" and len(step.early_callback) == 2

    engine.callback(step, late)

    run = run_to_rest(run)
    assert run.status == expected_status
    assert updates(run) == expected_updates
    step.refresh_from_db()
    assert step.early_callback is None
    assert step.outputs["message"] == late["message"]


def test_an_early_update_past_the_most_kept_replaces_the_last_one(
    ws, grace, test_blocks, monkeypatch
):
    monkeypatch.setattr(engine, "_EARLY_MAX", 3)
    answers = [{"status": "UPDATE", "message": f"step {i}"} for i in range(6)]
    wf = make_workflow(
        ws,
        [action("hook", "HTTP_REQUEST_ASYNC", root=True, answers=answers)],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.PAUSED
    assert updates(run) == ["step 0", "step 1", "step 5"]


class WorkerDied(BaseException):
    """A worker killed at this line (nothing after it runs, nothing catches it)."""


def test_an_early_callback_whose_worker_died_before_applying_it_is_applied_by_the_sweep(
    ws, grace, test_blocks, monkeypatch
):
    def died(step_id):
        raise WorkerDied

    apply = engine._apply_early_callback
    monkeypatch.setattr(engine, "_apply_early_callback", died)
    run = engine.start(workflow=early_callback_workflow(ws), initiator=grace)
    with pytest.raises(WorkerDied):
        run_to_rest(run)
    monkeypatch.setattr(engine, "_apply_early_callback", apply)
    step = Step.objects.get(run=run, slug="hook")
    assert (run_to_rest(run).status, step.status) == (S.PAUSED, "WAITING")
    assert [k["callback"] for k in step.early_callback] == [
        {"status": "SUCCESS", "message": "deployed"}
    ]

    assert engine.sweep()["callbacks"] == 1
    run = run_to_rest(run)
    assert run.status == S.COMPLETED, run.error
    assert run.state["actions"]["hook"]["outputs"] == {"message": "deployed"}
    assert Step.objects.get(run=run, slug="hook").early_callback is None
    assert engine.sweep()["callbacks"] == 0  # used up


def test_an_early_callback_whose_worker_died_while_applying_it_is_not_lost(
    ws, grace, test_blocks, monkeypatch
):
    resume = engine._resume

    def dies_in_resume(*args, **kwargs):
        raise WorkerDied

    monkeypatch.setattr(engine, "_resume", dies_in_resume)
    run = engine.start(workflow=early_callback_workflow(ws), initiator=grace)
    with pytest.raises(WorkerDied):
        run_to_rest(run)
    monkeypatch.setattr(engine, "_resume", resume)
    # Still kept: it is used up only by the commit that applies it.
    assert Step.objects.get(run=run, slug="hook").early_callback is not None

    engine.sweep()
    assert run_to_rest(run).status == S.COMPLETED


def test_an_early_callback_is_applied_once_though_the_worker_and_the_sweep_both_try(
    ws, grace, test_blocks, monkeypatch
):
    apply = engine._apply_early_callback
    monkeypatch.setattr(engine, "_apply_early_callback", lambda step_id: None)
    run = run_to_rest(
        engine.start(workflow=early_callback_workflow(ws), initiator=grace)
    )
    monkeypatch.setattr(engine, "_apply_early_callback", apply)
    step = Step.objects.get(run=run, slug="hook")
    engine._apply_early_callback(step.pk)  # the worker, late
    engine._apply_early_callback(step.pk)  # the sweep, later still
    run = run_to_rest(run)
    assert run.status == S.COMPLETED
    assert (
        RunEvent.objects.filter(
            run=run, kind="step_completed", step_slug="hook"
        ).count()
        == 1
    )


def test_an_answer_the_database_cannot_store_is_refused_and_the_step_still_waits(
    ws, grace, test_blocks
):
    from workflows.inputs import InputInvalid

    wf = make_workflow(
        ws, [action("ask", "ASK", ["after"], root=True), action("after")]
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    step = Step.objects.get(run=run, slug="ask")
    with pytest.raises(InputInvalid, match=r"outputs\.n: nan is not a number"):
        engine.submit_input(run, step, values={"n": float("nan")}, by=grace)
    step.refresh_from_db()
    assert (step.status, Run.objects.get(pk=run.pk).status) == ("WAITING", S.PAUSED)
    engine.submit_input(run, step, values={"n": 1}, by=grace)
    assert run_to_rest(run).status == S.COMPLETED


def test_an_early_callback_is_kept_with_its_secrets_masked(
    ws, grace, test_blocks, monkeypatch
):
    # The callee echoes the token it was sent, before the block waits:
    Secret.objects.create(
        workspace=ws, tag="tok", name="Token", encrypted_value=encrypt("s3cr3t-val")
    )
    answer = {
        "status": "SUCCESS",
        "message": "deployed with s3cr3t-val",
        "response": {"s3cr3t-val": ["s3cr3t-val"]},
    }
    wf = make_workflow(
        ws,
        [action("hook", "HTTP_REQUEST_ASYNC", root=True, answers=[answer])],
    )
    apply = engine._apply_early_callback
    monkeypatch.setattr(engine, "_apply_early_callback", lambda step_id: None)
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    kept = Step.objects.get(run=run, slug="hook").early_callback
    assert "s3cr3t-val" not in json.dumps(kept)
    assert kept[0]["callback"]["message"] == f"deployed with {MASK}"
    monkeypatch.setattr(engine, "_apply_early_callback", apply)
    engine.sweep()
    run = run_to_rest(run)
    assert run.status == S.COMPLETED
    assert run.state["actions"]["hook"]["outputs"] == {
        "message": f"deployed with {MASK}"
    }


def test_a_callback_while_the_run_is_being_cancelled_is_refused(ws, grace, test_blocks):
    wf = early_callback_workflow(ws, cancel_first=True)
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    # The callee is told its answer doesn't count (the API's 406), and the
    # block ends cancelled with the run:
    assert REFUSED == ["The run is being cancelled"]
    assert run.status == S.CANCELLED
    assert "after" not in run.state["actions"]
    step = Step.objects.get(run=run, slug="hook")
    assert (step.status, step.early_callback) == ("CANCELLED", None)


def test_an_early_failure_callback_fails_the_block_once_it_waits(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [
            action(
                "hook",
                "HTTP_REQUEST_ASYNC",
                root=True,
                answers=[{"status": "FAILURE", "message": "no such pipeline"}],
            )
        ],
    )

    run = run_to_rest(engine.start(workflow=wf, initiator=grace))

    assert run.status == S.FAILED
    step = Step.objects.get(run=run, slug="hook")
    assert (step.status, step.error, step.waiting_for) == (
        "FAILED",
        "no such pipeline",
        "",
    )


def test_a_failure_callback_fails_the_run(ws, grace, test_blocks):
    wf = make_workflow(ws, [action("hook", "HTTP_REQUEST_ASYNC", root=True)])
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    engine.callback(
        Step.objects.get(run=run), {"status": "FAILURE", "message": "pipeline red"}
    )
    run.refresh_from_db()
    assert run.status == S.FAILED
    assert "pipeline red" in run.error


def test_a_malformed_callback_changes_nothing(ws, grace, test_blocks):
    wf = make_workflow(ws, [action("hook", "HTTP_REQUEST_ASYNC", root=True)])
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    step = Step.objects.get(run=run)
    with pytest.raises(ValueError):
        engine.callback(step, {"status": "MAYBE"})
    step.refresh_from_db()
    assert step.status == "WAITING"


def test_a_run_without_a_needed_initiator_waits_for_one(ws, grace, test_blocks):
    wf = make_workflow(
        ws, [action("a", root=True)], restrictActionCompletionToRunnerUser=True
    )
    run = engine.start(workflow=wf, initiator=None, source=Run.Source.API)
    assert run.status == S.PAUSED

    engine.set_initiator(
        run, user=grace, by=grace, perms=frozenset(BUILTIN_ROLES["User"])
    )

    run = run_to_rest(run)
    assert run.status == S.COMPLETED
    assert run.initiator == grace
    assert run.state["context"]["initiatedBy"]["email"] == "grace@example.com"


def test_the_initiator_has_cortexs_identity_mappings_empty_so_scripts_can_read_them(
    ws, grace
):
    wf = make_workflow(
        ws,
        [
            action(
                "a",
                "JAVASCRIPT",
                root=True,
                script="return {gh: context.initiatedBy.identityMappings.github ?? 'none',"
                " byAlias: context.initiatedBy.identityMappingsByAlias};",
            )
        ],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.COMPLETED, run.error
    assert run.state["actions"]["a"]["outputs"] == {"gh": "none", "byAlias": {}}


# --- the concurrency cap -------------------------------------------------------------


def test_runs_over_the_cap_wait_queued_and_start_first_in_first_out(
    ws, grace, settings, test_blocks
):
    settings.MAX_CONCURRENT_RUNS = 2
    wf = make_workflow(ws, [action("a", root=True)])
    runs = [engine.start(workflow=wf, initiator=grace) for _ in range(4)]
    assert [r.status for r in runs] == [
        S.IN_PROGRESS,
        S.IN_PROGRESS,
        S.QUEUED,
        S.QUEUED,
    ]

    run_to_rest(runs[0])

    statuses = [Run.objects.get(pk=r.pk).status for r in runs]
    assert statuses == [S.COMPLETED, S.IN_PROGRESS, S.IN_PROGRESS, S.QUEUED]


def test_paused_runs_do_not_count_against_the_cap(ws, grace, settings, test_blocks):
    settings.MAX_CONCURRENT_RUNS = 1
    asking = make_workflow(ws, [action("form", "ASK", root=True)], tag="asking")
    quick = make_workflow(ws, [action("a", root=True)], tag="quick")
    paused = run_to_rest(engine.start(workflow=asking, initiator=grace))
    assert paused.status == S.PAUSED
    assert engine.start(workflow=quick, initiator=grace).status == S.IN_PROGRESS


def test_a_resumed_run_goes_ahead_of_new_runs(ws, grace, settings, test_blocks):
    settings.MAX_CONCURRENT_RUNS = 1
    asking = make_workflow(
        ws, [action("form", "ASK", ["b"], root=True), action("b")], tag="asking"
    )
    quick = make_workflow(ws, [action("a", root=True)], tag="quick")
    paused = run_to_rest(engine.start(workflow=asking, initiator=grace))
    busy = engine.start(workflow=quick, initiator=grace)
    waiting_new = engine.start(workflow=quick, initiator=grace)
    assert waiting_new.status == S.QUEUED

    engine.submit_input(paused, Step.objects.get(run=paused), values={}, by=grace)
    assert Run.objects.get(pk=paused.pk).status == S.QUEUED  # cap is full
    run_to_rest(busy)

    assert Run.objects.get(pk=paused.pk).status == S.IN_PROGRESS
    assert Run.objects.get(pk=waiting_new.pk).status == S.QUEUED


def test_the_cap_is_per_workspace(ws, other_ws, grace, ted, settings, test_blocks):
    settings.MAX_CONCURRENT_RUNS = 1
    mine = make_workflow(ws, [action("a", root=True)])
    theirs = make_workflow(other_ws, [action("a", root=True)])
    assert engine.start(workflow=mine, initiator=grace).status == S.IN_PROGRESS
    assert engine.start(workflow=theirs, initiator=ted).status == S.IN_PROGRESS


# --- cancel ------------------------------------------------------------------------------


def test_cancelling_a_queued_run_cancels_it_at_once(ws, grace, settings, test_blocks):
    settings.MAX_CONCURRENT_RUNS = 1
    wf = make_workflow(ws, [action("a", root=True)])
    engine.start(workflow=wf, initiator=grace)
    queued = engine.start(workflow=wf, initiator=grace)
    assert engine.cancel(queued, by=grace) == S.CANCELLED
    assert not queued.steps.exists()


def test_cancelling_a_paused_run_closes_its_form_and_keeps_completed_blocks(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws, [action("a", "ECHO", ["form"], root=True), action("form", "ASK")]
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))

    assert engine.cancel(run, by=grace) == S.CANCELLED

    assert steps(run) == {"a": "COMPLETED", "form": "CANCELLED"}
    assert Step.objects.get(run=run, slug="form").waiting_for == ""  # not any more
    with pytest.raises(engine.NotWaiting):
        engine.submit_input(
            run, Step.objects.get(run=run, slug="form"), values={}, by=grace
        )


def test_cancelling_a_run_with_a_block_in_flight_waits_for_the_block_then_cancels(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [
            action("a", "ECHO", ["b"], root=True),
            action("b", "ECHO", ["c"]),
            action("c"),
        ],
    )
    run = engine.start(workflow=wf, initiator=grace)
    # A worker holds the run and is inside block "a":
    Run.objects.filter(pk=run.pk).update(
        lease="00000000-0000-0000-0000-000000000001", heartbeat_at=timezone.now()
    )
    run.refresh_from_db()

    assert engine.cancel(run, by=grace) == S.CANCELLING

    # The worker finishes "a", then sees the cancel before starting "b":
    Run.objects.filter(pk=run.pk).update(
        lease=None, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    engine.advance(run.pk)
    run.refresh_from_db()
    assert run.status == S.CANCELLED
    assert test_blocks == []


def test_a_cancel_that_races_the_run_resuming_still_cancels_it(ws, grace, test_blocks):
    wf = make_workflow(
        ws, [action("a", "ECHO", ["form"], root=True), action("form", "ASK")]
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.PAUSED
    resumed = []

    def answer_lands_meanwhile(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if not resumed and sql.startswith('UPDATE "workflows_run"'):
            # After the cancel looked for IN_PROGRESS, before it looks for PAUSED,
            # someone fills in the form and the run goes on:
            resumed.append(None)
            resumed[0] = Run.objects.filter(pk=run.pk).update(status=S.IN_PROGRESS)
        return result

    with connection.execute_wrapper(answer_lands_meanwhile):
        status = engine.cancel(run, by=grace)

    assert resumed == [1]
    assert status == S.CANCELLED


def test_a_finished_run_cannot_be_cancelled(ws, grace, test_blocks):
    run = run_to_rest(
        engine.start(
            workflow=make_workflow(ws, [action("a", root=True)]), initiator=grace
        )
    )
    with pytest.raises(engine.IllegalTransition):
        engine.cancel(run, by=grace)


# --- durability ---------------------------------------------------------------------------


def test_a_second_delivery_of_the_same_run_does_nothing_while_a_worker_holds_it(
    ws, grace, test_blocks
):
    run = engine.start(workflow=make_workflow(ws, chain("a", "b")), initiator=grace)
    Run.objects.filter(pk=run.pk).update(
        lease="00000000-0000-0000-0000-000000000001", heartbeat_at=timezone.now()
    )
    engine.advance(run.pk)
    assert test_blocks == []


def test_a_run_whose_worker_died_mid_block_is_taken_over_and_retries_only_that_block(
    ws, grace, test_blocks
):
    run = engine.start(
        workflow=make_workflow(ws, chain("a", "b", "c")), initiator=grace
    )
    # A worker completed "a", started "b" and died (SIGKILL) holding the lease:
    Step.objects.create(run=run, slug="a", type="ECHO", status="COMPLETED", position=1)
    first_started = timezone.now() - timedelta(hours=1)
    Step.objects.create(
        run=run,
        slug="b",
        name="B",
        type="ECHO",
        status="RUNNING",
        position=2,
        started_at=first_started,
    )
    Run.objects.filter(pk=run.pk).update(
        cursor={"pending": ["b"], "joins": []},
        lease="00000000-0000-0000-0000-000000000002",
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )

    run = run_to_rest(run)

    assert run.status == S.COMPLETED
    assert test_blocks == ["b", "c"]
    b = Step.objects.get(run=run, slug="b")
    assert b.attempt == 2 and b.is_retry
    assert b.started_at == first_started  # the first attempt's, kept
    retried = RunEvent.objects.get(run=run, kind="step_retried", step_slug="b")
    assert retried.message == "Retrying B (attempt 2)"  # its name, as other entries


LEASE = uuid.UUID("00000000-0000-0000-0000-000000000003")


def died_mid_block(ws, grace, process: str, tag: str = "wf", lease=LEASE) -> Run:
    """A run of a, b, c whose worker completed a and was inside b, its heartbeat
    fresh, holding the lease as the process named `process`."""
    run = engine.start(
        workflow=make_workflow(ws, chain("a", "b", "c"), tag=tag), initiator=grace
    )
    Step.objects.create(run=run, slug="a", type="ECHO", status="COMPLETED", position=1)
    Step.objects.create(run=run, slug="b", type="ECHO", status="RUNNING", position=2)
    Run.objects.filter(pk=run.pk).update(
        cursor={"pending": ["b"], "joins": []},
        lease=LEASE,
        heartbeat_at=timezone.now(),
        lease_holder=f"{lease.hex}/{process}" if process else "",
    )
    return run


def ended_process() -> str:
    """The holder name of a process of this machine that has ended."""
    child = subprocess.Popen(["true"])
    name = f"{holder._machine()}:{child.pid}:{holder._stat(child.pid)[1]}"
    child.wait()
    return name


@pytest.mark.skipif(not holder.me(), reason="needs Linux's /proc")
def test_a_run_whose_worker_died_on_this_machine_is_taken_over_at_once_not_when_stale(
    ws, grace, test_blocks, monkeypatch
):
    enqueued = []
    monkeypatch.setattr(engine, "_enqueue_now", enqueued.append)
    run = died_mid_block(ws, grace, ended_process())

    assert engine.sweep()["requeued"] == 1 and enqueued == [run.pk]
    assert Run.objects.get(pk=run.pk).lease is None  # any worker may claim it
    run = run_to_rest(run)

    assert run.status == S.COMPLETED
    assert test_blocks == ["b", "c"]
    b = Step.objects.get(run=run, slug="b")
    assert b.attempt == 2 and b.is_retry


def test_a_starting_worker_sends_again_the_runs_admitted_that_no_worker_holds(
    ws, grace, test_blocks, monkeypatch
):
    # Admitted, its message perhaps taken by a worker killed before it claimed
    # the run: the broker gives such a message back only after an hour.
    admitted = engine.start(
        workflow=make_workflow(ws, chain("a", "b")), initiator=grace
    )
    assert (admitted.status, admitted.lease) == (S.IN_PROGRESS, None)
    died_mid_block(ws, grace, "another-boot:4026531836:1:1", tag="held")
    enqueued = []
    monkeypatch.setattr(engine, "_enqueue_now", enqueued.append)

    assert engine.requeue_unclaimed() == 1
    assert enqueued == [admitted.pk]  # not the run a worker holds

    # Where the first message was only waiting, both arrive; one runs the run:
    engine.advance(admitted.pk)
    engine.advance(admitted.pk)
    assert Run.objects.get(pk=admitted.pk).status == S.COMPLETED
    assert test_blocks == ["a", "b"]


@pytest.mark.skipif(not holder.me(), reason="needs Linux's /proc")
def test_a_worker_that_finds_the_run_it_is_given_held_by_a_dead_process_takes_it_over(
    ws, grace, test_blocks
):
    # A pool process killed mid-block: its worker hands the run's message to
    # another of its processes at once, while the heartbeat is still fresh.
    run = run_to_rest(died_mid_block(ws, grace, ended_process()))
    assert run.status == S.COMPLETED
    assert test_blocks == ["b", "c"]
    assert Step.objects.get(run=run, slug="b").attempt == 2


@pytest.mark.skipif(not holder.me(), reason="needs Linux's /proc")
def test_a_run_being_cancelled_whose_worker_died_on_this_machine_is_cancelled_by_the_next_sweep(
    ws, grace, test_blocks
):
    run = died_mid_block(ws, grace, ended_process())
    assert engine.cancel(run, by=grace) == S.CANCELLING

    assert engine.sweep()["cancelled"] == 1

    run.refresh_from_db()
    assert run.status == S.CANCELLED
    assert Step.objects.get(run=run, slug="a").status == "COMPLETED"  # kept
    assert test_blocks == []


@pytest.mark.skipif(not holder.me(), reason="needs Linux's /proc")
def test_a_run_whose_worker_is_alive_or_elsewhere_is_left_to_it_until_its_heartbeat_is_stale(
    ws, grace, test_blocks, monkeypatch
):
    enqueued = []
    monkeypatch.setattr(engine, "_enqueue_now", enqueued.append)
    alive = subprocess.Popen(["sleep", "30"])
    try:
        other_lease = uuid.UUID("00000000-0000-0000-0000-000000000004")
        holders = [
            (holder.me(), LEASE),
            (f"{holder._machine()}:{alive.pid}:{holder._stat(alive.pid)[1]}", LEASE),
            ("another-boot:4026531836:1:1", LEASE),  # another machine: can't tell
            ("", LEASE),  # a worker from before the holder's name was kept
            # A worker of that version claimed it since: the name is another lease's
            (ended_process(), other_lease),
        ]
        for index, (name, lease) in enumerate(holders):
            run = died_mid_block(ws, grace, name, tag=f"wf-{index}", lease=lease)
            assert engine.requeue_orphans() == 0
            engine.advance(run.pk)
            assert test_blocks == [], name
            assert Step.objects.get(run=run, slug="b").attempt == 1
    finally:
        alive.kill()
        alive.wait()
    assert enqueued == []


def interrupted(ws, grace, attempts: int) -> Run:
    """A run of a, b whose worker died during attempt `attempts` of block a."""
    run = engine.start(workflow=make_workflow(ws, chain("a", "b")), initiator=grace)
    Step.objects.create(
        run=run, slug="a", type="ECHO", status="RUNNING", attempt=attempts, position=1
    )
    Run.objects.filter(pk=run.pk).update(cursor={**run.cursor, "steps": 1})
    return run


def test_a_block_interrupted_again_and_again_is_retried_up_to_the_limit(
    ws, grace, test_blocks, settings
):
    settings.RUN_BLOCK_MAX_ATTEMPTS = 3
    run = run_to_rest(interrupted(ws, grace, attempts=2))
    assert run.status == S.COMPLETED
    assert test_blocks == ["a", "b"]
    assert run.steps.get(slug="a").attempt == 3


def test_a_block_interrupted_as_many_times_as_allowed_fails_the_run_instead_of_looping(
    ws, grace, test_blocks, settings
):
    settings.RUN_BLOCK_MAX_ATTEMPTS = 3
    run = run_to_rest(interrupted(ws, grace, attempts=3))
    assert run.status == S.FAILED
    message = "The block was interrupted 3 times (its worker died each time); not retrying again"
    assert message in run.error
    assert test_blocks == []
    step = run.steps.get()
    assert step.status == "FAILED"
    assert step.error == message


def test_completed_steps_never_run_again_when_a_run_is_redelivered(
    ws, grace, test_blocks
):
    run = engine.start(workflow=make_workflow(ws, chain("a", "b")), initiator=grace)
    run = run_to_rest(run)
    Run.objects.filter(pk=run.pk).update(
        status=S.IN_PROGRESS, cursor={"pending": ["a", "b"], "joins": []}
    )
    run = run_to_rest(run)
    assert test_blocks == ["a", "b"]


def test_the_sweep_times_out_an_approval_past_its_deadline(
    ws, grace, platform, test_blocks
):
    run = run_to_rest(engine.start(workflow=approval_workflow(ws), initiator=grace))
    Step.objects.filter(run=run).update(
        deadline_at=timezone.now() - timedelta(seconds=1)
    )

    counts = engine.sweep()

    run.refresh_from_db()
    assert counts["timed_out"] == 1
    assert run.status == S.FAILED
    assert "Timed out" in run.error
    step = Step.objects.get(run=run)
    assert (step.status, step.waiting_for) == (Step.Status.FAILED, "")  # waits no more


def test_the_sweep_purges_finished_runs_past_retention(
    ws, grace, settings, test_blocks
):
    settings.RUN_RETENTION_DAYS = 30
    wf = make_workflow(ws, [action("a", root=True)])
    old = run_to_rest(engine.start(workflow=wf, initiator=grace))
    recent = run_to_rest(engine.start(workflow=wf, initiator=grace))
    Run.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert engine.sweep()["purged"] == 1
    assert list(Run.objects.values_list("pk", flat=True)) == [recent.pk]


# --- secrets -----------------------------------------------------------------------------


def test_secret_values_are_masked_in_the_state_usable_later_and_wiped_at_the_end(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [
            action(
                "form",
                "ECHO",
                ["use"],
                root=True,
                secretOutputs={"token": "s3cr3t-value"},
            ),
            action(
                "use", "ECHO", ["leak"], see="Bearer {{actions.form.outputs.token}}"
            ),
            action(
                "leak",
                "ECHO",
                [],
                outputs={"echo": "token was {{actions.form.outputs.token}}"},
            ),
        ],
        runResponseTemplate="Token {{actions.form.outputs.token}}",
    )
    run = engine.start(workflow=wf, initiator=grace)
    engine.advance(run.pk)
    run.refresh_from_db()

    assert run.status == S.COMPLETED
    assert run.state["actions"]["form"]["outputs"]["token"] == MASK
    # The later block saw the real value, but what was stored is scrubbed:
    assert run.state["actions"]["use"]["inputs"]["seen"] == f"Bearer {MASK}"
    assert run.state["actions"]["leak"]["outputs"]["echo"] == f"token was {MASK}"
    assert run.response == f"Token {MASK}"
    assert run.secrets_blob == ""


def test_workspace_secrets_reach_blocks_but_never_the_stored_state(
    ws, grace, test_blocks
):
    workspace_secret(ws, "gh-token", "ghp_abc123")
    wf = make_workflow(
        ws,
        [
            action(
                "a",
                root=True,
                see="{{{context.secrets.gh-token}}}",
                outputs={"x": "{{context.secrets.gh-token}}"},
            )
        ],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.state["context"]["secrets"] == {"gh-token": MASK}
    assert run.state["actions"]["a"] == {
        "inputs": {"seen": MASK},
        "outputs": {"x": MASK},
    }


def test_a_run_keeps_the_workspace_secrets_it_started_with(ws, grace, test_blocks):
    # Cortex: "context is immutable, set at the beginning… If secrets change
    # during a Workflow, those changes will not be represented in context.secrets."
    token = workspace_secret(ws, "gh-token", "old-1")
    gone = workspace_secret(ws, "gone", "gone-2")
    wf = make_workflow(
        ws,
        [
            action("form", "ASK", ["a"], root=True),
            action(
                "a",
                see="{{{context.secrets.gh-token}}}|{{{context.secrets.gone}}}"
                "|{{{context.secrets.added}}}",
            ),
        ],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert run.status == S.PAUSED
    # While it waits, someone rotates one secret, deletes another, adds a third:
    token.encrypted_value = encrypt("new-1")
    token.save()
    gone.delete()
    workspace_secret(ws, "added", "added-3")

    engine.submit_input(
        run, Step.objects.get(run=run, slug="form"), values={}, by=grace
    )
    run = run_to_rest(run)

    assert run.status == S.COMPLETED
    assert SEEN == ["old-1|gone-2|"]
    assert run.state["actions"]["a"]["inputs"]["seen"] == f"{MASK}|{MASK}|"
    assert run.secrets_blob == ""  # and forgotten when it ends
    fresh = run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert fresh.state["context"]["secrets"] == {"added": MASK, "gh-token": MASK}


def ask_then_a(inputs: list[dict], overrides: list[dict]) -> dict:
    """The root USER_INPUT block "ask", then block "a"."""
    return action(
        "ask", "USER_INPUT", ["a"], root=True, inputs=inputs, inputOverrides=overrides
    )


def editable(key: str, path: str) -> dict:
    return {"type": "VALUE", "inputKey": key, "outputVariable": path, "editable": True}


def test_an_input_prefilled_with_a_workspace_secret_and_left_as_shown_hands_it_on(
    ws, grace, test_blocks
):
    workspace_secret(ws, "deploy-token", "dpl_live_4242")
    wf = make_workflow(
        ws,
        [
            ask_then_a(
                [{"type": "INPUT_FIELD", "key": "shown", "name": "Shown"}],
                [editable("shown", "context.secrets.deploy-token")],
            ),
            action("a", "ECHO", see="{{{actions.ask.outputs.shown}}}"),
        ],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    step = Step.objects.get(run=run, slug="ask")
    assert step.inputs["form"][0]["defaultValue"] == MASK  # what the form shows

    engine.submit_input(run, step, values={"shown": MASK}, by=grace)
    run = run_to_rest(run)

    assert run.status == S.COMPLETED
    assert SEEN == ["dpl_live_4242"]
    assert run.state["actions"]["ask"]["outputs"] == {"shown": MASK}


def test_a_form_text_that_names_a_secret_shows_it_masked(ws, grace, test_blocks):
    workspace_secret(ws, "deploy-token", "dpl_live_4242")
    field = {
        "type": "INPUT_FIELD",
        "key": "ok",
        "name": "Is {{{context.secrets.deploy-token}}} still valid?",
        "required": True,
    }
    wf = make_workflow(ws, [action("ask", "USER_INPUT", [], root=True, inputs=[field])])
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    step = Step.objects.get(run=run, slug="ask")
    assert step.inputs["form"][0]["name"] == f"Is {MASK} still valid?"
    with pytest.raises(InputInvalid) as refused:
        engine.submit_input(run, step, values={}, by=grace)
    assert "dpl_live_4242" not in str(refused.value.errors)


def test_an_editable_override_writes_what_was_typed_to_its_variable_for_later_blocks(
    ws, grace, test_blocks
):
    wf = make_workflow(
        ws,
        [
            ask_then_a(
                [
                    {"type": "INPUT_FIELD", "key": "channel", "name": "Channel"},
                    {"type": "SECRET_FIELD", "key": "token", "name": "Token"},
                ],
                [
                    editable("channel", "variables.release-channel"),
                    editable("token", "variables.tok"),
                ],
            ),
            action(
                "a",
                "ECHO",
                see="{{variables.release-channel}} {{{variables.tok}}}",
            ),
        ],
        variables=[
            {"slug": "release-channel", "type": "STRING", "defaultValue": "stable"},
            {"slug": "tok", "type": "STRING"},
        ],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    step = Step.objects.get(run=run, slug="ask")
    assert step.inputs["form"][0]["defaultValue"] == "stable"

    values = {"channel": "beta", "token": "tok_s3cret_99"}
    engine.submit_input(run, step, values=values, by=grace)
    run = run_to_rest(run)

    assert run.status == S.COMPLETED
    assert SEEN == ["beta tok_s3cret_99"]  # the block had the secret itself
    assert run.state["variables"] == {"release-channel": "beta", "tok": MASK}


def paused_on_write_back(ws, grace, field: dict, variable: dict) -> tuple[Run, Step]:
    """A run paused on a form whose one field, editable, writes back to `variable`."""
    wf = make_workflow(
        ws,
        [
            ask_then_a(
                [field], [editable(field["key"], f"variables.{variable['slug']}")]
            ),
            action("a", "ECHO"),
        ],
        variables=[variable],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    return run, Step.objects.get(run=run, slug="ask")


PORT = {"type": "INPUT_FIELD", "key": "port-text", "name": "Port"}


def test_an_editable_override_writes_its_text_as_the_variables_declared_type(
    ws, grace, test_blocks
):
    run, step = paused_on_write_back(
        ws, grace, PORT, {"slug": "port", "type": "NUMBER", "defaultValue": 8080}
    )

    with pytest.raises(InputInvalid) as refused:
        engine.submit_input(run, step, values={"port-text": "eighty"}, by=grace)
    assert refused.value.errors == {
        "port-text": ["Port must be a NUMBER value, as it sets the variable port."]
    }
    assert Step.objects.get(pk=step.pk).status == "WAITING"

    engine.submit_input(run, step, values={"port-text": " 80 "}, by=grace)
    run = run_to_rest(run)
    assert run.status == S.COMPLETED
    assert run.state["variables"] == {"port": 80}


@pytest.mark.parametrize("typed", ["NaN", "Infinity", "1e400"])
def test_an_editable_override_refuses_numbers_json_cannot_hold_at_the_field(
    ws, grace, test_blocks, typed
):
    run, step = paused_on_write_back(
        ws, grace, PORT, {"slug": "port", "type": "NUMBER"}
    )
    with pytest.raises(InputInvalid) as refused:
        engine.submit_input(run, step, values={"port-text": typed}, by=grace)
    assert list(refused.value.errors) == ["port-text"]


def test_a_toggle_written_back_to_a_string_variable_is_its_text(ws, grace, test_blocks):
    toggle = {"type": "TOGGLE_FIELD", "key": "ok", "name": "OK"}
    run, step = paused_on_write_back(
        ws, grace, toggle, {"slug": "answer", "type": "STRING"}
    )
    engine.submit_input(run, step, values={"ok": True}, by=grace)
    assert run_to_rest(run).state["variables"] == {"answer": "true"}


def test_a_secrets_value_changed_after_the_start_is_masked_though_not_revealed(
    ws, grace, platform, test_blocks
):
    token = workspace_secret(ws, "gh-token", "old-11")
    wf = make_workflow(
        ws,
        [
            action("form", "ASK", ["a"], root=True),
            action(
                "a",
                "ECHO",
                ["approve"],
                outputs={"x": "{{{context.secrets.gh-token}}} new-22"},
                see="{{{context.secrets.gh-token}}}",
            ),
            action("approve", "MANUAL_APPROVAL", approvingTeamIds=["platform"]),
        ],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    token.encrypted_value = encrypt("new-22")  # rotated while the run waits
    token.save()

    engine.submit_input(
        run, Step.objects.get(run=run, slug="form"), values={}, by=grace
    )
    run = run_to_rest(run)
    # The block used the value of the start; the new one, echoed, is masked:
    assert SEEN == ["old-11"]
    assert run.state["actions"]["a"]["outputs"] == {"x": f"{MASK} {MASK}"}
    engine.decide(
        run,
        Step.objects.get(run=run, slug="approve"),
        by=platform.members.get(),
        approve=False,
        reason="the token is new-22 now",
    )
    assert Decision.objects.get().reason == f"the token is {MASK} now"


# --- notifications --------------------------------------------------------------------------


def test_the_initiator_and_recipients_are_told_when_a_run_ends(
    ws, grace, vera, mailoutbox, test_blocks, django_capture_on_commit_callbacks
):
    wf = make_workflow(ws, [action("a", root=True)])
    with django_capture_on_commit_callbacks(execute=True):
        run = engine.start(
            workflow=wf,
            initiator=grace,
            notification_recipients=["vera@example.com", "ops@example.org"],
        )
        run_to_rest(run)
    assert set(
        Notification.objects.filter(kind="RUN_COMPLETED").values_list(
            "user__email", flat=True
        )
    ) == {
        "grace@example.com",
        "vera@example.com",
    }
    assert wait_until_sent()
    assert sorted(m.to[0] for m in mailoutbox) == [
        "grace@example.com",
        "ops@example.org",
        "vera@example.com",
    ]


def test_a_failed_run_tells_why_in_the_notification_and_the_mails_body(
    ws, grace, platform, mailoutbox, django_capture_on_commit_callbacks
):
    wf = make_workflow(
        ws,
        [
            action(
                "approve", "MANUAL_APPROVAL", root=True, approvingTeamIds=["platform"]
            )
        ],
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = engine.start(
            workflow=wf,
            initiator=grace,
            notification_recipients=["auditor@example.org"],
        )
        run = run_to_rest(run)
        engine.decide(
            run,
            Step.objects.get(run=run, slug="approve"),
            by=platform.members.get(),
            approve=False,
            reason="Not on Friday\nwe freeze",
        )
    told = Notification.objects.get(kind="RUN_FAILED", user=grace).message
    assert told.startswith("Wf #")
    assert told.endswith(
        " failed: Approve: Rejected by linus@example.com: Not on Friday\nwe freeze"
    )
    assert wait_until_sent()
    mails = {m.to[0]: m for m in mailoutbox if "failed" in m.subject}
    mail = mails["grace@example.com"]
    assert "\n" not in mail.subject and mail.subject.endswith(" failed")
    assert "Rejected by linus@example.com: Not on Friday\nwe freeze" in mail.body
    # Someone outside the workspace gets the news and the link, not the reason:
    outside = mails["auditor@example.org"]
    assert outside.subject == mail.subject
    assert (
        "Not on Friday" not in outside.body and run.get_absolute_url() in outside.body
    )


def test_an_approval_tells_approvers_to_decide_and_the_initiator_and_recipients_that_it_waits(
    ws, grace, vera, platform, mailoutbox, django_capture_on_commit_callbacks
):
    assert platform.members.get().email == "linus@example.com"  # the approver
    with django_capture_on_commit_callbacks(execute=True):
        run = engine.start(
            workflow=approval_workflow(ws),
            initiator=grace,
            notification_recipients=[
                "vera@example.com",
                "ops@example.org",
                "LINUS@example.com",
            ],
        )
        run_to_rest(run)
    told = Notification.objects.filter(run=run).values_list("user__email", "message")
    assert sorted(told) == [
        ("grace@example.com", f"Wf #{run.pk} is waiting for approval"),
        ("linus@example.com", f"Wf #{run.pk} needs your approval"),
        ("vera@example.com", f"Wf #{run.pk} is waiting for approval"),
    ]
    assert wait_until_sent()
    assert sorted((m.to[0], m.subject) for m in mailoutbox) == [
        ("grace@example.com", f"[Cairn] Wf #{run.pk} is waiting for approval"),
        ("linus@example.com", f"[Cairn] Wf #{run.pk} needs your approval"),
        ("ops@example.org", f"[Cairn] Wf #{run.pk} is waiting for approval"),
        ("vera@example.com", f"[Cairn] Wf #{run.pk} is waiting for approval"),
    ]


def test_a_form_asks_who_may_fill_it_in_and_tells_the_others_that_it_waits(
    ws, grace, vera, mailoutbox, test_blocks, django_capture_on_commit_callbacks
):
    wf = make_workflow(ws, [action("form", "ASK", [], root=True)])
    with django_capture_on_commit_callbacks(execute=True):
        run = engine.start(
            workflow=wf,
            initiator=grace,
            notification_recipients=["vera@example.com", "ops@example.org"],
        )
        run_to_rest(run)
    told = Notification.objects.filter(run=run).values_list(
        "user__email", "kind", "message"
    )
    assert sorted(told) == [  # vera is a Viewer: she can't fill it in
        ("grace@example.com", "NEEDS_INPUT", f"Wf #{run.pk} is waiting for your input"),
        ("vera@example.com", "AWAITING_INPUT", f"Wf #{run.pk} is waiting for input"),
    ]
    assert wait_until_sent()
    assert sorted((m.to[0], m.subject) for m in mailoutbox) == [
        ("grace@example.com", f"[Cairn] Wf #{run.pk} is waiting for your input"),
        ("ops@example.org", f"[Cairn] Wf #{run.pk} is waiting for input"),
        ("vera@example.com", f"[Cairn] Wf #{run.pk} is waiting for input"),
    ]
    engine.submit_input(
        run, Step.objects.get(run=run, slug="form"), values={}, by=grace
    )
    assert unread_requests(run) == []


def test_someone_added_to_an_approving_team_while_an_approval_waits_is_asked_to_decide(
    ws, grace, vera, mona, platform, mailoutbox, django_capture_on_commit_callbacks
):
    linus = platform.members.get()
    others = Team.objects.create(workspace=ws, tag="others", name="Others")
    run = run_to_rest(engine.start(workflow=approval_workflow(ws), initiator=grace))
    with django_capture_on_commit_callbacks(execute=True):
        # A team that does not approve this step: nobody is asked.
        services.team_update(team=others, name="Others", description="", members=[mona])
        services.team_update(
            team=platform, name="Platform", description="", members=[linus, vera]
        )
        # Saved again: nobody new, nobody asked twice.
        services.team_update(
            team=platform, name="Platform", description="", members=[linus, vera]
        )
    asked = Notification.objects.filter(run=run, kind="NEEDS_APPROVAL")
    assert sorted(asked.values_list("user__email", flat=True)) == [
        "linus@example.com",  # when the run paused
        "vera@example.com",  # when she joined
    ]
    assert wait_until_sent()
    assert [(m.to, m.subject) for m in mailoutbox] == [
        (["vera@example.com"], f"[Cairn] Wf #{run.pk} needs your approval")
    ]


def test_someone_already_asked_through_another_approving_team_is_not_asked_again(
    ws, grace, vera, platform
):
    security = Team.objects.create(workspace=ws, tag="security", name="Security")
    security.members.add(vera)
    wf = make_workflow(
        ws,
        [
            action(
                "approve",
                "MANUAL_APPROVAL",
                root=True,
                approvingTeamIds=["platform", "security"],
            )
        ],
    )
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    linus = platform.members.get()
    services.team_update(
        team=platform, name="Platform", description="", members=[linus, vera]
    )
    assert Notification.objects.filter(user=vera, kind="NEEDS_APPROVAL").count() == 1
    assert run.status == S.PAUSED


def test_adding_someone_to_a_team_costs_as_many_queries_however_many_approvals_wait(
    ws, grace, vera, mona, platform
):
    others = Team.objects.create(workspace=ws, tag="others", name="Others")

    def queries_to_add(members) -> int:
        with CaptureQueriesContext(connection) as queries:
            services.team_update(
                team=others, name="Others", description="", members=members
            )
        return len(queries)

    wf = approval_workflow(ws)
    run_to_rest(engine.start(workflow=wf, initiator=grace))
    one_waiting = queries_to_add([vera])
    for _ in range(5):
        run_to_rest(engine.start(workflow=wf, initiator=grace))
    assert queries_to_add([vera, mona]) == one_waiting


def test_someone_added_to_an_approving_team_after_the_decision_is_not_asked(
    ws, grace, vera, platform
):
    linus = platform.members.get()
    run = run_to_rest(engine.start(workflow=approval_workflow(ws), initiator=grace))
    engine.decide(
        run, Step.objects.get(run=run, slug="approve"), by=linus, approve=True
    )
    services.team_update(
        team=platform, name="Platform", description="", members=[linus, vera]
    )
    assert not Notification.objects.filter(user=vera).exists()


def test_an_approval_with_a_timeout_fails_the_run_once_the_sweep_finds_it_expired(
    ws, grace, platform, test_blocks
):
    run = run_to_rest(
        engine.start(
            workflow=approval_workflow(ws, timeoutInSeconds=60), initiator=grace
        )
    )
    step = Step.objects.get(run=run, slug="approve")
    assert step.deadline_at is not None
    assert engine.sweep()["timed_out"] == 0  # not yet
    Step.objects.filter(pk=step.pk).update(
        deadline_at=timezone.now() - timedelta(seconds=1)
    )
    engine.sweep()
    run.refresh_from_db()
    assert run.status == S.FAILED


def test_a_decision_after_the_timeout_is_refused_and_fails_the_run_at_once(
    ws, grace, platform, test_blocks
):
    """Not accepted until the sweep next looks (every 15 s, or never while
    beat is down)."""
    linus = platform.members.get()
    run = run_to_rest(
        engine.start(
            workflow=approval_workflow(ws, timeoutInSeconds=60), initiator=grace
        )
    )
    step = Step.objects.get(run=run, slug="approve")
    Step.objects.filter(pk=step.pk).update(
        deadline_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(engine.NotWaiting, match="Timed out: no answer by"):
        engine.decide(run, step, by=linus, approve=True)
    run.refresh_from_db()
    step.refresh_from_db()
    assert (run.status, step.status) == (S.FAILED, "FAILED")
    assert not Decision.objects.exists()
    assert engine.sweep()["timed_out"] == 0  # done already


def test_a_callback_after_the_timeout_is_refused_and_fails_the_run_at_once(
    ws, grace, test_blocks
):
    wf = make_workflow(ws, [action("hook", "HTTP_REQUEST_ASYNC", root=True)])
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    step = Step.objects.get(run=run)
    Step.objects.filter(pk=step.pk).update(
        deadline_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(engine.NotWaiting, match="Timed out"):
        engine.callback(step, {"status": "SUCCESS", "message": "late"})
    run.refresh_from_db()
    assert run.status == S.FAILED


def test_a_run_whose_workflow_is_deleted_while_a_block_runs_just_stops(
    ws, grace, test_blocks, monkeypatch
):
    from workflows import blocks
    from workflows.blocks.base import Block, Outcome

    class DeleteWorkflow(Block):
        type = "DELETE_WORKFLOW"
        side_effects = True

        def execute(self, ctx):
            workflow_delete(workflow=ctx.run.workflow)  # someone deletes it meanwhile
            return Outcome.completed({})

    monkeypatch.setitem(blocks._instances, "DELETE_WORKFLOW", DeleteWorkflow())
    wf = make_workflow(
        ws, [action("a", "DELETE_WORKFLOW", ["b"], root=True), action("b")]
    )
    run = engine.start(workflow=wf, initiator=grace)

    engine.advance(run.pk)  # no error: the worker just moves on

    assert not Run.objects.filter(pk=run.pk).exists()
    assert test_blocks == []


def test_notifications_name_the_run_and_its_entity(ws, grace, test_blocks):
    """Ten identical "QA slow call succeeded" rows said nothing about which run."""
    from tests.factories import EntityFactory

    entity = EntityFactory(workspace=ws, tag="payments-api", name="Payments API")
    wf = make_workflow(ws, chain("a"), filter={"type": "ENTITY"})
    run = run_to_rest(engine.start(workflow=wf, initiator=grace, entity=entity))
    assert Notification.objects.get(run=run).message == (
        f"Wf #{run.pk} on Payments API succeeded"
    )


def test_notifications_name_a_run_by_the_version_it_ran_not_a_later_rename(
    ws, grace, test_blocks
):
    wf = make_workflow(ws, [action("form", "ASK", [], root=True)])
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    Workflow.objects.filter(pk=wf.pk).update(name="Renamed since")

    engine.cancel(Run.objects.get(pk=run.pk), by=grace)

    assert Notification.objects.get(run=run, kind="RUN_CANCELLED").message == (
        f"Wf #{run.pk} was canceled"
    )


def test_the_start_time_in_the_context_has_milliseconds_as_cortexs(ws, grace):
    run = engine.start(workflow=make_workflow(ws, chain("a")), initiator=grace)
    stamp = run.state["context"]["initiatedAtIso8601Timestamp"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", stamp), stamp


def test_a_long_failure_reason_is_cut_to_fit_the_notification(ws, grace):
    from workflows import notify

    run = engine.start(
        workflow=make_workflow(ws, [action("a", root=True)]), initiator=grace
    )
    run.status, run.error = S.FAILED, "x" * 2000
    notify.run_ended(run)
    message = Notification.objects.get(kind="RUN_FAILED").message
    assert len(message) == 500 and message.endswith("…")
