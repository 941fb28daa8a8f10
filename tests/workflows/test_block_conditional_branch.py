"""CONDITIONAL_BRANCH block: CEL expressions in order, first true wins, else the fallback."""

import celpy
import pytest

from tests.workflows.blockctx import make_ctx
from workflows.blocks import get_block
from workflows.blocks.conditional_branch import (
    ConditionalBranch,
    cel_activation,
    compile_cel,
    evaluate_cel,
)

STATE = {
    "context": {"entity": None, "initiatedBy": {"email": "ada@example.com"}},
    "actions": {
        "form": {"inputs": {}, "outputs": {"env": "prod", "replicas": 3, "ratio": 0.5}}
    },
    "variables": {
        "github-owner": "",
        "repo-name": "payments",
        "items": ["a", "b"],
        "unset": None,
    },
}


def schema(*expressions, fallback=None):
    result = {
        "type": "CONDITIONAL_BRANCH",
        "branches": [
            {
                "type": "CONDITIONAL",
                "name": f"Path {i}",
                "slug": f"path-{i}",
                "expression": e,
                "outgoingAction": f"step-{i}",
            }
            for i, e in enumerate(expressions)
        ],
        "joiningAction": "merge",
    }
    if fallback is not None:
        result["fallbackBranch"] = fallback
    return result


def run(*expressions, fallback=None, state=STATE):
    return ConditionalBranch().execute(
        make_ctx(schema(*expressions, fallback=fallback), state, slug="route")
    )


def test_the_registry_gives_the_branch_block():
    assert isinstance(get_block("CONDITIONAL_BRANCH"), ConditionalBranch)


def test_the_first_true_branch_is_taken():
    outcome = run(
        'actions.form.outputs.env == "dev"',
        'actions.form.outputs.env == "prod"',
        "true",
    )
    assert outcome.status == "COMPLETED"
    assert outcome.outputs == {"branch": "path-1", "branchName": "Path 1"}
    assert outcome.branch == "step-1"
    assert outcome.branch_taken is True


def test_cortexs_hyphenated_variable_syntax_works():
    outcome = run('variables["github-owner"] == "" || variables["repo-name"] == ""')
    assert outcome.branch == "step-0"


def test_sizes_numbers_nulls_and_string_functions_evaluate_as_cel():
    assert run("size(variables.items) > 0").branch == "step-0"
    assert (
        run(
            "actions.form.outputs.replicas >= 3 && actions.form.outputs.ratio < 1.0"
        ).branch
        == "step-0"
    )
    assert run("variables.unset == null && context.entity == null").branch == "step-0"
    assert (
        run('actions.form.outputs.env.startsWith("pr") && has(variables.items)').branch
        == "step-0"
    )


def test_when_nothing_is_true_the_fallback_is_taken():
    outcome = run(
        "false",
        fallback={"name": "Otherwise", "slug": "otherwise", "outgoingAction": "ask"},
    )
    assert outcome.outputs == {"branch": "otherwise", "branchName": "Otherwise"}
    assert outcome.branch == "ask"
    assert outcome.branch_taken is True


def test_when_nothing_is_true_and_there_is_no_fallback_the_run_goes_to_the_join():
    outcome = run("false", "1 > 2")
    assert outcome.status == "COMPLETED"
    assert outcome.outputs == {"branch": None}
    assert outcome.branch is None
    assert outcome.branch_taken is False


def test_a_taken_branch_without_an_outgoing_action_has_no_target():
    ctx = make_ctx(
        {
            "type": "CONDITIONAL_BRANCH",
            "branches": [{"name": "Skip", "slug": "skip", "expression": "true"}],
        }
    )
    outcome = ConditionalBranch().execute(ctx)
    assert (outcome.branch, outcome.branch_taken) == (None, True)


def test_a_non_boolean_result_fails_naming_the_branch():
    outcome = run("actions.form.outputs.env")
    assert outcome.status == "FAILED"
    assert (
        outcome.error
        == "branch 'path-0': expression 'actions.form.outputs.env' must be true or false, got 'prod'"
    )


def test_an_expression_that_does_not_compile_fails_naming_the_branch():
    outcome = run("true", 'variables["x" ==')
    assert outcome.status == "FAILED"
    assert outcome.error.startswith(
        "branch 'path-1': expression 'variables[\"x\" ==' does not compile: syntax error (line 1, column"
    )


def test_a_missing_key_fails_naming_the_branch_and_the_key():
    outcome = run("variables.nope == 1")
    assert outcome.status == "FAILED"
    assert (
        outcome.error
        == "branch 'path-0': expression 'variables.nope == 1' failed: no such member in mapping: 'nope'"
    )


def test_ordering_values_that_do_not_compare_fails_with_a_readable_message():
    outcome = run("actions.form.outputs.env > 2")
    assert (
        outcome.error
        == "branch 'path-0': expression 'actions.form.outputs.env > 2' failed: no '>' for string and int values"
    )


@pytest.mark.parametrize(
    "expression, expected",
    [
        # A JSON number is an int or a double depending on its value; CEL
        # compares numbers across int, uint and double by value.
        ("actions.form.outputs.replicas > 2.5", True),
        ("actions.form.outputs.ratio < 1", True),
        ("actions.form.outputs.ratio >= 1", False),
        ("actions.form.outputs.replicas == 3.0", True),
        ("actions.form.outputs.replicas != 3.0", False),
        ("3u == actions.form.outputs.replicas", True),
        ("3.0 in [1, 2, 3]", True),
        ("[1, 2.0] == [1.0, 2]", True),
        ('{"n": 1} == {"n": 1.0}', True),
        # Values of different types are not equal (no error).
        ("actions.form.outputs.replicas == null", False),
        ("actions.form.outputs.replicas != null", True),
        ('actions.form.outputs.replicas == "3"', False),
        ('variables["unset"] == ""', False),
        ("variables.unset == null", True),
        ("true == 1", False),
        ('"3" in [1, 2, 3]', False),
        ('[1, "a"] == [1, "a"]', True),
    ],
)
def test_equality_and_numeric_comparisons_follow_the_cel_spec(expression, expected):
    result = evaluate_cel(compile_cel(expression), cel_activation(STATE))
    assert isinstance(result, celpy.celtypes.BoolType)
    assert bool(result) is expected


@pytest.mark.parametrize(
    "expression, expected",
    [
        # replicas is 3 (an int), ratio 0.5 (a double): mixed, the sum is a double.
        ("actions.form.outputs.replicas * actions.form.outputs.ratio == 1.5", True),
        ("actions.form.outputs.replicas / 2.0 > 1.4", True),
        ("actions.form.outputs.ratio / 2 == 0.25", True),
        ("actions.form.outputs.ratio + 1 > 1.4", True),
        ("1 - actions.form.outputs.ratio == 0.5", True),
        # A double's arithmetic stays a double that compares by value:
        ("actions.form.outputs.ratio + actions.form.outputs.ratio == 1", True),
        # Two ints stay ints, as in CEL: 3 / 2 is 1.
        ("actions.form.outputs.replicas / 2 == 1", True),
    ],
)
def test_arithmetic_mixing_ints_and_doubles_is_done_in_double(expression, expected):
    result = evaluate_cel(compile_cel(expression), cel_activation(STATE))
    assert bool(result) is expected


def test_a_number_typed_79_or_79_point_5_evaluates_either_way():
    for coverage in (79, 79.5, 80.0):
        state = {**STATE, "variables": {"coverage": coverage}}
        outcome = run("variables.coverage / 2.0 > 39.4", state=state)
        assert outcome.branch == "step-0", outcome.error
        # With an int divisor too (79 / 2 is 39, CEL's integer division):
        assert run("variables.coverage / 2 > 0", state=state).branch == "step-0"


def test_a_function_cel_lacks_is_named_even_inside_an_index():
    outcome = run('variables["repo-name"].format([1])[0] == "pay"')
    assert outcome.error.endswith("failed: undeclared reference to 'format'")


@pytest.mark.parametrize(
    "expression",
    [
        '"Payments-API".lowerAscii() == "payments-api"',
        '"Straße".upperAscii() == "STRAßE"',  # ASCII letters only, as in cel-go
        'variables["repo-name"].split("-")[0] == "payments"',
        '"a-b-c".split("-", 2) == ["a", "b-c"]',
        '["a", "b"].join(", ") == "a, b" && ["a", "b"].join() == "ab"',
        '"  x ".trim() == "x"',
        '"hello".substring(1, 3) == "el" && "hello".substring(3) == "lo"',
        '"hello".indexOf("l") == 2 && "hello".indexOf("z") == -1',
        '"hello".indexOf("l", 3) == 3 && "hello".lastIndexOf("l") == 3',
        '"hello".charAt(1) == "e" && "hello".charAt(5) == ""',
        '"a.b.c".replace(".", "/") == "a/b/c" && "a.b.c".replace(".", "/", 1) == "a/b.c"',
    ],
)
def test_cel_gos_string_extension_functions_work(expression):
    state = {**STATE, "variables": {"repo-name": "payments-api"}}
    assert run(expression, state=state).branch == "step-0"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            '"hello".substring(4, 9) == ""',
            "substring: index 9 is out of range for a string of 5",
        ),
        (
            '"hello".charAt(-1) == ""',
            "charAt: index -1 is out of range for a string of 5",
        ),
        (
            '"hello".lowerAscii(1) == ""',
            "no such overload: lowerAscii with these arguments",
        ),
        ('[1, 2].join(",") == ""', "join: the list holds values that are not strings"),
    ],
)
def test_string_extension_functions_given_bad_arguments_fail_saying_so(
    expression, message
):
    assert run(expression).error.endswith(f"failed: {message}")


def test_selecting_a_field_of_null_fails_readably():
    outcome = run('context.entity.tag == "x"')
    assert outcome.error.endswith("failed: null does not support field selection")


def test_missing_branches_or_expressions_are_configuration_errors():
    outcome = ConditionalBranch().execute(make_ctx({"type": "CONDITIONAL_BRANCH"}))
    assert outcome.status == "FAILED"
    assert outcome.error == "CONDITIONAL_BRANCH needs a list of branches"
    outcome = run("  ")
    assert outcome.status == "FAILED"
    assert outcome.error == "branch 'path-0' has no expression"


def test_compiled_programs_are_reused_by_expression_text():
    assert compile_cel("1 == 1") is compile_cel("1 == 1")


LAZY_STATE = {
    "context": {"entity": None, "n": {"a": [1, {"b": True}]}},
    "actions": {
        "form": {"inputs": {}, "outputs": {"env": "prod", "x": 1.5, "l": ["a"]}}
    },
    "variables": {"v": "x", "e": {}, "u": None},
}


@pytest.mark.parametrize(
    "expression",
    [
        '"form" in actions',
        "has(actions.form.outputs.env)",
        "variables.e == {}",
        'variables == {"v": "x", "e": {}, "u": null}',
        'context.n == {"a": [1, {"b": true}]}',
        '"a" in actions.form.outputs.l',
        "size(actions.form.outputs) == 3",
        'actions.map(k, k)[0] == "form"',
        'actions.form.outputs.filter(k, k == "env").size() == 1',
        "type(variables) == map && type(variables.v) == string",
        "context.n.a.exists(i, type(i) == map && i.b)",
        'string(actions.form.outputs.x) == "1.5"',
        "variables.missing == 1",
    ],
)
def test_the_lazily_converted_state_evaluates_like_a_fully_converted_one(expression):
    program = compile_cel(expression)
    eager = {
        key: celpy.json_to_cel(LAZY_STATE[key])
        for key in ("context", "actions", "variables")
    }

    def evaluate(activation):
        try:
            return evaluate_cel(program, activation)
        except ValueError as exc:
            return f"error: {exc}"

    assert evaluate(cel_activation(LAZY_STATE)) == evaluate(eager)


def test_an_unknown_name_fails_without_dumping_the_run_state():
    outcome = run("vars.owner == 'x'")
    assert (
        outcome.error
        == "branch 'path-0': expression \"vars.owner == 'x'\" failed: undeclared reference to 'vars'"
    )


def test_a_deeply_nested_expression_fails_instead_of_crashing():
    outcome = run("(" * 400 + "true" + ")" * 400)
    assert outcome.status == "FAILED"
    assert "nested too deeply" in outcome.error
