"""Helpers for engine tests: workflows from raw descriptors, and test-only blocks.

The test blocks live at the edge of the engine (like a fake transport): they
let engine tests exercise the state machine without the real blocks' I/O.
"""

import threading

import pytest

from workflows import blocks
from workflows.blocks.base import Block, BlockFailed, Outcome
from workflows.models import Workflow, WorkflowVersion

CALLS: list[str] = []
SEEN: list[str] = []  # what ECHO blocks with `see` rendered, as they saw it
REFUSED: list[str] = []  # early callbacks the engine refused (what the API answers 406)


class Echo(Block):
    """Completes with `schema.outputs` rendered over the run state."""

    type = "ECHO"

    def execute(self, ctx):
        CALLS.append(ctx.action["slug"])
        if "see" in ctx.schema:
            SEEN.append(ctx.render(ctx.schema["see"]))
        outputs = ctx.render(ctx.schema.get("outputs", {}))
        secrets = {
            f"actions.{ctx.action['slug']}.outputs.{k}": v
            for k, v in ctx.schema.get("secretOutputs", {}).items()
        }
        for key in ctx.schema.get("secretOutputs", {}):
            outputs[key] = "********"
        return Outcome.completed(
            outputs,
            inputs={"seen": ctx.render(ctx.schema.get("see", ""))},
            secrets=secrets,
        )


class Calc(Block):
    """Side-effect free (the engine batches it): completes with `schema.outputs`.

    `schema.cancel` cancels the run from inside the block (a person pressing
    Cancel run while it runs); `schema.crash` kills the "worker" while CRASH
    is set, like a SIGKILL, which no engine code can catch; `schema.steal`
    has another worker take the run over while STEAL is set (the
    stale-heartbeat case), and, running the blocks again, write the steps
    `schema.written` names. `schema.seconds` makes it a slow block.
    """

    type = "CALC"
    side_effects = False

    def execute(self, ctx):
        CALLS.append(ctx.action["slug"])
        if ctx.schema.get("cancel"):
            from workflows import engine
            from workflows.models import Run

            engine.cancel(Run.objects.get(pk=ctx.run.pk), by=None)  # as the web does
        if ctx.schema.get("seconds"):
            import time

            time.sleep(ctx.schema["seconds"])
        if ctx.schema.get("crash") and CRASH.is_set():
            raise WorkerKilled
        if ctx.schema.get("steal") and STEAL.is_set():
            import uuid

            from django.utils import timezone

            from workflows.models import Run, Step

            Run.objects.filter(pk=ctx.run.pk).update(
                lease=uuid.uuid4(), heartbeat_at=timezone.now()
            )
            for position, slug in enumerate(ctx.schema.get("written", []), 1):
                Step.objects.create(
                    run_id=ctx.run.pk,
                    slug=slug,
                    type="CALC",
                    position=position,
                    status=Step.Status.COMPLETED,
                )
        return Outcome.completed(ctx.render(ctx.schema.get("outputs", {})))


class WorkerKilled(BaseException):
    """Escapes every `except Exception`, as a dying process does."""


class Fail(Block):
    type = "FAIL"

    def execute(self, ctx):
        CALLS.append(ctx.action["slug"])
        raise BlockFailed(ctx.schema.get("message", "it failed"))


class Boom(Block):
    type = "BOOM"

    def execute(self, ctx):
        raise RuntimeError("bug")


class Pick(Block):
    """A branch that takes `schema.target` (None: straight to the join)."""

    type = "CONDITIONAL_BRANCH"

    def execute(self, ctx):
        CALLS.append(ctx.action["slug"])
        target = ctx.schema.get("target")
        return Outcome.completed(
            {"branch": target}, branch=target, branch_taken=bool(target)
        )


class Ask(Block):
    """Waits for a USER_INPUT-like submission; completes with the submitted values."""

    type = "ASK"

    def execute(self, ctx):
        CALLS.append(ctx.action["slug"])
        return Outcome.waiting("USER_INPUT", inputs={"form": []})

    def resume(self, ctx, payload):
        return Outcome.completed(dict(payload["values"]))


class Hook(Block):
    """Waits for a callback like HTTP_REQUEST_ASYNC."""

    type = "HTTP_REQUEST_ASYNC"

    def execute(self, ctx):
        CALLS.append(ctx.action["slug"])
        from workflows import engine
        from workflows.models import Run, Step

        # `cancel_first` (test only): someone cancels the run while the call is out.
        if ctx.action["schema"].get("cancel_first"):
            engine.cancel(Run.objects.get(pk=ctx.step.run_id), by=None)
        # `answers` (test only): callbacks the callee sends before the request returns.
        for payload in ctx.action["schema"].get("answers", []):
            try:
                engine.callback(
                    Step.objects.select_related("run").get(pk=ctx.step.pk), payload
                )
            except engine.NotWaiting as exc:
                REFUSED.append(str(exc))
        return Outcome.waiting("CALLBACK", outputs={"callbackUrl": ctx.callback_url})

    def resume(self, ctx, payload):
        status = payload.get("status")
        if status == "SUCCESS":
            return Outcome.completed({"message": payload.get("message", "")})
        if status == "FAILURE":
            return Outcome.failed(payload.get("message", ""))
        if status == "UPDATE":
            return Outcome.waiting(
                "CALLBACK", outputs={"message": payload.get("message", "")}
            )
        raise ValueError("status must be SUCCESS, FAILURE or UPDATE")


class Gate(Block):
    """Blocks until the test sets GATE (a block in flight)."""

    type = "GATE"

    def execute(self, ctx):
        CALLS.append(ctx.action["slug"])
        GATE_ENTERED.set()
        GATE.wait(10)
        return Outcome.completed({"done": True})


GATE = threading.Event()
GATE_ENTERED = threading.Event()
CRASH = threading.Event()
STEAL = threading.Event()
TEST_BLOCKS = [Echo, Calc, Fail, Boom, Ask, Gate]


@pytest.fixture
def test_blocks(monkeypatch):
    CALLS.clear()
    SEEN.clear()
    REFUSED.clear()
    GATE.clear()
    GATE_ENTERED.clear()
    CRASH.clear()
    STEAL.clear()
    instances = dict(blocks._instances)
    for cls in TEST_BLOCKS:
        instances[cls.type] = cls()
    # The engine treats these types specially (branch walking, callback ids):
    instances["CONDITIONAL_BRANCH"] = Pick()
    instances["HTTP_REQUEST_ASYNC"] = Hook()
    monkeypatch.setattr(blocks, "_instances", instances)
    return CALLS


def action(slug, type_="ECHO", next_=(), root=False, **schema):
    return {
        "slug": slug,
        "name": slug.replace("-", " ").title(),
        "isRootAction": root,
        "outgoingActions": list(next_),
        "schema": {"type": type_, **schema},
    }


def chain(*slugs, type_="ECHO"):
    """Actions a → b → c of one type, the first being the root."""
    return [
        action(slug, type_, [slugs[i + 1]] if i + 1 < len(slugs) else [], root=(i == 0))
        for i, slug in enumerate(slugs)
    ]


def make_workflow(workspace, actions, *, tag="wf", **fields) -> Workflow:
    descriptor = {
        "tag": tag,
        "name": tag.title(),
        "description": "",
        "isDraft": False,
        "isRunnableViaApi": True,
        "filter": {"type": "GLOBAL"},
        "variables": [],
        "restrictActionCompletionToRunnerUser": False,
        "actions": actions,
        **fields,
    }
    workflow = Workflow.objects.create(
        workspace=workspace,
        tag=tag,
        name=descriptor["name"],
        scope=descriptor["filter"]["type"],
        is_draft=descriptor["isDraft"],
        is_runnable_via_api=descriptor["isRunnableViaApi"],
    )
    version = WorkflowVersion.objects.create(
        workflow=workflow, number=1, descriptor=descriptor
    )
    workflow.current_version = version
    workflow.save(update_fields=["current_version"])
    return workflow
