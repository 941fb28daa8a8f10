"""The contract between the engine and a block type.

A block type is a class with `execute(ctx) -> Outcome`. Blocks that wait for a
person or a callback return `Outcome.waiting(...)` and later get `resume(ctx,
payload)`. Blocks never write Run or Step rows: they return an Outcome and the
engine records it (DESIGN.md: only the engine changes a run's status).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portal.models import User, Workspace
    from workflows.models import Run, Step


class BlockFailed(Exception):
    """Raised inside a block to fail its step with this message."""


@dataclass
class Outcome:
    status: str  # "COMPLETED", "WAITING" or "FAILED"
    outputs: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    error: str = ""
    waiting_for: str = ""  # USER_INPUT, MANUAL_APPROVAL, CALLBACK
    deadline: datetime | None = None
    # CONDITIONAL_BRANCH: the slug to continue with (None = the joining action)
    branch: str | None = None
    branch_taken: bool = False
    # SET_VARIABLES: new values for run variables
    variables: dict | None = None
    # Values this step produced that must be treated as secrets (path -> value)
    secrets: dict = field(default_factory=dict)

    @classmethod
    def completed(
        cls, outputs: dict | None = None, *, inputs: dict | None = None, **extra
    ) -> Outcome:
        return cls("COMPLETED", outputs=outputs or {}, inputs=inputs or {}, **extra)

    @classmethod
    def waiting(
        cls,
        waiting_for: str,
        *,
        inputs: dict | None = None,
        deadline: datetime | None = None,
        outputs: dict | None = None,
    ) -> Outcome:
        return cls(
            "WAITING",
            waiting_for=waiting_for,
            inputs=inputs or {},
            deadline=deadline,
            outputs=outputs or {},
        )

    @classmethod
    def failed(
        cls, error: str, *, inputs: dict | None = None, outputs: dict | None = None
    ) -> Outcome:
        return cls("FAILED", error=error, inputs=inputs or {}, outputs=outputs or {})


@dataclass
class BlockContext:
    """What a block sees while it runs."""

    run: Run
    step: Step
    action: dict  # the descriptor's action: slug, name, schema, outgoingActions…
    state: dict  # the run state with secret values revealed (never store it as is)
    workspace: Workspace
    initiator: User | None
    callback_url: str = ""
    # Every secret value the run knows (its forms', the workspace's), for
    # masking what a block shows before the engine scrubs what it stores:
    secret_values: tuple[str, ...] = ()

    @property
    def schema(self) -> dict:
        return self.action.get("schema") or {}

    def render(self, template: Any) -> Any:
        """Mustache-render a string (or every string in a dict/list) over the run state."""
        from workflows.templating import render_value

        return render_value(template, self.state)


class Block:
    """Base class. Subclasses set `type` and implement execute (and resume if they wait)."""

    type: str = ""
    # False for blocks that change nothing outside the run (JQ, JAVASCRIPT,
    # SET_VARIABLES, CONDITIONAL_BRANCH): running one twice after a crash is
    # harmless, so the engine may record several of them in one write.
    side_effects: bool = True
    # The kind of workspace integration the block calls through (Integration.Kind):
    integration: str | None = None

    def integration_kind(self, schema: dict) -> str | None:
        """The integration kind a block with this schema needs, if any (the
        run dialog warns when the workspace has none of it)."""
        return self.integration

    def execute(self, ctx: BlockContext) -> Outcome:
        raise NotImplementedError

    def resume(self, ctx: BlockContext, payload: dict) -> Outcome:
        """Finish a waiting step. `payload` depends on the block (form data, callback…)."""
        raise BlockFailed(f"{self.type} blocks do not wait")
