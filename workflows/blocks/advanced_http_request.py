"""ADVANCED_HTTP_REQUEST: a named action (`actionIdentifier`) with templated `inputs`.

Cairn runs the `cortex.*` actions of `workflows.cortex_actions` against its own
catalog, as the run's initiator, the `github.*` actions of
`workflows.github_actions` through the workspace's GitHub integration and the
`gitlab.*` actions of `workflows.gitlab_actions` through its GitLab integration
(`integrationAlias`, rendered; empty for the default one). Other identifiers
(unknown `github.*` or `gitlab.*` ones…) fail by name. Every string in `inputs` is
Mustache-rendered over the run state first; the rendered map is the step's inputs.
"""

from __future__ import annotations

from types import ModuleType

from workflows import cortex_actions, github_actions, gitlab_actions, service_actions
from workflows.models import Integration

from .base import Block, BlockContext, Outcome


class AdvancedHttpRequest(Block):
    type = "ADVANCED_HTTP_REQUEST"

    def integration_kind(self, schema: dict) -> str | None:
        prefix = str(schema.get("actionIdentifier") or "").partition(".")[0]
        kinds = {"github": Integration.Kind.GITHUB, "gitlab": Integration.Kind.GITLAB}
        return kinds.get(prefix)

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
        if identifier.startswith("github."):
            return self._integration(ctx, identifier, inputs, github_actions)
        if identifier.startswith("gitlab."):
            return self._integration(ctx, identifier, inputs, gitlab_actions)
        try:
            outputs = cortex_actions.run_action(
                identifier,
                inputs,
                workspace=ctx.workspace,
                initiator=ctx.initiator,
                api_key_id=ctx.run.api_key_id,
            )
        except cortex_actions.ActionError as exc:
            return Outcome.failed(str(exc), inputs=inputs)
        return Outcome.completed(outputs, inputs=inputs)

    def _integration(
        self, ctx: BlockContext, identifier: str, inputs: dict, actions: ModuleType
    ) -> Outcome:
        """Run a `github.*` or `gitlab.*` action through the integration it names."""
        alias = ctx.render(ctx.schema.get("integrationAlias") or "")
        if not isinstance(alias, str):
            return Outcome.failed(
                "Bad configuration: integrationAlias must be a string", inputs=inputs
            )
        try:
            outputs = actions.run_action(
                identifier,
                inputs,
                workspace=ctx.workspace,
                alias=alias,
                secrets=ctx.secret_values,
            )
        except service_actions.ActionError as exc:
            return Outcome.failed(str(exc), inputs=inputs, outputs=exc.outputs)
        return Outcome.completed(outputs, inputs=inputs)
