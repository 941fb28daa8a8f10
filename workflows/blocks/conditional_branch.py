"""CONDITIONAL_BRANCH: CEL expressions (workflows/cel.py) over {context, actions,
variables}, first true wins.

Every expression is compiled before any is evaluated, so a typo in a later
branch fails the step even when an earlier branch would be taken. The first
branch whose expression is true is taken; with none, the fallback branch if
there is one, else nothing (the engine goes straight to the joining action).
An expression that fails to evaluate or is not a boolean fails the step.
Compiled programs are cached by expression text.
"""

from __future__ import annotations

from celpy import celtypes

from workflows.cel import (
    CelCompileError,
    cel_activation,
    compile_cel,
    evaluate_cel,
    shown,
)

from .base import Block, BlockContext, Outcome


class ConditionalBranch(Block):
    type = "CONDITIONAL_BRANCH"
    side_effects = False

    def execute(self, ctx: BlockContext) -> Outcome:
        schema = ctx.schema
        branches = schema.get("branches")
        fallback = schema.get("fallbackBranch") or None
        inputs = {
            "branches": [
                {"slug": b.get("slug"), "expression": b.get("expression")}
                for b in branches or []
                if isinstance(b, dict)
            ]
        }
        if not isinstance(branches, list) or not all(
            isinstance(b, dict) for b in branches
        ):
            return Outcome.failed(
                "CONDITIONAL_BRANCH needs a list of branches", inputs=inputs
            )
        if fallback is not None and not isinstance(fallback, dict):
            return Outcome.failed("fallbackBranch must be an object", inputs=inputs)

        programs = []
        for index, branch in enumerate(branches):
            name = branch.get("slug") or f"#{index + 1}"
            expression = branch.get("expression")
            if not isinstance(expression, str) or not expression.strip():
                return Outcome.failed(
                    f"branch '{name}' has no expression", inputs=inputs
                )
            try:
                programs.append((name, branch, compile_cel(expression)))
            except CelCompileError as exc:
                return Outcome.failed(
                    f"branch '{name}': expression {expression!r} does not compile: {exc}",
                    inputs=inputs,
                )

        try:
            activation = cel_activation(ctx.state)
        except (TypeError, ValueError) as exc:
            return Outcome.failed(
                f"the run state can't be given to CEL: {exc}", inputs=inputs
            )
        for name, branch, program in programs:
            try:
                result = evaluate_cel(program, activation)
            except ValueError as exc:
                return Outcome.failed(
                    f"branch '{name}': expression {branch['expression']!r} failed: {exc}",
                    inputs=inputs,
                )
            if not isinstance(result, celtypes.BoolType | bool):
                return Outcome.failed(
                    f"branch '{name}': expression {branch['expression']!r} must be true or false, got {shown(result)}",
                    inputs=inputs,
                )
            if result:
                return _taken(branch, inputs)
        if fallback is not None:
            return _taken(fallback, inputs)
        return Outcome.completed(
            {"branch": None}, inputs=inputs, branch=None, branch_taken=False
        )


def _taken(branch: dict, inputs: dict) -> Outcome:
    return Outcome.completed(
        {"branch": branch.get("slug"), "branchName": branch.get("name")},
        inputs=inputs,
        branch=branch.get("outgoingAction") or None,
        branch_taken=True,
    )
