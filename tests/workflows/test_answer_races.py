"""People and callers answering the same paused run at the same moment, and a
cancel meeting an admission: no answer is lost and nobody deadlocks (the
threaded tests need PostgreSQL's row locks; SQLite serialises every write
transaction)."""

import threading
import time

import pytest
from django.db import connection  # noqa: F401 - postgresql_only's condition reads it

from catalog.models import Team
from tests.factories import UserFactory, member
from tests.workflows.enginekit import action, make_workflow
from tests.workflows.test_early_callbacks import in_threads, postgresql_only
from workflows import blocks, engine, notify
from workflows.blocks.http_request_async import HttpRequestAsync
from workflows.blocks.manual_approval import ManualApproval
from workflows.models import Decision, Run, Step

S = Run.Status


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_approvers_deciding_at_once_resume_a_step_that_needs_both(
    ws, grace, test_blocks, monkeypatch
):
    alice = UserFactory(email="alice@example.com")
    bob = UserFactory(email="bob@example.com")
    team = Team.objects.create(workspace=ws, tag="platform", name="Platform")
    for user in (alice, bob):
        member(ws, user, "User")
        team.members.add(user)
    both_inside = threading.Barrier(2, timeout=3)

    class Slow(ManualApproval):
        def resume(self, ctx, payload):
            outcome = super().resume(ctx, payload)
            try:  # both between reading the decisions and writing the step
                both_inside.wait()
            except threading.BrokenBarrierError:
                pass  # (with the fix, one waits for the other's lock)
            return outcome

    monkeypatch.setitem(blocks._instances, "MANUAL_APPROVAL", Slow())
    workflow = make_workflow(
        ws,
        [
            action(
                "ok",
                "MANUAL_APPROVAL",
                ["after"],
                root=True,
                approvingTeamIds=["platform"],
                requiredApprovals=2,
            ),
            action("after"),
        ],
    )
    run = engine.start(workflow=workflow, initiator=grace)
    engine.advance(run.pk)

    def approve(user):
        def go():
            fresh = Run.objects.get(pk=run.pk)
            step = Step.objects.get(run=fresh, slug="ok")
            engine.decide(fresh, step, by=user, approve=True)

        return go

    assert in_threads(approve(alice), approve(bob)) == []
    step = Step.objects.get(run=run, slug="ok")
    assert Decision.objects.filter(step=step, verdict="APPROVED").count() == 2
    assert step.status == Step.Status.COMPLETED
    run.refresh_from_db()
    assert run.status != S.PAUSED


def test_an_update_callback_that_comes_while_another_is_applied_is_kept(
    ws, grace, test_blocks, monkeypatch
):
    """The second request lands after the first read the step's updates and
    before it took the run's lock: both were answered 200, so both count."""
    real = HttpRequestAsync()

    class SecondArrivesMeanwhile(HttpRequestAsync):
        def execute(self, ctx):
            from workflows.blocks.base import Outcome

            return Outcome.waiting("CALLBACK")

        def resume(self, ctx, payload):
            outcome = real.resume(ctx, payload)
            if payload.get("message") == "first":
                engine.callback(
                    Step.objects.select_related("run").get(pk=ctx.step.pk),
                    {"status": "UPDATE", "message": "second"},
                )
            return outcome

    monkeypatch.setitem(
        blocks._instances, "HTTP_REQUEST_ASYNC", SecondArrivesMeanwhile()
    )
    workflow = make_workflow(ws, [action("call", "HTTP_REQUEST_ASYNC", root=True)])
    run = engine.start(workflow=workflow, initiator=grace)
    engine.advance(run.pk)
    step = Step.objects.select_related("run").get(run=run, slug="call")
    assert step.status == Step.Status.WAITING

    engine.callback(step, {"status": "UPDATE", "message": "first"})

    step.refresh_from_db()
    assert sorted(u["message"] for u in step.outputs["updates"]) == ["first", "second"]
    assert step.status == Step.Status.WAITING


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_cancelling_a_queued_run_while_another_run_ends_does_not_deadlock(
    ws, grace, settings, test_blocks, monkeypatch
):
    """The cancel holds the queued run and asks for the admission lock; the
    ending run holds that lock and would admit the very run being cancelled."""
    settings.MAX_CONCURRENT_RUNS = 1
    workflow = make_workflow(ws, [action("a", "ECHO", root=True)])
    running = engine.start(workflow=workflow, initiator=grace)
    queued = engine.start(workflow=workflow, initiator=grace)
    queued.refresh_from_db()
    assert (running.status, queued.status) == (S.IN_PROGRESS, S.QUEUED)
    holding = threading.Event()
    ended = notify.run_ended

    def run_ended(run):
        ended(run)
        if run.pk == queued.pk:  # the cancel holds the queued run's row here
            holding.set()
            time.sleep(1.5)  # while the other run ends

    monkeypatch.setattr(notify, "run_ended", run_ended)

    def cancel():
        engine.cancel(Run.objects.get(pk=queued.pk), by=None)

    def finish_the_other():
        assert holding.wait(10)
        engine.advance(running.pk)

    assert in_threads(cancel, finish_the_other) == []
    running.refresh_from_db()
    queued.refresh_from_db()
    assert (running.status, queued.status) == (S.COMPLETED, S.CANCELLED)
