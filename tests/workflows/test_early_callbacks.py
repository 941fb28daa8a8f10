"""Callbacks kept while an async block still runs, against the people and
processes that touch the same step at the same moment: none is lost, none is
applied twice, and nobody deadlocks (the threaded tests need PostgreSQL's row
locks; SQLite serialises every write transaction)."""

import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from tests.workflows.enginekit import action, make_workflow
from tests.workflows.test_engine import early_callback_workflow, run_to_rest, updates
from workflows import engine
from workflows.models import Run, Step

S = Run.Status
postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="row locks: PostgreSQL"
)


def waiting_with_kept(ws, grace, monkeypatch, answers) -> Step:
    """A run whose async block waits with `answers` kept, not applied yet."""
    apply = engine._apply_early_callback
    monkeypatch.setattr(engine, "_apply_early_callback", lambda step_id: None)
    run = run_to_rest(
        engine.start(workflow=early_callback_workflow(ws, answers), initiator=grace)
    )
    monkeypatch.setattr(engine, "_apply_early_callback", apply)
    return Step.objects.select_related("run").get(run=run, slug="hook")


def in_threads(*targets) -> list[str]:
    errors = []

    def guarded(target):
        try:
            target()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=guarded, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_callback_that_comes_while_the_last_kept_one_is_applied_is_not_lost(
    ws, grace, test_blocks, monkeypatch
):
    step = waiting_with_kept(
        ws, grace, monkeypatch, [{"status": "UPDATE", "message": "one"}]
    )
    applying = threading.Event()
    kept = engine._kept

    def slow_read_in_resume(value):
        if sys._getframe(1).f_code.co_name == "_kept_after":  # in _resume
            applying.set()
            time.sleep(0.5)  # the applier holds the run, "one" read, not written
        return kept(value)

    monkeypatch.setattr(engine, "_kept", slow_read_in_resume)

    def callee():  # the callee's next UPDATE, through the API
        assert applying.wait(10)
        fresh = Step.objects.select_related("run").get(pk=step.pk)
        engine.callback(fresh, {"status": "UPDATE", "message": "two"})

    errors = in_threads(lambda: engine._apply_early_callback(step.pk), callee)

    assert not errors
    assert updates(step.run) == ["one", "two"]
    assert Step.objects.get(pk=step.pk).early_callback is None


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_cancel_and_a_callback_in_one_transaction_do_not_deadlock(
    ws, grace, test_blocks, monkeypatch
):
    # A callback with an Idempotency-Key runs in the request's transaction.
    wf = make_workflow(ws, [action("hook", "HTTP_REQUEST_ASYNC", root=True)])
    run = run_to_rest(engine.start(workflow=wf, initiator=grace))
    step = Step.objects.get(run=run, slug="hook")
    kept_done, go_on = threading.Event(), threading.Event()
    keep_early = engine._keep_early

    def pausing_keep_early(*args, **kwargs):
        result = keep_early(*args, **kwargs)
        kept_done.set()
        assert go_on.wait(10)
        return result

    monkeypatch.setattr(engine, "_keep_early", pausing_keep_early)

    def callback():
        with transaction.atomic():
            fresh = Step.objects.select_related("run").get(pk=step.pk)
            try:
                engine.callback(fresh, {"status": "SUCCESS", "message": "deployed"})
            except engine.NotWaiting:
                pass  # cancelled first: a 406

    def cancel():
        assert kept_done.wait(10)
        threading.Timer(0.5, go_on.set).start()  # cancel waits on the locks now
        try:
            engine.cancel(Run.objects.get(pk=run.pk), by=grace)
        except engine.IllegalTransition:
            pass  # completed first

    assert in_threads(callback, cancel) == []
    # Whichever came first won: cancelled, or answered and going on.
    assert Run.objects.get(pk=run.pk).status in (S.CANCELLED, S.IN_PROGRESS)


def test_a_callback_past_the_timeout_is_refused_though_others_are_kept(
    ws, grace, test_blocks, monkeypatch
):
    step = waiting_with_kept(
        ws, grace, monkeypatch, [{"status": "UPDATE", "message": "one"}]
    )
    Step.objects.filter(pk=step.pk).update(
        deadline_at=timezone.now() - timedelta(minutes=1)
    )
    step.refresh_from_db()

    with pytest.raises(engine.NotWaiting, match="Timed out"):
        engine.callback(step, {"status": "SUCCESS", "message": "deployed"})

    assert Run.objects.get(pk=step.run_id).status == S.FAILED
