"""JAVASCRIPT: run `schema.script` in the V8 sandbox (workflows/js.py).

The script is a function body over `context`, `actions` and `variables`; the
object it returns becomes the step's outputs (`actions.<slug>.outputs.<key>`).
Any other value (a string, a list, null, nothing) becomes outputs {"result": value}.
"""

from __future__ import annotations

from workflows.js import JsError, run_script

from .base import Block, BlockContext, Outcome


class JavaScript(Block):
    type = "JAVASCRIPT"
    side_effects = False

    def execute(self, ctx: BlockContext) -> Outcome:
        script = ctx.schema.get("script")
        inputs = {"script": script}
        if not isinstance(script, str) or not script.strip():
            return Outcome.failed("JAVASCRIPT block has no script", inputs=inputs)
        try:
            value = run_script(script, ctx.state)
        except JsError as exc:
            return Outcome.failed(str(exc), inputs=inputs)
        outputs = value if isinstance(value, dict) else {"result": value}
        return Outcome.completed(outputs, inputs=inputs)
