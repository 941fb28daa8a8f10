"""The concurrency cap under real concurrency: many threads, each with its own
database connection, start and advance runs at once (on SQLite and, in CI,
on PostgreSQL)."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from tests.workflows.enginekit import action, make_workflow
from workflows import engine
from workflows.models import Run

S = Run.Status


def _in_thread(fn, *args):
    try:
        return fn(*args)
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_starts_admit_exactly_the_cap_and_all_complete_in_order(
    ws, grace, settings, test_blocks
):
    settings.MAX_CONCURRENT_RUNS = 5
    wf = make_workflow(ws, [action("a", "ECHO", ["b"], root=True), action("b")])

    with ThreadPoolExecutor(max_workers=10) as pool:
        runs = list(
            pool.map(
                lambda _: _in_thread(
                    lambda: engine.start(workflow=wf, initiator=grace)
                ),
                range(50),
            )
        )

    assert len(runs) == 50
    assert Run.objects.filter(status=S.IN_PROGRESS).count() == 5
    queued = list(
        Run.objects.filter(status=S.QUEUED)
        .order_by("queued_at", "pk")
        .values_list("pk", flat=True)
    )
    assert len(queued) == 45

    # Four "workers" drain the runs while a monitor watches the cap:
    peak = 0
    stop = threading.Event()

    def monitor():
        nonlocal peak
        while not stop.is_set():
            peak = max(
                peak,
                Run.objects.filter(status__in=[S.IN_PROGRESS, S.CANCELLING]).count(),
            )
            time.sleep(0.005)
        connection.close()

    def worker():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            run_id = (
                Run.objects.filter(status=S.IN_PROGRESS, lease__isnull=True)
                .order_by("started_at", "pk")
                .values_list("pk", flat=True)
                .first()
            )
            if run_id is None:
                if not Run.objects.exclude(status=S.COMPLETED).exists():
                    break
                time.sleep(0.005)
                continue
            engine.advance(run_id)
        connection.close()

    watcher = threading.Thread(target=monitor)
    watcher.start()
    with ThreadPoolExecutor(max_workers=4) as pool:
        for future in [pool.submit(worker) for _ in range(4)]:
            future.result()
    stop.set()
    watcher.join()

    assert Run.objects.filter(status=S.COMPLETED).count() == 50
    assert peak <= 5
    started = (
        Run.objects.filter(pk__in=queued)
        .order_by("started_at", "pk")
        .values_list("pk", flat=True)
    )
    assert list(started) == queued  # the queue drains first in, first out


@pytest.mark.django_db(transaction=True)
def test_callbacks_racing_each_other_and_a_cancel_never_deadlock(
    ws, grace, test_blocks
):
    """The QA's race on PostgreSQL: a cancel took the run's row then its steps
    while a callback took the step then the run, and one of them died of a
    deadlock (a 500, and a cancel that did not happen)."""
    wf = make_workflow(ws, [action("hook", "HTTP_REQUEST_ASYNC", root=True)])
    runs = []
    for _ in range(6):
        run = engine.start(workflow=wf, initiator=grace)
        engine.advance(run.pk)
        runs.append(run)
    errors = []

    def hammer(run):
        step = run.steps.get()
        for _ in range(15):
            try:
                engine.callback(step, {"status": "UPDATE", "message": "u"})
            except engine.NotWaiting:
                return
            except Exception as exc:  # a deadlock, say
                errors.append(repr(exc))
                return

    def cancel(run):
        time.sleep(0.01)
        try:
            engine.cancel(Run.objects.get(pk=run.pk), by=None)
        except Exception as exc:
            errors.append(repr(exc))

    with ThreadPoolExecutor(max_workers=18) as pool:
        for run in runs:
            pool.submit(_in_thread, hammer, run)
            pool.submit(_in_thread, hammer, run)
            pool.submit(_in_thread, cancel, run)
    assert errors == []
    assert set(Run.objects.values_list("status", flat=True)) == {S.CANCELLED}
