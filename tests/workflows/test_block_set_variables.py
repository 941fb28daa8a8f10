"""SET_VARIABLES block, with the reference-path and type helpers it uses (workflows/paths.py)."""

import re

import pytest

from tests.workflows.blockctx import make_ctx
from workflows.blocks import get_block
from workflows.blocks.base import BlockFailed
from workflows.blocks.set_variables import SetVariables
from workflows.paths import PathNotFound, check_type, lookup

STATE = {
    "context": {"entity": {"tag": "payments"}},
    "actions": {
        "inputs": {
            "inputs": {},
            "outputs": {"github-owner": "acme", "replicas": "3", "nothing": None},
        },
        "get-entity": {
            "inputs": {},
            "outputs": {"body": {"items": [{"tag": "api"}, {"tag": "web"}]}},
        },
    },
    "variables": {"github-owner": None, "count": 1},
}


def ref(slug, path):
    return {"slug": slug, "source": {"type": "REFERENCE", "path": path}}


def js(slug, script):
    return {"slug": slug, "source": {"type": "JAVASCRIPT", "script": script}}


def run(*entries, declared=None, state=STATE):
    ctx = make_ctx(
        {"type": "SET_VARIABLES", "variables": list(entries)}, state, slug="remember"
    )
    if declared is not None:
        ctx.action["_declared"] = declared
    return SetVariables().execute(ctx)


def test_the_registry_gives_the_set_variables_block():
    assert isinstance(get_block("SET_VARIABLES"), SetVariables)


def test_a_reference_copies_a_value_into_a_variable():
    outcome = run(ref("github-owner", "actions.inputs.outputs.github-owner"))
    assert outcome.status == "COMPLETED"
    assert outcome.variables == {"github-owner": "acme"}
    assert outcome.outputs == {"github-owner": "acme"}


def test_a_reference_can_index_into_lists():
    outcome = run(ref("first", "actions.get-entity.outputs.body.items.1.tag"))
    assert outcome.variables == {"first": "web"}


def test_a_javascript_source_sets_the_value_it_returns():
    outcome = run(
        js("tags", "return actions['get-entity'].outputs.body.items.map(i => i.tag)")
    )
    assert outcome.variables == {"tags": ["api", "web"]}


def test_entries_apply_in_order_and_later_ones_see_earlier_ones():
    outcome = run(
        ref("github-owner", "actions.inputs.outputs.github-owner"),
        js("label", "return variables['github-owner'] + '/payments'"),
    )
    assert outcome.variables == {"github-owner": "acme", "label": "acme/payments"}
    assert (
        STATE["variables"]["github-owner"] is None
    )  # the run state itself is left to the engine


def test_a_missing_path_fails_naming_it():
    outcome = run(ref("x", "actions.inputs.outputs.nope"))
    assert outcome.status == "FAILED"
    assert (
        outcome.error == "path 'actions.inputs.outputs.nope' not found in the run state"
    )


def test_a_present_null_is_found_and_set():
    assert run(ref("x", "actions.inputs.outputs.nothing")).variables == {"x": None}


def test_a_failing_script_fails_naming_the_variable():
    outcome = run(js("x", "throw new Error('no owner')"))
    assert outcome.status == "FAILED"
    assert outcome.error == "variable 'x': no owner"


def test_a_script_that_loops_forever_fails_at_the_time_limit():
    outcome = run(js("x", "while (true) {}"))
    assert outcome.error == "variable 'x': script timed out after 2000 ms"


def test_a_value_of_the_wrong_declared_type_fails():
    outcome = run(
        ref("count", "actions.inputs.outputs.github-owner"),
        declared={"count": "NUMBER"},
    )
    assert outcome.status == "FAILED"
    assert outcome.error == "variable 'count' must be NUMBER, got 'acme'"


def test_values_of_the_declared_type_pass():
    outcome = run(
        js("count", "return 3"),
        ref("github-owner", "actions.inputs.outputs.github-owner"),
        declared={"count": "NUMBER", "github-owner": "STRING"},
    )
    assert outcome.variables == {"count": 3, "github-owner": "acme"}


def test_an_undeclared_variable_fails_when_declarations_are_known():
    outcome = run(js("stray", "return 1"), declared={"count": "NUMBER"})
    assert outcome.error == "variable 'stray' is not declared by the workflow"


def test_a_failure_sets_nothing():
    outcome = run(js("count", "return 2"), ref("x", "nope"))
    assert outcome.status == "FAILED"
    assert outcome.variables is None


@pytest.mark.parametrize(
    "schema, message",
    [
        ({"type": "SET_VARIABLES"}, "SET_VARIABLES needs a list of variables to set"),
        (
            {
                "type": "SET_VARIABLES",
                "variables": [{"source": {"type": "REFERENCE", "path": "a"}}],
            },
            "variables[0] has no slug",
        ),
        (
            {"type": "SET_VARIABLES", "variables": [{"slug": "x"}]},
            "variable 'x': source type must be REFERENCE or JAVASCRIPT, got None",
        ),
        (
            {
                "type": "SET_VARIABLES",
                "variables": [{"slug": "x", "source": {"type": "SQL"}}],
            },
            "variable 'x': source type must be REFERENCE or JAVASCRIPT, got 'SQL'",
        ),
        (
            {
                "type": "SET_VARIABLES",
                "variables": [{"slug": "x", "source": {"type": "REFERENCE"}}],
            },
            "variable 'x': the REFERENCE source has no path",
        ),
        (
            {
                "type": "SET_VARIABLES",
                "variables": [
                    {"slug": "x", "source": {"type": "JAVASCRIPT", "script": " "}}
                ],
            },
            "variable 'x': the JAVASCRIPT source has no script",
        ),
    ],
)
def test_bad_configuration_fails_with_a_clear_message(schema, message):
    outcome = SetVariables().execute(make_ctx(schema, STATE))
    assert outcome.status == "FAILED"
    assert outcome.error == message


def test_an_empty_list_sets_nothing():
    outcome = run()
    assert outcome.status == "COMPLETED"
    assert outcome.variables == {}


# workflows.paths.lookup


def test_lookup_follows_hyphenated_segments_and_list_indexes():
    assert lookup(STATE, "actions.get-entity.outputs.body.items.0.tag") == "api"
    assert lookup(STATE, "variables") == {"github-owner": None, "count": 1}


def test_lookup_takes_list_indexes_in_brackets_as_javascript_writes_them():
    assert lookup(STATE, "actions.get-entity.outputs.body.items[1].tag") == "web"
    assert lookup({"grid": [[1, 2], [3, 4]]}, "grid[1][0]") == 3


def test_a_key_that_holds_brackets_is_still_found_as_written():
    assert lookup({"labels": {"tier[1]": "gold"}}, "labels.tier[1]") == "gold"


def test_lookup_tolerates_braces_and_a_leading_dot():
    assert lookup(STATE, "{{actions.inputs.outputs.github-owner}}") == "acme"
    assert lookup(STATE, ".variables.count") == 1


@pytest.mark.parametrize(
    "path",
    [
        "variables.nope",
        "actions.get-entity.outputs.body.items.5",
        "variables.github-owner.deeper",
        "variables.count.0",
        "actions.get-entity.outputs.body.items.-1",
        "actions.get-entity.outputs.body.items[5]",
        "actions.get-entity.outputs.body.items.01",
        "actions.get-entity.outputs.body.items[٣]",
        "variables[0]",
    ],
)
def test_lookup_of_a_missing_path_is_a_block_failure(path):
    with pytest.raises(
        PathNotFound, match=f"^path '{re.escape(path)}' not found in the run state$"
    ):
        lookup(STATE, path)
    assert issubclass(PathNotFound, BlockFailed)


def test_lookup_of_an_empty_path_fails():
    with pytest.raises(PathNotFound, match="empty"):
        lookup(STATE, "  ")


# workflows.paths.check_type


@pytest.mark.parametrize(
    "value, var_type",
    [
        ("text", "STRING"),
        (3, "NUMBER"),
        (2.5, "NUMBER"),
        (False, "BOOLEAN"),
        ({"a": 1}, "OBJECT"),
        (["a"], "ARRAY_OF_STRING"),
        ([1, 2.5], "ARRAY_OF_NUMBER"),
        ([True], "ARRAY_OF_BOOLEAN"),
        ([{}], "ARRAY_OF_OBJECT"),
        ([], "ARRAY_OF_NUMBER"),
        (None, "NUMBER"),
    ],
)
def test_check_type_accepts_values_of_the_type_and_null(value, var_type):
    assert check_type(value, var_type) is None


@pytest.mark.parametrize(
    "value, var_type, message",
    [
        ("abc", "NUMBER", "must be NUMBER, got 'abc'"),
        (True, "NUMBER", "must be NUMBER, got true"),
        (1, "BOOLEAN", "must be BOOLEAN, got 1"),
        ([1], "OBJECT", "must be OBJECT, got [1]"),
        (3, "STRING", "must be STRING, got 3"),
        ("a", "ARRAY_OF_STRING", "must be ARRAY_OF_STRING, got 'a'"),
        (
            [1, "x"],
            "ARRAY_OF_NUMBER",
            "must be ARRAY_OF_NUMBER, got [1,\"x\"] (item 1 is 'x')",
        ),
        (
            [{"a": 1}, None],
            "ARRAY_OF_OBJECT",
            'must be ARRAY_OF_OBJECT, got [{"a":1},null] (item 1 is null)',
        ),
        ("x", "DATE", "has unknown type 'DATE'"),
    ],
)
def test_check_type_explains_a_mismatch(value, var_type, message):
    assert check_type(value, var_type) == message


def test_long_values_are_described_not_cut_so_secrets_stay_maskable():
    token = "s3cr3t-" * 20
    assert (
        check_type(token, "NUMBER") == "must be NUMBER, got a string of 140 characters"
    )
    assert (
        check_type(list(range(50)), "OBJECT")
        == "must be OBJECT, got a list of 50 items"
    )
    assert check_type([token], "ARRAY_OF_NUMBER") == (
        "must be ARRAY_OF_NUMBER, got a list of 1 items (item 0 is a string of 140 characters)"
    )
