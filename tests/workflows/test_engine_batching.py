"""Blocks without side effects are recorded in batches; what that keeps true.

The engine writes completed side-effect-free blocks (JQ, JAVASCRIPT,
SET_VARIABLES, CONDITIONAL_BRANCH) together with the next write the run
needs. These tests hold it to what a user and the durability rules expect.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.workflows.enginekit import (
    CRASH,
    SEEN,
    STEAL,
    WorkerKilled,
    action,
    make_workflow,
)
from workflows import engine
from workflows.models import Run, RunEvent, Step

S = Run.Status


def calc(slug, next_=(), root=False, **schema):
    return action(slug, "CALC", next_, root=root, **schema)


def mixed_workflow(ws, **d_schema):
    """a, b (batched) → c (side effects) → d (batched)."""
    return make_workflow(
        ws,
        [
            calc("a", ["b"], root=True, outputs={"n": "1"}),
            calc("b", ["c"], outputs={"n": "{{actions.a.outputs.n}}2"}),
            action("c", "ECHO", ["d"], outputs={"n": "{{actions.b.outputs.n}}3"}),
            calc("d", outputs={"n": "{{actions.c.outputs.n}}4"}, **d_schema),
        ],
        runResponseTemplate="n={{actions.d.outputs.n}}",
    )


def test_batched_blocks_end_up_stored_exactly_like_the_others(ws, grace, test_blocks):
    run = engine.start(workflow=mixed_workflow(ws), initiator=grace)
    engine.advance(run.pk)

    run.refresh_from_db()
    assert run.status == S.COMPLETED
    assert run.response.strip() == "n=1234"
    stored = {s.slug: s for s in run.steps.all()}
    assert {slug: s.status for slug, s in stored.items()} == dict.fromkeys(
        "abcd", "COMPLETED"
    )
    assert [stored[slug].position for slug in "abcd"] == [1, 2, 3, 4]
    assert stored["b"].outputs == {"n": "12"}
    assert all(s.started_at and s.finished_at for s in stored.values())
    kinds = list(
        RunEvent.objects.filter(run=run)
        .order_by("created_at", "pk")
        .values_list("kind", "step_slug")
    )
    assert kinds == [
        ("created", ""),
        ("step_completed", "a"),
        ("step_completed", "b"),
        ("step_completed", "c"),
        ("step_completed", "d"),
        ("completed", ""),
    ]


def test_a_run_of_blocks_needing_no_human_costs_a_fixed_handful_of_queries(
    ws, grace, test_blocks
):
    """One write before the block with side effects, one after it, one at the end."""
    run = engine.start(workflow=mixed_workflow(ws), initiator=grace)
    with CaptureQueriesContext(connection) as captured:
        engine.advance(run.pk)
    queries = [q["sql"] for q in captured if "SAVEPOINT" not in q["sql"]]
    writes = [q for q in queries if q.split()[0] in ("UPDATE", "INSERT")]
    # claim; load run, secrets, steps; a+b with c's start (3); c's end (3);
    # d with the end (4, notification included); admission (1).
    assert len(queries) <= 15, "\n".join(q[:120] for q in queries)
    assert len(writes) <= 11, "\n".join(w[:120] for w in writes)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has no pipelines")
def test_on_postgresql_each_write_of_a_run_goes_in_one_of_four_pipelines(
    ws, grace, test_blocks, pipelines
):
    """The claim, before c, after c and the end: one round trip each (and a
    COMMIT for the last three)."""
    run = engine.start(workflow=mixed_workflow(ws), initiator=grace)
    pipelines.clear()  # the start's
    with CaptureQueriesContext(connection) as captured:
        engine.advance(run.pk)

    writes = [q["sql"] for q in captured if q["sql"].split()[0] in ("UPDATE", "INSERT")]
    piped = [sql for sent in pipelines for sql in sent]
    assert sorted(writes) == sorted(w for w in piped if w in writes)
    assert len(pipelines) == 4, [[q[:40] for q in p] for p in pipelines]


def test_a_worker_killed_before_writing_its_batch_reruns_only_the_unwritten_blocks(
    ws, grace, test_blocks
):
    run = engine.start(workflow=mixed_workflow(ws, crash=True), initiator=grace)
    CRASH.set()
    with pytest.raises(WorkerKilled):
        engine.advance(run.pk)
    # a and b were written with c's start, c when it completed; d died in memory.
    assert dict(run.steps.values_list("slug", "status")) == dict.fromkeys(
        "abc", "COMPLETED"
    )
    assert test_blocks == ["a", "b", "c", "d"]

    CRASH.clear()
    Run.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    engine.advance(run.pk)  # the sweep's redelivery, to another worker

    run.refresh_from_db()
    assert run.status == S.COMPLETED
    assert test_blocks == ["a", "b", "c", "d", "d"]
    assert run.steps.count() == 4
    assert not run.steps.filter(attempt__gt=1).exists()


def test_a_worker_that_lost_its_run_writes_nothing_of_its_batch_and_starts_nothing(
    ws, grace, test_blocks
):
    workflow = make_workflow(
        ws,
        [
            calc("a", ["b"], root=True),
            calc("b", ["c"], steal=True),  # another worker takes the run meanwhile
            action("c", "ECHO", ["d"]),
            calc("d"),
        ],
    )
    run = engine.start(workflow=workflow, initiator=grace)
    STEAL.set()
    engine.advance(run.pk)

    assert test_blocks == ["a", "b"]
    assert not run.steps.exists()  # a and b are the new holder's to run again
    assert not RunEvent.objects.filter(run=run, kind="step_completed").exists()
    run.refresh_from_db()
    assert run.status == S.IN_PROGRESS and run.cursor.get("steps", 0) == 0

    STEAL.clear()
    Run.objects.filter(pk=run.pk).update(  # the new holder died too
        heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    engine.advance(run.pk)

    run.refresh_from_db()
    assert run.status == S.COMPLETED
    assert dict(run.steps.values_list("slug", "position")) == {
        "a": 1,
        "b": 2,
        "c": 3,
        "d": 4,
    }
    assert test_blocks == ["a", "b", "a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("then", "written"),
    [
        ("c", ["a"]),  # before the block with side effects
        (None, ["a", "b"]),  # at the end
    ],
)
def test_a_worker_whose_run_was_taken_and_moved_on_gives_it_up_quietly(
    ws, grace, test_blocks, then, written
):
    workflow = make_workflow(
        ws,
        [
            calc("a", ["b"], root=True),
            calc("b", [then] if then else [], steal=True, written=written),
            *([action(then, "ECHO")] if then else []),
        ],
    )
    run = engine.start(workflow=workflow, initiator=grace)
    STEAL.set()
    engine.advance(run.pk)  # its batch repeats steps the new holder wrote: no error

    assert test_blocks == ["a", "b"]
    assert sorted(run.steps.values_list("slug", flat=True)) == written
    run.refresh_from_db()
    assert run.status == S.IN_PROGRESS


def test_a_cancel_during_batched_blocks_keeps_them_and_starts_nothing_more(
    ws, grace, test_blocks
):
    workflow = make_workflow(
        ws,
        [
            calc("a", ["b"], root=True),
            calc("b", ["c"], cancel=True),
            action("c", "ECHO"),
        ],
    )
    run = engine.start(workflow=workflow, initiator=grace)
    engine.advance(run.pk)

    run.refresh_from_db()
    assert run.status == S.CANCELLED
    assert test_blocks == ["a", "b"]
    assert dict(run.steps.values_list("slug", "status")) == {
        "a": "COMPLETED",
        "b": "COMPLETED",
    }


def test_a_cancel_during_a_slow_block_stops_the_next_without_waiting_for_a_write(
    ws, grace, test_blocks
):
    """The time a block takes counts towards the next read of the run's status
    (the next block used to start when the cancel came during the first)."""
    workflow = make_workflow(
        ws,
        [
            calc("a", ["b"], root=True, cancel=True, seconds=0.05),
            calc("b", ["c"]),
            calc("c", ["d"]),
            calc("d"),
        ],
    )
    run = engine.start(workflow=workflow, initiator=grace)
    engine.advance(run.pk)

    run.refresh_from_db()
    assert run.status == S.CANCELLED
    assert test_blocks == ["a"]  # b, c and d never started
    assert dict(run.steps.values_list("slug", "status")) == {"a": "COMPLETED"}


def test_a_batched_block_that_ran_past_the_batch_time_is_written_before_the_next_starts(
    ws, grace, test_blocks, monkeypatch
):
    """What a person watching the run sees: a slow block shows as done at once,
    not only when the next one ends too."""
    monkeypatch.setattr(engine, "_BATCH_SECONDS", 0.03)
    seen = []
    workflow = make_workflow(
        ws, [calc("a", ["b"], root=True, seconds=0.05), calc("b", seconds=0.05)]
    )
    run = engine.start(workflow=workflow, initiator=grace)
    original = engine._execute

    def spy(block, run_, step, action, secrets):
        seen.append(
            (
                step.slug,
                sorted(Step.objects.filter(run=run_).values_list("slug", flat=True)),
            )
        )
        return original(block, run_, step, action, secrets)

    monkeypatch.setattr(engine, "_execute", spy)
    engine.advance(run.pk)

    assert seen == [("a", []), ("b", ["a"])]
    run.refresh_from_db()
    assert run.status == S.COMPLETED


def test_quick_batched_blocks_do_not_read_the_runs_status_between_them(
    ws, grace, test_blocks
):
    workflow = make_workflow(
        ws, [calc("a", ["b"], root=True), calc("b", ["c"]), calc("c")]
    )
    run = engine.start(workflow=workflow, initiator=grace)
    with CaptureQueriesContext(connection) as queries:
        engine.advance(run.pk)
    assert not [
        q for q in queries if q["sql"].startswith('SELECT "workflows_run"."status"')
    ]
    run.refresh_from_db()
    assert run.status == S.COMPLETED


def test_a_cancel_in_the_last_batched_block_cancels_the_run_and_keeps_its_blocks(
    ws, grace, test_blocks
):
    workflow = make_workflow(ws, [calc("a", ["b"], root=True), calc("b", cancel=True)])
    run = engine.start(workflow=workflow, initiator=grace)
    engine.advance(run.pk)

    run.refresh_from_db()
    assert run.status == S.CANCELLED
    assert set(run.steps.values_list("status", flat=True)) == {"COMPLETED"}


def test_a_failing_block_after_batched_ones_keeps_them_and_fails_the_run(
    ws, grace, test_blocks
):
    workflow = make_workflow(
        ws,
        [calc("a", ["b"], root=True), action("b", "FAIL", message="nope")],
    )
    run = engine.start(workflow=workflow, initiator=grace)
    engine.advance(run.pk)

    run.refresh_from_db()
    assert run.status == S.FAILED
    assert "nope" in run.error
    assert dict(run.steps.values_list("slug", "status")) == {
        "a": "COMPLETED",
        "b": "FAILED",
    }


def test_a_run_whose_slice_ends_mid_batch_is_written_and_requeued(
    ws, grace, test_blocks, settings, django_capture_on_commit_callbacks
):
    settings.RUN_TIME_SLICE_SECONDS = 0
    workflow = make_workflow(ws, [calc("a", ["b"], root=True), calc("b")])
    run = engine.start(workflow=workflow, initiator=grace)
    with django_capture_on_commit_callbacks() as callbacks:
        engine.advance(run.pk)

    run.refresh_from_db()
    assert run.status == S.IN_PROGRESS and run.lease is None
    assert list(run.steps.values_list("slug", flat=True)) == ["a"]
    assert len(callbacks) == 1  # re-enqueued for the next slice


def test_a_value_a_batched_block_built_from_a_secret_reaches_later_slices_in_clear(
    ws, grace, test_blocks, settings
):
    settings.RUN_TIME_SLICE_SECONDS = 0  # one block a slice: b's batch is written alone
    workflow = make_workflow(
        ws,
        [
            action("a", "ECHO", ["b"], root=True, secretOutputs={"tok": "s3cret-Val"}),
            calc("b", ["c"], outputs={"auth": "Bearer {{actions.a.outputs.tok}}"}),
            action("c", "ECHO", see="{{actions.b.outputs.auth}}"),
        ],
    )
    run = engine.start(workflow=workflow, initiator=grace)
    for _ in range(3):
        engine.advance(run.pk)

    run.refresh_from_db()
    assert run.status == S.COMPLETED
    assert SEEN == ["Bearer s3cret-Val"]  # c saw what b built, in a later slice
    assert run.steps.get(slug="b").outputs == {"auth": "Bearer ********"}
    assert run.secrets_blob == ""


def set_vars(slug, next_, **scripts):
    return action(
        slug,
        "SET_VARIABLES",
        next_,
        variables=[
            {"slug": name, "source": {"type": "JAVASCRIPT", "script": script}}
            for name, script in scripts.items()
        ],
    )


def test_variables_built_from_a_secret_then_set_again_reach_later_slices_new(
    ws, grace, test_blocks, settings
):
    settings.RUN_TIME_SLICE_SECONDS = (
        0  # one block a slice: each reads what was written
    )
    token = "actions.a.outputs.tok"
    workflow = make_workflow(
        ws,
        [
            action(
                "a", "ECHO", ["old"], root=True, secretOutputs={"tok": "s3cret-Val"}
            ),
            # As many values built from the secret before as after:
            set_vars(
                "old", ["new"], auth=f'return "OLD " + {token}', b=f"return {token}"
            ),
            set_vars("new", ["d"], auth=f'return "NEW " + {token}', b='return "plain"'),
            action("d", "ECHO", see="{{variables.auth}} {{variables.b}}"),
        ],
        variables=[{"slug": "auth", "type": "STRING"}, {"slug": "b", "type": "STRING"}],
    )
    run = engine.start(workflow=workflow, initiator=grace)
    for _ in range(4):
        engine.advance(run.pk)

    run.refresh_from_db()
    assert run.status == S.COMPLETED, run.error
    assert SEEN == ["NEW s3cret-Val plain"]
    assert run.state["variables"] == {"auth": "NEW ********", "b": "plain"}


def test_values_built_from_a_secret_past_what_a_run_keeps_reach_later_blocks_masked(
    ws, grace, test_blocks, monkeypatch
):
    monkeypatch.setattr(engine, "_DERIVED_MAX", len("A s3cret-Val"))
    workflow = make_workflow(
        ws,
        [
            action("a", "ECHO", ["b"], root=True, secretOutputs={"tok": "s3cret-Val"}),
            calc(
                "b",
                ["c"],
                outputs={
                    "x": "A {{actions.a.outputs.tok}}",
                    "y": "B {{actions.a.outputs.tok}}",
                },
            ),
            action("c", "ECHO", see="{{actions.b.outputs.x}}|{{actions.b.outputs.y}}"),
        ],
    )
    run = engine.start(workflow=workflow, initiator=grace)
    engine.advance(run.pk)

    run.refresh_from_db()
    assert run.status == S.COMPLETED, run.error
    assert SEEN == ["A s3cret-Val|B ********"]


def waiting_hook(ws, user, *after) -> Step:
    """A run waiting for a callback after a block that outputs the secret
    "s3cret-Value"; `after`: actions that come next. The step as the API finds it."""
    workflow = make_workflow(
        ws,
        [
            action(
                "a", "ECHO", ["hook"], root=True, secretOutputs={"tok": "s3cret-Value"}
            ),
            action("hook", "HTTP_REQUEST_ASYNC", [a["slug"] for a in after]),
            *after,
        ],
    )
    run = engine.start(workflow=workflow, initiator=user)
    engine.advance(run.pk)
    return Step.objects.select_related("run").get(run=run, slug="hook")


def test_a_block_answered_again_gives_later_blocks_its_last_answer_not_an_older_one(
    ws, grace, test_blocks
):
    """An UPDATE callback quoting the secret, then SUCCESS without it."""
    step = waiting_hook(
        ws, grace, action("c", "ECHO", see="{{actions.hook.outputs.message}}")
    )
    run = step.run
    engine.callback(step, {"status": "UPDATE", "message": "started with s3cret-Value"})
    engine.callback(step, {"status": "SUCCESS", "message": "done"})
    engine.advance(run.pk)

    run.refresh_from_db()
    assert run.status == S.COMPLETED, run.error
    assert SEEN == ["done"]


def test_starting_a_run_costs_a_fixed_handful_of_queries(ws, grace, test_blocks):
    workflow = mixed_workflow(ws)
    with CaptureQueriesContext(connection) as captured:
        engine.start(workflow=workflow, initiator=grace)
    queries = [q["sql"] for q in captured if "SAVEPOINT" not in q["sql"]]
    # initiator's roles, secret tags, the run, its event; admission: the
    # workspace lock (PostgreSQL only), the candidates, their promotion.
    limit = 6 if connection.vendor == "sqlite" else 7
    assert len(queries) <= limit, "\n".join(q[:120] for q in queries)


def test_an_async_update_quoting_a_secret_cut_short_is_stored_masked(
    ws, grace, test_blocks
):
    step = waiting_hook(ws, grace)
    run = step.run
    engine.callback(step, {"status": "UPDATE", "message": 'using "s3cret-Va..."'})

    step.refresh_from_db()
    assert step.outputs == {"message": 'using "********..."'}
    assert not RunEvent.objects.filter(run=run, message__contains="s3cret").exists()
