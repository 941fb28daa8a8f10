"""A property-based test of the run state machine.

Hypothesis drives random sequences of start, advance, input, approval,
callback, cancel, worker crash and sweep; after every step the invariants of
DESIGN.md must hold.
"""

import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from catalog.models import Team
from tests.factories import UserFactory, WorkspaceFactory, member
from tests.workflows.enginekit import CALLS, action, make_workflow
from workflows import engine
from workflows.models import TERMINAL_STATUSES, Run, Step

S = Run.Status
CAP = 2

SHAPES = {
    "plain": lambda: [action("a", "ECHO", ["b"], root=True), action("b")],
    "form": lambda: [
        action("a", "ECHO", ["form"], root=True),
        action("form", "ASK", ["c"]),
        action("c"),
    ],
    "approval": lambda: [
        action(
            "approve",
            "MANUAL_APPROVAL",
            ["c"],
            root=True,
            approvingTeamIds=["platform"],
        ),
        action("c"),
    ],
    "callback": lambda: [
        action("hook", "HTTP_REQUEST_ASYNC", ["c"], root=True),
        action("c"),
    ],
    "branch": lambda: [
        action(
            "pick",
            "CONDITIONAL_BRANCH",
            ["left", "right"],
            root=True,
            target="left",
            joiningAction="join",
        ),
        action("left", "FAIL", []),
        action("right"),
        action("join"),
    ],
}


class EngineMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        ws = WorkspaceFactory(slug=f"p{uuid.uuid4().hex[:6]}")
        self.user = UserFactory(email=f"{ws.slug}-grace@example.com")
        member(ws, self.user, "User")
        self.approver = UserFactory(email=f"{ws.slug}-linus@example.com")
        member(ws, self.approver, "User")
        Team.objects.create(workspace=ws, tag="platform", name="Platform").members.add(
            self.approver
        )
        self.workflows = {
            name: make_workflow(ws, shape(), tag=name) for name, shape in SHAPES.items()
        }
        self.ended: dict[int, str] = {}
        CALLS.clear()

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    def _runs(self, *statuses):
        return list(
            Run.objects.filter(
                workflow__in=self.workflows.values(), status__in=statuses
            ).order_by("pk")
        )

    @rule(shape=st.sampled_from(sorted(SHAPES)))
    def start(self, shape):
        engine.start(workflow=self.workflows[shape], initiator=self.user)

    @rule(data=st.data())
    def advance(self, data):
        runs = self._runs(S.IN_PROGRESS, S.CANCELLING)
        if runs:
            engine.advance(data.draw(st.sampled_from(runs)).pk)

    def _waiting(self, waiting_for):
        return list(
            Step.objects.filter(
                run__workflow__in=self.workflows.values(),
                status="WAITING",
                waiting_for=waiting_for,
            ).select_related("run")
        )

    @rule(data=st.data())
    def submit(self, data):
        steps = self._waiting("USER_INPUT")
        if steps:
            step = data.draw(st.sampled_from(steps))
            engine.submit_input(step.run, step, values={"x": 1}, by=self.user)

    @rule(data=st.data(), approve=st.booleans())
    def decide(self, data, approve):
        steps = self._waiting("MANUAL_APPROVAL")
        if steps:
            step = data.draw(st.sampled_from(steps))
            engine.decide(
                step.run, step, by=self.approver, approve=approve, reason="no"
            )

    @rule(data=st.data(), status=st.sampled_from(["SUCCESS", "FAILURE", "UPDATE"]))
    def callback(self, data, status):
        steps = self._waiting("CALLBACK")
        if steps:
            engine.callback(
                data.draw(st.sampled_from(steps)), {"status": status, "message": status}
            )

    @rule(data=st.data())
    def cancel(self, data):
        runs = self._runs(S.QUEUED, S.IN_PROGRESS, S.PAUSED)
        if runs:
            engine.cancel(data.draw(st.sampled_from(runs)), by=self.user)

    @rule(data=st.data())
    def crash(self, data):
        """A worker claimed the run, started its next block and died."""
        runs = self._runs(S.IN_PROGRESS)
        if not runs:
            return
        run = data.draw(st.sampled_from(runs))
        pending = run.cursor.get("pending", [])
        if pending and not run.steps.filter(slug=pending[0]).exists():
            block_type = next(
                a["schema"]["type"]
                for a in run.version.descriptor["actions"]
                if a["slug"] == pending[0]
            )
            # As the engine does: the step row and the cursor's count together.
            position = run.cursor.get("steps", 0) + 1
            Step.objects.create(
                run=run,
                slug=pending[0],
                type=block_type,
                status="RUNNING",
                position=position,
            )
            run.cursor["steps"] = position
        Run.objects.filter(pk=run.pk).update(
            lease=uuid.uuid4(),
            heartbeat_at=timezone.now() - timedelta(hours=1),
            cursor=run.cursor,
        )

    @rule()
    def sweep(self):
        engine.sweep()

    @invariant()
    def cap_holds(self):
        busy = Run.objects.filter(
            workflow__in=self.workflows.values(),
            status__in=[S.IN_PROGRESS, S.CANCELLING],
        ).count()
        assert busy <= CAP

    @invariant()
    def finished_runs_stay_finished_and_clean(self):
        for run in Run.objects.filter(
            workflow__in=self.workflows.values(), status__in=TERMINAL_STATUSES
        ):
            assert self.ended.setdefault(run.pk, run.status) == run.status
            assert run.secrets_blob == ""
            assert run.lease is None
            assert not run.steps.filter(
                status__in=["WAITING", "RUNNING", "PENDING"]
            ).exists()

    @invariant()
    def paused_runs_hold_no_worker_and_wait_on_one_step(self):
        for run in self._runs(S.PAUSED):
            assert run.lease is None
            assert run.steps.filter(status="WAITING").count() == 1

    @invariant()
    def queued_runs_only_wait_while_the_cap_is_full(self):
        if self._runs(S.QUEUED):
            assert len(self._runs(S.IN_PROGRESS, S.CANCELLING)) == CAP


@pytest.mark.django_db
def test_no_sequence_of_actions_breaks_the_run_state_machine(test_blocks, settings):
    settings.MAX_CONCURRENT_RUNS = CAP
    run_state_machine_as_test(
        EngineMachine,
        settings=hypothesis_settings(
            max_examples=40,
            derandomize=True,  # the same sequences every run: CI stays reproducible
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
