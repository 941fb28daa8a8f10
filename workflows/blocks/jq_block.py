"""JQ: a jq program over the whole run state (`.variables.x`, `.actions."get-entity".outputs.body`).

outputs = {"result": value}: the program's one output (the common case), None
when it emits nothing (`empty`), and the list of outputs when it emits several
(`.items[]`). `error("msg")` and runtime errors fail the step with jq's message;
a program that does not compile fails it with the compile error.

Compiled programs are cached by expression text (they are pure). jq has no
time limit: a program that loops forever (`def f: f; f`) holds its worker.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from itertools import islice

import jq

from .base import Block, BlockContext, Outcome

MAX_OUTPUTS = 10_000  # stops `repeat(1)` and friends from filling memory

_COMPILE_ERROR = re.compile(
    r"^jq: error: (.*?)(?: at <top-level>, line (\d+), column (\d+))?:?$"
)


class JqCompileError(ValueError):
    pass


@lru_cache(maxsize=512)
def compile_jq(expression: str):
    """The compiled program; raises JqCompileError with jq's messages, tidied."""
    try:
        return jq.compile(expression)
    except ValueError as exc:
        raise JqCompileError(_compile_message(str(exc))) from None


def _compile_message(text: str) -> str:
    problems = []
    for line in text.splitlines():
        match = _COMPILE_ERROR.match(line.strip())
        if match:
            problem, row, column = match.groups()
            problems.append(
                f"{problem} (line {row}, column {column})" if row else problem
            )
    return "; ".join(problems) or text.strip()


class Jq(Block):
    type = "JQ"
    side_effects = False

    def execute(self, ctx: BlockContext) -> Outcome:
        expression = ctx.schema.get("expression")
        inputs = {"expression": expression}
        if not isinstance(expression, str) or not expression.strip():
            return Outcome.failed("JQ block has no expression", inputs=inputs)
        try:
            program = compile_jq(expression)
        except JqCompileError as exc:
            return Outcome.failed(
                f"JQ expression does not compile: {exc}", inputs=inputs
            )
        try:
            results = list(
                islice(
                    program.input_text(json.dumps(ctx.state, default=str)),
                    MAX_OUTPUTS + 1,
                )
            )
        except ValueError as exc:  # error("msg") and runtime errors
            return Outcome.failed(str(exc) or "JQ expression failed", inputs=inputs)
        if len(results) > MAX_OUTPUTS:
            return Outcome.failed(
                f"JQ expression emitted more than {MAX_OUTPUTS} values", inputs=inputs
            )
        if not results:
            result = None
        elif len(results) == 1:
            result = results[0]
        else:
            result = results
        return Outcome.completed({"result": result}, inputs=inputs)
