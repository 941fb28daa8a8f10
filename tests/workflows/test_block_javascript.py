"""JAVASCRIPT block: the returned object becomes the step's outputs."""

from tests.workflows.blockctx import make_ctx
from workflows.blocks import get_block
from workflows.blocks.javascript import JavaScript

STATE = {
    "context": {"initiatedBy": {"email": "ada@example.com"}},
    "actions": {
        "collect-inputs": {"inputs": {}, "outputs": {"serviceVersions": ["api", "web"]}}
    },
    "variables": {"region": "eu"},
}


def run(script, state=STATE):
    return JavaScript().execute(
        make_ctx({"type": "JAVASCRIPT", "script": script}, state, slug="build")
    )


def test_the_registry_gives_the_javascript_block():
    assert isinstance(get_block("JAVASCRIPT"), JavaScript)


def test_the_returned_object_becomes_the_outputs():
    script = 'return {count: actions["collect-inputs"].outputs.serviceVersions.length, region: variables.region}'
    outcome = run(script)
    assert outcome.status == "COMPLETED"
    assert outcome.outputs == {"count": 2, "region": "eu"}
    assert outcome.inputs == {"script": script}


def test_a_value_that_is_not_an_object_is_given_as_result():
    assert run("return 'eu-west'").outputs == {"result": "eu-west"}
    assert run("return [1, 2]").outputs == {"result": [1, 2]}
    assert run("const nothing = 1;").outputs == {"result": None}


def test_a_thrown_error_fails_the_step_with_its_message():
    outcome = run("if (!variables.owner) throw new Error('No owner given');")
    assert outcome.status == "FAILED"
    assert outcome.error == "No owner given"


def test_a_syntax_error_fails_the_step_naming_the_line():
    outcome = run("return {a: 1\n")
    assert outcome.status == "FAILED"
    assert outcome.error.startswith("SyntaxError:")
    assert "(line" in outcome.error


def test_a_runtime_error_fails_the_step_with_its_type():
    outcome = run("return actions.missing.outputs")
    assert outcome.status == "FAILED"
    assert outcome.error.startswith("TypeError: Cannot read properties of undefined")


def test_an_endless_loop_fails_the_step_at_the_time_limit():
    outcome = run("while (true) {}")
    assert outcome.status == "FAILED"
    assert outcome.error == "script timed out after 2000 ms"


def test_a_memory_hog_fails_the_step_at_the_memory_limit():
    outcome = run("const a = []; for (;;) a.push({x: a.length});")
    assert outcome.status == "FAILED"
    assert "memory" in outcome.error


def test_network_access_fails_the_step_saying_scripts_have_no_io():
    outcome = run("return await fetch('https://example.com')")
    assert outcome.status == "FAILED"
    assert "fetch is not defined" in outcome.error
    assert "no I/O" in outcome.error


def test_a_missing_or_blank_script_is_a_configuration_error():
    for schema in ({"type": "JAVASCRIPT"}, {"type": "JAVASCRIPT", "script": "\n  "}):
        outcome = JavaScript().execute(make_ctx(schema))
        assert outcome.status == "FAILED"
        assert outcome.error == "JAVASCRIPT block has no script"
