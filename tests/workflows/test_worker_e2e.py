"""Runs through a real Celery worker process: branch, input, approval, HTTP, cancel, crash."""

import time

import pytest

from catalog.models import Team
from tests.conftest import (
    Worker,
    broker_for_tests,
    current_broker,
    use_broker,
    wait_for,
)
from tests.factories import UserFactory, member
from workflows import descriptor, engine
from workflows.models import Run, Step
from workflows.services import workflow_upsert

pytestmark = pytest.mark.worker
S = Run.Status

DEPLOY = """
tag: deploy
name: Deploy
filter: {type: GLOBAL}
runResponseTemplate: "Deployed to **{{actions.form.outputs.env}}** as {{actions.deploy.outputs.body.id}} ({{actions.summarize.outputs.note}})"
failedRunResponseTemplate: "Deploy failed"
actions:
  - slug: form
    name: Choose
    isRootAction: true
    outgoingActions: [route]
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs:
        - {key: env, name: Environment, type: SELECT_FIELD, required: true, options: [staging, prod]}
  - slug: route
    name: Route
    isRootAction: false
    outgoingActions: [approve, note]
    schema:
      type: CONDITIONAL_BRANCH
      branches:
        - {slug: prod, name: Production, expression: 'actions.form.outputs.env == "prod"', outgoingAction: approve}
      fallbackBranch: {slug: other, name: Other, outgoingAction: note}
      joiningAction: deploy
  - slug: approve
    name: Approve
    isRootAction: false
    outgoingActions: []
    schema: {type: MANUAL_APPROVAL, approvingTeamIds: [platform], approverDescription: "Deploy to prod?"}
  - slug: note
    name: Note
    isRootAction: false
    outgoingActions: []
    schema: {type: JQ, expression: '"no approval needed"'}
  - slug: deploy
    name: Deploy
    isRootAction: false
    outgoingActions: [summarize]
    schema:
      type: HTTP_REQUEST
      httpMethod: POST
      url: "URL/deploy"
      headers: {Content-Type: application/json}
      payload: '{"env": "{{actions.form.outputs.env}}"}'
  - slug: summarize
    name: Summarize
    isRootAction: false
    outgoingActions: []
    schema:
      type: JAVASCRIPT
      script: 'return {note: "status " + actions.deploy.outputs.status};'
"""


def options_of(form_step: Step) -> list:
    return form_step.inputs["form"][0]["options"]


@pytest.fixture
def deploy(ws, http_server):  # noqa: F811
    http_server.route("POST", "/deploy", status=201, json={"id": "dep-42"})
    data = descriptor.validate(
        descriptor.parse(DEPLOY.replace("URL", http_server.url("").rstrip("/")))
    )
    workflow, _ = workflow_upsert(workspace=ws, descriptor=data)
    return workflow


@pytest.fixture
def linus(ws):
    user = UserFactory(email="linus@example.com")
    member(ws, user, "User")
    Team.objects.create(workspace=ws, tag="platform", name="Platform").members.add(user)
    return user


def status_is(run, *statuses):
    def check():
        run.refresh_from_db()
        return run.status in statuses

    check.__name__ = f"run {run.pk} to be {'/'.join(statuses)}"
    return check


def test_a_run_walks_a_branch_pauses_for_input_and_approval_calls_http_and_completes(
    celery_worker_process,
    deploy,
    grace,
    linus,
    http_server,  # noqa: F811
):
    run = engine.start(workflow=deploy, initiator=grace)
    wait_for(status_is(run, S.PAUSED))
    form = Step.objects.get(run=run, slug="form")

    engine.submit_input(run, form, values={"env": "prod"}, by=grace)
    wait_for(status_is(run, S.PAUSED, S.FAILED))
    approve = Step.objects.get(run=run, slug="approve")
    assert approve.status == "WAITING"

    engine.decide(run, approve, by=linus, approve=True)
    wait_for(status_is(run, S.COMPLETED, S.FAILED))

    assert run.status == S.COMPLETED, run.error
    assert run.response == "Deployed to **prod** as dep-42 (status 201)"
    assert dict(run.steps.values_list("slug", "status")) == {
        "form": "COMPLETED",
        "route": "COMPLETED",
        "approve": "COMPLETED",
        "note": "SKIPPED",
        "deploy": "COMPLETED",
        "summarize": "COMPLETED",
    }
    assert http_server.requests[-1].json() == {"env": "prod"}


def test_a_rejected_run_fails_without_calling_the_server(
    celery_worker_process, deploy, grace, linus, http_server
):  # noqa: F811
    run = engine.start(workflow=deploy, initiator=grace)
    wait_for(status_is(run, S.PAUSED))
    engine.submit_input(
        run, Step.objects.get(run=run, slug="form"), values={"env": "prod"}, by=grace
    )
    wait_for(
        lambda: Step.objects.filter(run=run, slug="approve", status="WAITING").exists()
    )

    engine.decide(
        run,
        Step.objects.get(run=run, slug="approve"),
        by=linus,
        approve=False,
        reason="freeze",
    )

    run.refresh_from_db()
    assert run.status == S.FAILED
    assert "Rejected by linus@example.com: freeze" in run.error
    assert run.response == "Deploy failed"
    assert http_server.requests == []


def test_a_run_cancelled_while_paused_keeps_its_completed_blocks(
    celery_worker_process, deploy, grace, linus
):
    run = engine.start(workflow=deploy, initiator=grace)
    wait_for(status_is(run, S.PAUSED))
    engine.submit_input(
        run, Step.objects.get(run=run, slug="form"), values={"env": "prod"}, by=grace
    )
    wait_for(
        lambda: Step.objects.filter(run=run, slug="approve", status="WAITING").exists()
    )

    assert engine.cancel(run, by=grace) == S.CANCELLED

    steps = dict(run.steps.values_list("slug", "status"))
    assert steps["form"] == steps["route"] == "COMPLETED"
    assert steps["approve"] == "CANCELLED"


def test_a_run_cancelled_during_a_slow_http_call_ends_cancelled_after_the_call(
    celery_worker_process,
    deploy,
    grace,
    http_server,  # noqa: F811
):
    http_server.route("POST", "/deploy", status=201, json={"id": "slow"}, delay=2)
    run = engine.start(workflow=deploy, initiator=grace)
    wait_for(status_is(run, S.PAUSED))
    engine.submit_input(
        run, Step.objects.get(run=run, slug="form"), values={"env": "staging"}, by=grace
    )
    wait_for(lambda: len(http_server.requests) == 1)

    assert engine.cancel(run, by=grace) == S.CANCELLING
    wait_for(status_is(run, S.CANCELLED, S.COMPLETED, S.FAILED))

    assert run.status == S.CANCELLED
    steps = dict(run.steps.values_list("slug", "status"))
    assert steps["deploy"] == "COMPLETED"  # the call finished; completed blocks stay
    assert "summarize" not in steps


CRASHY = """
tag: crashy
name: Crashy
filter: {type: GLOBAL}
actions:
  - {slug: a, name: A, isRootAction: true, outgoingActions: [b], schema: {type: HTTP_REQUEST, httpMethod: GET, url: "URL/a", headers: {}}}
  - {slug: b, name: B, isRootAction: false, outgoingActions: [c], schema: {type: HTTP_REQUEST, httpMethod: GET, url: "URL/slow", headers: {}}}
  - {slug: c, name: C, isRootAction: false, outgoingActions: [], schema: {type: HTTP_REQUEST, httpMethod: GET, url: "URL/c", headers: {}}}
"""


@pytest.fixture
def crashy(ws, http_server):
    """The CRASHY workflow; its /slow answers in 30 s the first time, at once after."""
    from tests.workflows.httpserver import make_reply

    def slow_first_time(request):
        slow_hits = sum(1 for r in http_server.requests if r.path == "/slow")
        return make_reply(
            status=200, json={"hit": slow_hits}, delay=30 if slow_hits == 1 else 0
        )

    http_server.route("GET", "/a", json={"ok": True})
    http_server.route("GET", "/c", json={"ok": True})
    http_server.route("GET", "/slow", handler=slow_first_time)
    data = descriptor.validate(
        descriptor.parse(CRASHY.replace("URL", http_server.url("").rstrip("/")))
    )
    return workflow_upsert(workspace=ws, descriptor=data)[0]


def assert_b_alone_ran_twice(run: Run, http_server) -> None:
    assert run.status == S.COMPLETED, run.error
    hits = [r.path for r in http_server.requests]
    assert hits.count("/a") == 1 and hits.count("/c") == 1
    assert hits.count("/slow") == 2  # the block in flight is retried once
    assert Step.objects.get(run=run, slug="b").attempt == 2
    assert Step.objects.get(run=run, slug="a").attempt == 1


def kill_a_worker_mid_call(crashy, grace, http_server, env, then) -> Run:
    """Run CRASHY, SIGKILL its worker inside block b, call then(run), start
    another worker on the same queue, and wait for the run to end."""
    broker, saved = broker_for_tests(), current_broker()
    first = Worker(broker, env=env).start()
    second = Worker(broker, env=env)
    second.queue = first.queue  # the replacement consumes the same queue
    try:
        use_broker(broker, first.queue)
        run = engine.start(workflow=crashy, initiator=grace)
        wait_for(lambda: any(r.path == "/slow" for r in http_server.requests))
        first.kill()  # SIGKILL in the middle of block b
        then(run)
        second.start()
        wait_for(status_is(run, S.COMPLETED, S.FAILED), timeout=30)
    finally:
        first.stop()
        second.stop()
        use_broker(*saved)
    return run


def test_a_worker_killed_mid_run_loses_nothing_and_no_completed_step_runs_again(
    transactional_db,
    grace,
    http_server,
    crashy,
    settings,  # noqa: F811
):
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.RUN_STALE_SECONDS = 1

    def held_elsewhere_then_stale(run):
        # As if the worker ran on another machine: only its heartbeat going
        # stale tells that it died.
        Run.objects.filter(pk=run.pk).update(lease_holder="")
        time.sleep(1.5)
        engine.sweep()

    fast = {"RUN_STALE_SECONDS": "1", "RUN_HEARTBEAT_SECONDS": "0.3"}
    run = kill_a_worker_mid_call(
        crashy, grace, http_server, fast, held_elsewhere_then_stale
    )
    assert_b_alone_ran_twice(run, http_server)


def test_a_killed_workers_run_goes_on_as_soon_as_a_new_worker_starts(
    transactional_db,
    grace,
    http_server,
    crashy,
    settings,  # noqa: F811
):
    # RUN_STALE_SECONDS stays 60, and no sweep comes: the new worker sees that
    # the process holding the run has ended, and hands the run on at once.
    settings.HTTP_BLOCK_ALLOWED_HOSTS = ["127.0.0.1"]
    began = time.monotonic()
    run = kill_a_worker_mid_call(crashy, grace, http_server, {}, lambda run: None)
    assert time.monotonic() - began < 40  # well before the heartbeat is stale
    assert_b_alone_ran_twice(run, http_server)
