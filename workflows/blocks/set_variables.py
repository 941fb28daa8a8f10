"""SET_VARIABLES: give workflow variables new values, in order.

Each entry is `{slug, source}` with `source` either
`{type: REFERENCE, path: "actions.inputs.outputs.github-owner"}` (a dotted path
into the run state, workflows/paths.py) or `{type: JAVASCRIPT, script}` (a
function body whose return value is the new value, workflows/js.py).

Entries are applied in order and later ones see earlier ones
(`variables.a` in the second entry is the value the first entry just set).
When the engine adds `_declared` ({slug: type}) to the action, each value is
checked against its variable's declared type. Nothing is set unless every entry
succeeds: outputs and variables are both {slug: value}.
"""

from __future__ import annotations

import copy

from workflows.js import JsError, run_script
from workflows.paths import check_type, lookup

from .base import Block, BlockContext, BlockFailed, Outcome

SOURCE_TYPES = ("REFERENCE", "JAVASCRIPT")


class SetVariables(Block):
    type = "SET_VARIABLES"
    side_effects = False

    def execute(self, ctx: BlockContext) -> Outcome:
        entries = ctx.schema.get("variables")
        inputs = {"variables": entries}
        if not isinstance(entries, list):
            return Outcome.failed(
                "SET_VARIABLES needs a list of variables to set", inputs=inputs
            )
        declared = ctx.action.get("_declared")
        values: dict = {}
        state = {**ctx.state, "variables": dict(ctx.state.get("variables") or {})}
        for index, entry in enumerate(entries):
            try:
                slug, value = self._evaluate(entry, index, state)
            except BlockFailed as exc:
                return Outcome.failed(str(exc), inputs=inputs)
            if isinstance(declared, dict):
                if slug not in declared:
                    return Outcome.failed(
                        f"variable '{slug}' is not declared by the workflow",
                        inputs=inputs,
                    )
                problem = check_type(value, declared[slug])
                if problem:
                    return Outcome.failed(f"variable '{slug}' {problem}", inputs=inputs)
            values[slug] = value
            state["variables"][slug] = value
        return Outcome.completed(dict(values), inputs=inputs, variables=dict(values))

    def _evaluate(self, entry: object, index: int, state: dict) -> tuple[str, object]:
        slug = entry.get("slug") if isinstance(entry, dict) else None
        if not isinstance(slug, str) or not slug:
            raise BlockFailed(f"variables[{index}] has no slug")
        source = entry.get("source")
        kind = source.get("type") if isinstance(source, dict) else None
        if kind not in SOURCE_TYPES:
            raise BlockFailed(
                f"variable '{slug}': source type must be REFERENCE or JAVASCRIPT, got {kind!r}"
            )
        if kind == "REFERENCE":
            path = source.get("path")
            if not isinstance(path, str) or not path.strip():
                raise BlockFailed(
                    f"variable '{slug}': the REFERENCE source has no path"
                )
            # A copy: `variables` itself would become a value inside itself.
            return slug, copy.deepcopy(lookup(state, path))
        script = source.get("script")
        if not isinstance(script, str) or not script.strip():
            raise BlockFailed(f"variable '{slug}': the JAVASCRIPT source has no script")
        try:
            return slug, run_script(script, state)
        except JsError as exc:
            raise BlockFailed(f"variable '{slug}': {exc}") from None
