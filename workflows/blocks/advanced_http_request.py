"""ADVANCED_HTTP_REQUEST: a named action (`actionIdentifier`) with templated `inputs`.

Cairn runs the `cortex.*` actions of `workflows.cortex_actions` against its own
catalog, as the run's initiator; other identifiers (`github.*`, `gitlab.*`…)
fail by name. Every string in `inputs` is Mustache-rendered over the run state
first; the rendered map is the step's inputs.
"""

from __future__ import annotations

from workflows import cortex_actions

from .base import Block, BlockContext, Outcome


class AdvancedHttpRequest(Block):
    type = "ADVANCED_HTTP_REQUEST"

    def execute(self, ctx: BlockContext) -> Outcome:
        identifier = ctx.schema.get("actionIdentifier")
        if not identifier or not isinstance(identifier, str):
            return Outcome.failed("Bad configuration: actionIdentifier is required")
        raw_inputs = ctx.schema.get("inputs")
        if raw_inputs is None:
            raw_inputs = {}
        if not isinstance(raw_inputs, dict):
            return Outcome.failed(
                "Bad configuration: inputs must map input names to values"
            )
        inputs = ctx.render(raw_inputs)
        try:
            outputs = cortex_actions.run_action(
                identifier, inputs, workspace=ctx.workspace, initiator=ctx.initiator
            )
        except cortex_actions.ActionError as exc:
            return Outcome.failed(str(exc), inputs=inputs)
        return Outcome.completed(outputs, inputs=inputs)
