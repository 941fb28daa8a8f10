"""JQ: a jq program over the whole run state (`.variables.x`, `.actions."get-entity".outputs.body`).

outputs = {"result": value}: the program's one output (the common case), None
when it emits nothing (`empty`), and the list of outputs when it emits several
(`.items[]`). `error("msg")` and runtime errors fail the step with jq's message;
a program that does not compile fails it with the compile error.

Programs run in a child process of the worker's (workflows/jq_child.py), one
at a time per process, so that one that never ends (`last(repeat(1))`) is
stopped after TIMEOUT_SECONDS and one that fills memory dies alone past
MEMORY_BYTES; either fails its step, and the next program gets a new child.
That costs 0.1 to 0.25 ms per block over running jq in the worker itself.
Compiled programs are cached by expression text (they are pure).
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache

import jq

from workflows.child import Child, ChildDied, ChildTimedOut
from workflows.jq_child import PRELUDE

from .base import Block, BlockContext, Outcome

MAX_OUTPUTS = 10_000  # stops `repeat(1)` and friends from filling memory
TIMEOUT_SECONDS = 5.0
MEMORY_BYTES = 512 * 1024 * 1024  # the child's address space, Python's included

_COMPILE_ERROR = re.compile(
    r"^jq: error: (.*?)(?: at <top-level>, line (\d+), column (\d+))?:?$"
)


class JqCompileError(ValueError):
    pass


@lru_cache(maxsize=512)
def compile_jq(expression: str):
    """The compiled program; raises JqCompileError with jq's messages, tidied."""
    try:
        return jq.compile(PRELUDE + expression)
    except ValueError as exc:
        raise JqCompileError(_compile_message(str(exc))) from None


def _compile_message(text: str) -> str:
    problems = []
    for line in text.splitlines():
        match = _COMPILE_ERROR.match(line.strip())
        if match:
            problem, row, column = match.groups()
            if row:  # PRELUDE comes first on line 1
                column = int(column) - (len(PRELUDE) if row == "1" else 0)
                problem += f" (line {row}, column {max(column, 1)})"
            problems.append(problem)
    return "; ".join(problems) or text.strip()


class JqStopped(Exception):
    """The program ran too long or out of memory; the message says which."""


def _orphan_alarm() -> int:
    """Whole seconds after which the child ends a program by itself: later than
    the worker's own stop, so it only ever ends an orphan's."""
    return math.ceil(TIMEOUT_SECONDS) + 5


def _run(expression: str, text: str, limit: int) -> list:
    """The program's first `limit` outputs over the JSON `text`; raises
    ValueError for jq's errors and JqStopped past the limits."""
    try:
        status, value = _child.ask([expression, text, limit], TIMEOUT_SECONDS)
    except ChildTimedOut:
        raise JqStopped(
            f"JQ expression ran longer than {TIMEOUT_SECONDS:g} s; stopped"
        ) from None
    except ChildDied as exc:  # jq aborts its process when an allocation fails
        raise JqStopped(
            f"JQ expression ran out of memory (limit {MEMORY_BYTES >> 20} MB)"
            if exc.returncode == -6  # SIGABRT
            else "JQ stopped unexpectedly; run the workflow again"
        ) from None
    if status == "error":
        raise ValueError(value)
    return value


def _new_child() -> Child:
    return Child("workflows.jq_child", str(MEMORY_BYTES), str(_orphan_alarm()))


_child = _new_child()


class Jq(Block):
    type = "JQ"
    side_effects = False

    def execute(self, ctx: BlockContext) -> Outcome:
        expression = ctx.schema.get("expression")
        inputs = {"expression": expression}
        if not isinstance(expression, str) or not expression.strip():
            return Outcome.failed("JQ block has no expression", inputs=inputs)
        try:
            compile_jq(expression)  # here, for jq's messages, tidied
        except JqCompileError as exc:
            return Outcome.failed(
                f"JQ expression does not compile: {exc}", inputs=inputs
            )
        try:
            results = _run(
                expression, json.dumps(ctx.state, default=str), MAX_OUTPUTS + 1
            )
        except ValueError as exc:  # error("msg") and runtime errors
            return Outcome.failed(str(exc) or "JQ expression failed", inputs=inputs)
        except JqStopped as exc:
            return Outcome.failed(str(exc), inputs=inputs)
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
