"""CONDITIONAL_BRANCH block: CEL expressions in order, first true wins, else the fallback."""

import itertools
import time

import celpy
import pytest

from tests.workflows.blockctx import make_ctx
from workflows import cel
from workflows.blocks import get_block
from workflows.blocks.conditional_branch import ConditionalBranch
from workflows.cel import CelCompileError, cel_activation, compile_cel, evaluate_cel

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
        == "branch 'path-0': expression 'variables.nope == 1' failed: no such key: nope"
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


def test_a_number_past_cels_64_bit_int_compares_as_a_double():
    state = {
        "variables": {"big": 12345678901234567890, "small": -(2**63), "huge": 10**400}
    }
    activation = cel_activation(state)
    assert evaluate_cel(compile_cel("variables.big > 1"), activation)
    assert evaluate_cel(compile_cel("variables.small < 0"), activation)
    assert evaluate_cel(compile_cel("variables.huge > variables.big"), activation)


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
    assert "nested too deeply to evaluate" in outcome.error


@pytest.mark.parametrize(
    "shape",
    [
        lambda n: "(" * n + "true" + ")" * n,
        lambda n: " + ".join(["1"] * n) + " > 0",
        lambda n: "[" * n + "1" + "]" * n + " != []",
        lambda n: " || ".join(["false"] * n) + " || true",
    ],
    ids=["parentheses", "additions", "lists", "ors"],
)
def test_the_deepest_expression_that_compiles_also_evaluates(shape):
    """QA: 50 nested parentheses saved, then failed every run ("nested too
    deeply"): whatever compiles must evaluate."""

    def compiles(n: int) -> bool:
        try:
            compile_cel(shape(n))
        except CelCompileError:
            return False
        return True

    low, high = 1, 1000  # the deepest that compiles, by halves
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if compiles(middle) else (low, middle - 1)
    n = low
    assert n >= 20  # real expressions are far shallower
    outcome = run(shape(n))
    assert outcome.status == "COMPLETED", outcome.error


# --- the time limit --------------------------------------------------------------------

EIGHT_NESTED_MAPS = (
    "[1,2,3].map(a, [1,2,3].map(b, [1,2,3].map(c, [1,2,3].map(d, "
    "[1,2,3].map(e, [1,2,3].map(f, [1,2,3].map(g, [1,2,3].map(h, "
    "a+b+c+d+e+f+g+h)))))))).size() > 0"
)
ITEMS_STATE = {"variables": {"items": list(range(300))}}


@pytest.mark.parametrize(
    "expression",
    [
        EIGHT_NESTED_MAPS,
        "variables.items.exists(a, variables.items.exists(b, "
        "variables.items.exists(c, a + b + c < 0)))",
        "variables.items.filter(a, variables.items.all(b, "
        "variables.items.map(c, a * b * c).size() > 0)).size() > 0",
    ],
)
def test_an_expression_that_runs_past_the_time_limit_is_stopped_and_fails_the_step(
    monkeypatch, expression
):
    monkeypatch.setattr(cel, "TIMEOUT_SECONDS", 0.2)
    started = time.monotonic()
    outcome = run(expression, state=ITEMS_STATE)
    assert time.monotonic() - started < 2
    assert outcome.status == "FAILED"
    assert outcome.error == (
        f"branch 'path-0': expression {expression!r} failed: "
        "CEL expression ran longer than 0.2 s; stopped"
    )


def test_the_time_limit_is_five_seconds_and_the_message_says_so(monkeypatch):
    assert cel.TIMEOUT_SECONDS == 5
    seconds = itertools.count(0.0, 1.0)  # a clock that moves 1 s per reading
    monkeypatch.setattr(cel, "_clock", lambda: next(seconds))
    outcome = run("variables.items.exists(i, i < 0)", state=ITEMS_STATE)
    assert outcome.error == (
        "branch 'path-0': expression 'variables.items.exists(i, i < 0)' failed: "
        "CEL expression ran longer than 5 s; stopped"
    )


def test_each_evaluation_gets_the_whole_time_limit(monkeypatch):
    monkeypatch.setattr(cel, "TIMEOUT_SECONDS", 0.3)
    program = compile_cel("variables.items.all(i, i >= 0)")
    for _ in range(3):
        time.sleep(0.15)  # time between evaluations does not count
        assert evaluate_cel(program, cel_activation(ITEMS_STATE)) is not None


# --- errors read as CEL's, never as Python's --------------------------------------------

ERROR_STATE = {
    "context": {"entity": None},
    "actions": {},
    "variables": {"n": 3, "s": "abc", "items": ["a", "b"], "m": {"a": 1}},
}


def failure(expression: str) -> str:
    """The step's error, without the "branch …: expression … failed: " prefix."""
    outcome = run(expression, state=ERROR_STATE)
    assert outcome.status == "FAILED"
    prefix = f"branch 'path-0': expression {expression!r} failed: "
    assert outcome.error.startswith(prefix), outcome.error
    return outcome.error.removeprefix(prefix)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        # an operand's error is the error of && and ||, not "…<class 'CELEvalError'>…"
        ("variables.nope && 1 == 1", "no such key: nope"),
        ("variables.nope || variables.other", "no such key: nope"),
        ("variables.n && true", "no '&&' for int and bool values"),
        ('"a" || "b"', "no '||' for string and string values"),
        (
            "variables.n ? true : false",
            "the condition before '?' must be true or false, not an int",
        ),
        # no "'IntType' object is not iterable"
        ("variables.n.exists(x, x > 1)", "cannot iterate over an int"),
        ("variables.s.all(c, c != 'x')", "cannot iterate over a string"),
        ("context.entity.map(x, x).size() > 0", "cannot iterate over null"),
        # no "unhashable type: 'ListType'"
        (
            "{variables.items: 1} == {}",
            "a map key must be an int, uint, bool or string, not a list",
        ),
        ('{"a": 1, "a": 2} == {}', "repeated key in a map: a"),
        # no "IntType(3) with type: '<class …>' does not support field selection"
        ("variables.n.y == 1", "int does not support field selection"),
        ("variables.items.first == 'a'", "list does not support field selection"),
        # no "_lazymap"
        ("variables.m + variables.m == {}", "no '+' for map and map values"),
        ("[1, 'a'].min() == 1", "no '<' for string and int values"),
        ("true + true == 2", "no '+' for bool and bool values"),
        # a function given the wrong types says what was called with what
        ("size(variables.n) > 0", "no such overload: size(int)"),
        ("variables.s.startsWith(1)", "no such overload: string.startsWith(int)"),
        ("string(variables.items) == ''", "no such overload: string(list)"),
        ("1 in variables.s", "no 'in' for int and string values"),
        # as cel-go: a string is no container (`contains()` is)
        ('"a" in variables.s', "no 'in' for string and string values"),
        ("variables.s.matches('[')", "invalid regular expression '[': missing ]: ["),
        # macros used wrongly
        ("variables.items.map(x).size() > 0", "wrong number of arguments to map()"),
        (
            "variables.items.map(1, 2).size() > 0",
            "the first argument of map() must be a variable name",
        ),
        (
            "variables.items.filter(i, 1).size() > 0",
            "the condition in filter() must be true or false, not an int",
        ),
        ("has()", "wrong number of arguments to has()"),
        (".nope == 1", "undeclared reference to 'nope'"),
        # a missing key is named, with a dot or an index
        ('variables["nope"] == 1', "no such key: nope"),
        ("variables.m.b == 1", "no such key: b"),
        # arithmetic
        ("variables.n / 0 == 1", "division by zero"),
        ("variables.n % 0 == 1", "modulus by zero"),
        ("9223372036854775807 + variables.n > 0", "integer overflow"),
        ("0u - 1u > 0u", "unsigned integer overflow"),
        ("--9223372036854775808 > 0", "integer overflow"),
    ],
)
def test_errors_read_as_cel_errors_never_naming_python_classes(expression, message):
    assert failure(expression) == message


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("int(variables.s) > 0", "cannot convert 'abc' to int"),
        ('double("1.5x") > 0.0', "cannot convert '1.5x' to double"),
        (
            'timestamp("yesterday") > timestamp("2020-01-01T00:00:00Z")',
            "cannot convert 'yesterday' to timestamp",
        ),
        (
            'duration("5 minutes") > duration("1s")',
            "cannot convert '5 minutes' to duration",
        ),
        ("uint(-1) > 0u", "cannot convert -1 to uint"),
    ],
)
def test_a_value_that_does_not_convert_says_so_not_return_error_for_overflow(
    expression, message
):
    assert failure(expression) == message


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "variables.n == 99999999999999999999",
            "syntax error (line 1, column 16): the int literal 99999999999999999999 is out of range",
        ),
        (
            "variables.n > -9223372036854775809",
            "syntax error (line 1, column 15): the int literal -9223372036854775809 is out of range",
        ),
        (
            "1u <\n  18446744073709551616u",
            "syntax error (line 2, column 3): the uint literal 18446744073709551616u is out of range",
        ),
        (
            'variables.s == "\\U00110000"',
            "syntax error (line 1, column 16): invalid escape sequence in a string literal",
        ),
    ],
)
def test_a_literal_that_cel_refuses_is_a_syntax_error_with_its_position(
    expression, message
):
    outcome = run("true", expression)
    assert outcome.status == "FAILED"
    assert outcome.error == (
        f"branch 'path-1': expression {expression!r} does not compile: {message}"
    )


def test_every_message_is_free_of_python_names():
    """A sweep over bad expressions: none of the messages looks like Python's."""
    python = (
        "Type(",
        "<class",
        "NoneType",
        "CELEvalError",
        "object",
        "unhashable",
        "iterable",
        "Token(",
        "Tree(",
        "return error for overflow",
        "_lazymap",
    )
    expressions = [
        f"{a} {op} {b}"
        for a, b in itertools.product(
            [
                "1",
                "1u",
                "2.5",
                "true",
                "null",
                "'a'",
                "b'a'",
                "[1]",
                "{'a': 1}",
                "variables.m",
                "variables.nope",
                "variables.n.y",
                "variables.items",
            ],
            repeat=2,
        )
        for op in ("+", "-", "*", "/", "%", "<", "in", "&&", "||")
    ] + [
        f"{f}({a})"
        for f in (
            "size",
            "int",
            "uint",
            "double",
            "string",
            "bytes",
            "bool",
            "timestamp",
            "duration",
            "type",
            "dyn",
        )
        for a in ("1", "-1", "2.5", "'x'", "[1]", "{}", "null", "variables.m")
    ]
    for expression in expressions:
        try:
            evaluate_cel(compile_cel(expression), cel_activation(ERROR_STATE))
        except ValueError as exc:
            assert not any(p in str(exc) for p in python), (expression, str(exc))


# --- indexes as in cel-go ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("[1, 2][-1] == 2", "index out of range: -1"),
        ("variables.items[-2] == 'a'", "index out of range: -2"),
        ("variables.items[2] == 'a'", "index out of range: 2"),
        ("variables.items[true] == 'b'", "no '[]' for list and bool values"),
        ('"abc"[0] == "a"', "no '[]' for string and int values"),
        ("variables.s[1] == 'b'", "no '[]' for string and int values"),
    ],
)
def test_negative_indexes_and_indexing_into_strings_fail_as_in_cel_go(
    expression, message
):
    assert failure(expression) == message


def test_lists_take_int_or_uint_indexes_and_maps_find_keys_equal_in_value():
    for expression in [
        "variables.items[0] == 'a' && variables.items[1u] == 'b'",
        '{1: "one"}[1.0] == "one" && {1: "one"}[1u] == "one"',  # 1 == 1.0 == 1u
        '{true: "yes"}[true] == "yes" && !(1 in {true: "yes"})',  # true is not 1
    ]:
        assert run(expression, state=ERROR_STATE).branch == "step-0", expression


# --- macros as CEL defines them ----------------------------------------------------------


def test_macros_follow_the_cel_spec_with_maps_three_argument_form():
    for expression in [
        "[1, 2, 3].map(x, x > 1, x * 10) == [20, 30]",  # filter, then map
        'variables.m.map(k, k) == ["a"] && variables.m.all(k, k == "a")',
        # the deciding value wins over an error, as with || and &&
        "[0, 1].exists(x, 1 / x == 1) && ![0, 1].all(x, 1 / x == 2)",
        "[1, 2, 3].exists_one(x, x == 2) && [1, 2].filter(x, x > 1) == [2]",
    ]:
        assert run(expression, state=ERROR_STATE).branch == "step-0", expression


def test_a_non_boolean_type_result_is_described_as_a_cel_type():
    outcome = run("type(1)")
    assert outcome.error == (
        "branch 'path-0': expression 'type(1)' must be true or false, got the type int"
    )


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "[variables.s]" + ".map(a, a + a)" * 12 + "[0] != ''",
            "the result would be longer than 1,000,000 characters or items",
        ),
        (
            "variables.s.replace('x', variables.s + variables.s) != ''",
            "replace: the result would be longer than 1,000,000 characters",
        ),
        (
            "variables.s.split('').map(c, variables.s).join(variables.s) != ''",
            "the result would be longer than 1,000,000 characters or items",
        ),
    ],
)
def test_a_string_or_list_past_a_million_fails_instead_of_filling_memory(
    expression, message
):
    """Doubling a string 30 times asked for gigabytes well within the time limit."""
    state = {"variables": {"s": "x" * 1000}}
    with pytest.raises(ValueError) as caught:
        evaluate_cel(compile_cel(expression), cel_activation(state))
    assert str(caught.value) == message


def test_strings_made_with_plus_take_string_methods():
    """`+` gave a Python str, which the strings extension refused ("no such overload")."""
    state = {"variables": {"name": "Pay"}}
    expression = "(variables.name + '-API').lowerAscii() == 'pay-api'"
    assert evaluate_cel(compile_cel(expression), cel_activation(state))
