"""JQ block: a jq program over the whole run state."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.workflows.blockctx import make_ctx
from workflows.blocks import get_block, jq_block
from workflows.blocks.jq_block import Jq, compile_jq

STATE = {
    "context": {"entity": {"tag": "payments"}},
    "actions": {
        "get-entity": {
            "inputs": {},
            "outputs": {
                "body": {"git": {"repository": "acme/payments"}, "items": [1, 2, 3]}
            },
        }
    },
    "variables": {"app-name": "pay", "count": 2},
}


def run(expression, state=STATE):
    return Jq().execute(make_ctx({"type": "JQ", "expression": expression}, state))


def test_the_registry_gives_the_jq_block():
    assert isinstance(get_block("JQ"), Jq)


def test_a_path_with_a_quoted_hyphenated_slug_reads_the_run_state():
    outcome = run('.actions."get-entity".outputs.body.git.repository')
    assert outcome.status == "COMPLETED"
    assert outcome.outputs == {"result": "acme/payments"}
    assert outcome.inputs == {
        "expression": '.actions."get-entity".outputs.body.git.repository'
    }


def test_an_expression_can_build_an_object():
    outcome = run(
        '.actions."get-entity".outputs.body.git.repository | split("/") | {owner: .[0], repo: .[1]}'
    )
    assert outcome.outputs == {"result": {"owner": "acme", "repo": "payments"}}


def test_the_identity_expression_passes_the_whole_state_through():
    assert run(".").outputs == {"result": STATE}


def test_several_outputs_become_a_list_and_none_becomes_null():
    assert run('.actions."get-entity".outputs.body.items[]').outputs == {
        "result": [1, 2, 3]
    }
    assert run("empty").outputs == {"result": None}


def test_error_fails_the_step_with_the_authors_message():
    outcome = run(
        'if .variables.count > 1 then error("Pick one environment") else . end'
    )
    assert outcome.status == "FAILED"
    assert outcome.error == "Pick one environment"


def test_a_runtime_error_fails_the_step_with_jqs_message():
    outcome = run('.variables."app-name" | .[0]')
    assert outcome.status == "FAILED"
    assert outcome.error == "Cannot index string with number (0)"


def test_an_expression_that_does_not_compile_fails_naming_the_problem():
    outcome = run(".variables.x | foo(")
    assert outcome.status == "FAILED"
    assert outcome.error.startswith("JQ expression does not compile: syntax error")
    assert "(line 1, column" in outcome.error


def test_an_unknown_function_fails_naming_it():
    assert (
        run("nosuch(1)").error
        == "JQ expression does not compile: nosuch/1 is not defined (line 1, column 1)"
    )


def test_a_program_sees_an_empty_environment_not_the_portals_settings(monkeypatch):
    monkeypatch.setenv("EMAIL_URL", "smtp://mailer:hunter2@mail.example.com")
    jq_block._child.stop()  # the next program starts a process with this environment
    for expression in ("env", "$ENV", "[env[]]"):
        outcome = run(expression)
        assert outcome.status == "COMPLETED"
        assert "hunter2" not in json.dumps(outcome.outputs)
    # Python itself sets the locale variable (PEP 538); nothing of the portal's:
    assert set(run("env").outputs["result"]) <= {"LC_CTYPE"}


def test_reading_a_second_input_fails_saying_there_is_none():
    outcome = run("input")
    assert outcome.status == "FAILED"
    assert outcome.error == "No more inputs: a JQ block reads one input, the run state"


def test_an_endless_generator_is_cut_off_instead_of_filling_memory():
    outcome = run("repeat(1)")
    assert outcome.status == "FAILED"
    assert "more than 10000 values" in outcome.error


def test_a_missing_or_blank_expression_is_a_configuration_error():
    for schema in (
        {"type": "JQ"},
        {"type": "JQ", "expression": "  "},
        {"type": "JQ", "expression": 3},
    ):
        outcome = Jq().execute(make_ctx(schema))
        assert outcome.status == "FAILED"
        assert outcome.error == "JQ block has no expression"


def test_compiled_programs_are_reused_by_expression_text():
    assert compile_jq(".variables.count") is compile_jq(".variables.count")


def test_values_json_cannot_hold_natively_are_given_as_text():
    from datetime import date

    state = {"context": {}, "actions": {}, "variables": {"when": date(2025, 5, 16)}}
    assert run(".variables.when", state).outputs == {"result": "2025-05-16"}


def test_a_program_that_never_ends_is_stopped_at_the_time_limit_and_the_next_one_runs(
    monkeypatch,
):
    monkeypatch.setattr(jq_block, "TIMEOUT_SECONDS", 0.5)
    began = time.monotonic()
    outcome = run("last(repeat(1))")
    assert outcome.status == "FAILED"
    assert outcome.error == "JQ expression ran longer than 0.5 s; stopped"
    assert time.monotonic() - began < 5
    assert run(".variables.count").outputs == {"result": 2}


def test_a_program_that_fills_memory_fails_its_step_alone(monkeypatch, request):
    monkeypatch.setattr(jq_block, "MEMORY_BYTES", 256 * 1024 * 1024)
    child = jq_block._new_child()  # the limit is set when a child starts
    monkeypatch.setattr(jq_block, "_child", child)
    request.addfinalizer(child.stop)
    outcome = run("[range(1e9)] | length")
    assert outcome.status == "FAILED"
    assert outcome.error == "JQ expression ran out of memory (limit 256 MB)"
    assert run(".variables.count").outputs == {"result": 2}


def test_unicode_and_numbers_come_back_from_the_jq_process_as_they_went_in():
    state = {"context": {}, "actions": {}, "variables": {"name": "Zoë ☃", "n": 1.5}}
    assert run("[.variables.name, .variables.n, 10000000000000]", state).outputs == {
        "result": ["Zoë ☃", 1.5, 10000000000000]
    }


def _child(alarm_seconds: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "workflows.jq_child", "0", str(alarm_seconds)],
        cwd=Path(__file__).resolve().parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _ask(child: subprocess.Popen, expression: str) -> list:
    child.stdin.write(json.dumps([expression, "{}", 10]) + "\n")
    child.stdin.flush()
    return json.loads(child.stdout.readline())


def test_a_jq_process_whose_worker_died_mid_program_ends_itself_at_its_alarm():
    # The worker was SIGKILLed while the program ran: no one will stop it.
    child = _child(alarm_seconds=1)
    child.stdin.write(json.dumps(["last(repeat(1))", "{}", 10]) + "\n")
    child.stdin.close()
    try:
        assert child.wait(timeout=30) == -signal.SIGALRM
    finally:
        child.kill()


def test_the_jq_process_alarm_covers_one_program_at_a_time_not_its_whole_life():
    child = _child(alarm_seconds=1)
    try:
        assert _ask(child, "1 + 1") == ["ok", [2]]
        time.sleep(1.5)  # idle past the alarm: it was disarmed after the program
        assert _ask(child, '"still here"') == ["ok", ["still here"]]
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()


def test_the_worker_gives_its_jq_process_an_alarm_later_than_its_own_stop():
    assert jq_block._orphan_alarm() > jq_block.TIMEOUT_SECONDS


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ('"deploys are frozen" | halt_error', "deploys are frozen"),
        ('"deploys are frozen" | halt_error(5)', "deploys are frozen"),
        ("{frozen: true} | halt_error", '{"frozen":true}'),
    ],
)
def test_halt_error_fails_the_block_with_its_input_as_the_message(expression, error):
    """The jq library ignores halting: the block used to succeed with nothing."""
    outcome = run(expression)
    assert outcome.status == "FAILED"
    assert outcome.error == error


def test_compile_errors_on_the_first_line_count_columns_from_the_programs_first():
    assert run(".variables | 1 +").error == (
        "JQ expression does not compile: syntax error, unexpected end of file"
        " (line 1, column 16)"
    )


def test_loc_names_the_programs_own_line():
    outcome = run("$__loc__.line,\n$__loc__.line")
    assert outcome.outputs == {"result": [1, 2]}


def test_compile_errors_count_lines_from_the_programs_first():
    assert run(".variables |\n  1 +").error == (
        "JQ expression does not compile: syntax error, unexpected end of file"
        " (line 2, column 5)"
    )


def test_a_result_nested_deeper_than_python_reads_fails_saying_so_and_the_next_runs():
    """The jq process died on it ("JQ stopped unexpectedly")."""
    outcome = run("reduce range(5000) as $i (0; [.])")
    assert outcome.status == "FAILED"
    assert outcome.error == "the result is nested too deeply"
    assert run(".variables.count").outputs == {"result": 2}
