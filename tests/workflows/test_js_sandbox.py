"""workflows.js.run_script: the V8 sandbox behind JAVASCRIPT blocks and SET_VARIABLES sources."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from workflows.js import JsError, run_script

STATE = {
    "context": {"initiatedBy": {"email": "ada@example.com"}},
    "actions": {
        "collect-inputs": {
            "inputs": {},
            "outputs": {"serviceVersions": [{"tag": "api"}, "web"]},
        }
    },
    "variables": {"region": "eu"},
}


def test_a_script_sees_context_actions_variables_and_state_and_returns_an_object():
    script = """
    const versions = actions["collect-inputs"].outputs.serviceVersions;
    return {
      tags: versions.map(v => typeof v === "object" ? v.tag : v),
      who: context.initiatedBy.email,
      region: variables.region,
      same: state.variables.region === variables.region,
    };
    """
    assert run_script(script, STATE) == {
        "tags": ["api", "web"],
        "who": "ada@example.com",
        "region": "eu",
        "same": True,
    }


def test_the_cortex_create_release_example_script_builds_its_yaml():
    script = (
        'const versions = actions["collect-inputs"].outputs.serviceVersions;\n'
        "const arr = Array.isArray(versions) ? versions : [versions];\n"
        "const items = arr.map(sv => {\n"
        "  const tag = (sv && typeof sv === 'object') ? sv.tag : sv;\n"
        '  return `        - tag: "${tag}"`;\n'
        '}).join("\\n");\n'
        "return { relationshipsYaml: `destinations:\\n${items}` };\n"
    )
    result = run_script(script, STATE)
    assert result == {
        "relationshipsYaml": 'destinations:\n        - tag: "api"\n        - tag: "web"'
    }


def test_a_script_that_returns_nothing_gives_none():
    assert run_script("const x = 1;", STATE) is None
    assert run_script("return undefined", STATE) is None


def test_scalars_lists_and_null_come_back_through_json():
    assert run_script("return 5", STATE) == 5
    assert run_script("return 'text'", STATE) == "text"
    assert run_script("return [1, 'a', null, true]", STATE) == [1, "a", None, True]
    assert run_script("return null", STATE) is None


def test_a_script_may_declare_names_that_shadow_the_globals():
    assert run_script("const actions = 7; return actions", STATE) == 7


def test_await_works_and_the_settled_value_is_returned():
    assert run_script("await null; return {done: await Promise.resolve(2)}", STATE) == {
        "done": 2
    }


def test_a_state_key_named_proto_stays_data():
    state = {
        "context": {},
        "actions": {},
        "variables": {"__proto__": {"polluted": True}},
    }
    assert run_script("return [Object.keys(variables), ({}).polluted]", state) == [
        ["__proto__"],
        None,
    ]


def test_nothing_a_script_leaves_behind_reaches_the_next_run():
    run_script(
        "globalThis.leak = 1; Object.prototype.polluted = 'yes'; Array.prototype.push = null;",
        STATE,
    )
    assert run_script("return [typeof leak, ({}).polluted, typeof [].push]", STATE) == [
        "undefined",
        None,
        "function",
    ]


def test_an_endless_loop_stops_at_the_default_two_second_limit():
    with pytest.raises(JsError, match=r"^script timed out after 2000 ms$"):
        run_script("while (true) {}", STATE)


def test_the_time_limit_is_configurable_and_the_next_run_is_unaffected():
    with pytest.raises(JsError, match=r"^script timed out after 300 ms$"):
        run_script("for (;;) {}", STATE, timeout_ms=300)
    assert run_script("return 1", STATE) == 1


def test_an_endless_promise_chain_also_times_out():
    with pytest.raises(JsError, match="timed out after 300 ms"):
        run_script(
            "Promise.resolve().then(() => { while (true) {} }); return 1",
            STATE,
            timeout_ms=300,
        )


def test_a_script_that_allocates_without_bound_hits_the_memory_limit():
    with pytest.raises(JsError, match=r"ran out of memory \(limit 64 MB\)"):
        run_script(
            "const a = []; while (true) { a.push(new Array(100000).fill(1)); }", STATE
        )


def test_a_huge_string_counts_against_the_memory_limit():
    script = "return JSON.stringify(new Array(5e6).fill('abcdefgh')).length"
    with pytest.raises(JsError, match=r"ran out of memory \(limit 16 MB\)"):
        run_script(script, STATE, max_memory_mb=16, timeout_ms=20000)


@pytest.mark.parametrize(
    "name",
    [
        "require",
        "fetch",
        "XMLHttpRequest",
        "setTimeout",
        "clearTimeout",
        "setInterval",
        "process",
        "WebAssembly",
        "ArrayBuffer",
        "Uint8Array",
        "SharedArrayBuffer",
        "Atomics",
    ],
)
def test_io_timers_and_off_heap_buffers_are_undefined(name):
    assert run_script(f"return typeof {name}", STATE) == "undefined"


@pytest.mark.parametrize(
    "script, first_words",
    [
        ("require('fs')", "ReferenceError: require is not defined"),
        ("return fetch('https://example.com')", "ReferenceError: fetch is not defined"),
        ("new XMLHttpRequest()", "ReferenceError: XMLHttpRequest is not defined"),
        ("setTimeout(() => 1, 10)", "TypeError: setTimeout is not a function"),
        ("return await import('fs')", "import() is not supported"),
    ],
)
def test_a_script_that_tries_io_fails_saying_there_is_no_io(script, first_words):
    with pytest.raises(JsError) as failure:
        run_script(script, STATE)
    assert str(failure.value).startswith(first_words)
    assert "no I/O" in str(failure.value)


def test_a_syntax_error_names_the_problem_and_its_line():
    with pytest.raises(JsError, match=r"^SyntaxError: .* \(line 2\)$"):
        run_script("const a = 1;\nconst = ;\nreturn a", STATE)


def test_a_thrown_error_fails_with_the_authors_message():
    with pytest.raises(JsError, match=r"^Missing repository owner$"):
        run_script("throw new Error('Missing repository owner')", STATE)


def test_a_runtime_type_error_names_its_type_and_line():
    with pytest.raises(
        JsError,
        match=r"^TypeError: Cannot read properties of undefined \(reading 'x'\) \(line 3\)$",
    ):
        run_script("\n\nreturn variables.nope.x", STATE)


def test_thrown_strings_and_rejected_promises_fail_with_their_text():
    with pytest.raises(JsError, match=r"^plain words$"):
        run_script("throw 'plain words'", STATE)
    with pytest.raises(JsError, match=r"^RangeError: nope"):
        run_script("return Promise.reject(new RangeError('nope'))", STATE)


def test_a_promise_that_never_settles_fails_clearly():
    with pytest.raises(JsError, match="never settled"):
        run_script("return new Promise(() => {})", STATE)


def test_a_result_json_cannot_hold_fails_clearly():
    with pytest.raises(JsError, match="BigInt"):
        run_script("return 10n", STATE)
    with pytest.raises(
        JsError, match=r"^TypeError: Converting circular structure to JSON$"
    ):
        run_script("const o = {}; o.self = o; return o", STATE)


def test_an_empty_script_is_an_error():
    with pytest.raises(JsError, match="empty"):
        run_script("   ", STATE)


def test_scripts_run_side_by_side_in_threads_without_mixing_state():
    def job(n):
        return run_script(
            "return variables.n * 2",
            {"context": {}, "actions": {}, "variables": {"n": n}},
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(job, range(12))) == [n * 2 for n in range(12)]


def test_threads_running_their_first_scripts_at_once_do_not_crash_the_process():
    """mini-racer crashed (SIGSEGV) when two threads of a fresh process made
    contexts together, e.g. two gunicorn threads validating forms."""
    import subprocess
    import sys
    from pathlib import Path

    program = (
        "import threading\n"
        "from workflows.js import run_script\n"
        "threads = [threading.Thread(target=run_script, args=('return 1', {}))"
        " for _ in range(3)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print('ok')\n"
    )
    root = Path(__file__).resolve().parents[2]
    for _ in range(3):  # without the lock, 18 fresh processes in 20 crashed
        done = subprocess.run(
            [sys.executable, "-c", program],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "ok"


def test_scripts_that_run_out_of_memory_one_after_another_leave_the_process_running():
    """In one process, the script after one that reached the memory limit
    ended it (V8's fatal "invalid table size", SIGTRAP): pytest itself died."""
    for _ in range(3):
        # V8 throws, or ends its process (", or an array … larger than V8 allows");
        # a busy machine may take more than the usual 2 s to get there.
        with pytest.raises(JsError, match=r"^script ran out of memory \(limit 64 MB"):
            run_script("new Array(1e9).fill(0)", STATE, timeout_ms=20_000)
        assert run_script("return 1 + 1", STATE) == 2


def test_a_script_whose_process_v8_aborts_fails_as_out_of_memory():
    """V8 ends its process with SIGTRAP on allocations it can't recover from."""
    import os
    import signal
    import threading

    from workflows import js

    run_script("return 1", STATE)
    threading.Timer(0.5, os.kill, (js._child._proc.pid, signal.SIGTRAP)).start()
    with pytest.raises(
        JsError,
        match=r"^script ran out of memory \(limit 64 MB, or an array or object"
        r" larger than V8 allows\)$",
    ):
        run_script("while (true) {}", STATE, timeout_ms=10_000)
    assert run_script("return 3", STATE) == 3


def test_a_script_process_killed_between_scripts_is_replaced():
    import os
    import signal

    from workflows import js

    run_script("return 1", STATE)
    os.kill(js._child._proc.pid, signal.SIGKILL)
    js._child._proc.wait()
    assert run_script("return 2", STATE) == 2


def test_a_script_process_killed_during_a_script_fails_that_script_clearly():
    import os
    import signal
    import threading

    from workflows import js

    run_script("return 1", STATE)
    pid = js._child._proc.pid
    threading.Timer(0.5, os.kill, (pid, signal.SIGKILL)).start()
    with pytest.raises(
        JsError,
        match=r"^the JavaScript process stopped unexpectedly; run the workflow again$",
    ):
        run_script("while (true) {}", STATE, timeout_ms=10_000)
    assert run_script("return 3", STATE) == 3


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("throw null", "the script threw null"),
        ("throw undefined", "the script threw undefined"),
        ('throw Symbol("frozen")', "Symbol(frozen)"),
        ('throw ""', "the script threw an error with no message"),
        ('throw new Error("")', "the script threw an error with no message"),
        ("throw function f() {}", "the script threw a function"),
        (
            "const o = {}; o.o = o; throw o",
            "the script threw an object JSON can't show",
        ),
        (
            "throw {get message() { throw 1 }}",
            "the script threw a value that can't be described",
        ),
        ("throw {code: 7}", '{"code":7}'),
    ],
)
def test_whatever_a_script_throws_fails_it_with_a_message_that_says_what(
    script, message
):
    """Some said "undefined", nothing at all, or that the promise never settled."""
    with pytest.raises(JsError) as caught:
        run_script(script, STATE)
    assert str(caught.value) == message


def test_checking_and_running_scripts_never_loads_v8_into_the_calling_process():
    """V8 lives in the child: a web or worker process that checks descriptors and
    runs scripts neither hosts its ~70 MB nor dies with it."""
    import subprocess
    import sys
    from pathlib import Path

    program = (
        "from workflows.js import run_script, syntax_errors\n"
        "print(syntax_errors(['return 1', 'return (']))\n"
        "print(run_script('return 6 * 7', {}))\n"
        "print('libmini_racer' in open('/proc/self/maps').read())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    checked, ran, loaded = done.stdout.splitlines()
    assert checked.startswith("[None, 'SyntaxError: ")
    assert ran == "42"
    assert loaded == "False"


def test_btoa_and_atob_encode_and_decode_base64_as_on_the_web():
    script = """
    return {
      basic: btoa("svc:" + variables.region),
      lengths: ["", "a", "ab", "abc", "abcd"].map(btoa),
      back: atob(btoa("\\u00ff\\u0000x")) === "\\u00ff\\u0000x",
      spaced: atob(" c3Zj\\nOmV1 "),
    };
    """
    assert run_script(script, STATE) == {
        "basic": "c3ZjOmV1",
        "lengths": ["", "YQ==", "YWI=", "YWJj", "YWJjZA=="],
        "back": True,
        "spaced": "svc:eu",
    }


def test_structured_clone_copies_deeply_keeping_dates_maps_sets_and_cycles():
    script = """
    const original = {
      when: new Date(0), pattern: /a+/gi, tags: new Set(["x"]), by: new Map([["k", [1]]]),
      list: [1, , {deep: true}], fault: new RangeError("too far"), region: variables.region,
    };
    original.self = original;
    const copy = structuredClone(original);
    copy.list[2].deep = false;
    copy.by.get("k").push(2);
    return {
      separate: original.list[2].deep && original.by.get("k").length === 1,
      date: copy.when instanceof Date && copy.when.getTime() === 0,
      pattern: copy.pattern instanceof RegExp && copy.pattern.flags === "gi",
      set: copy.tags instanceof Set && copy.tags.has("x"),
      hole: !(1 in copy.list) && copy.list.length === 3,
      error: copy.fault instanceof RangeError && copy.fault.message === "too far",
      cycle: copy.self === copy && copy !== original,
      region: copy.region,
    };
    """
    assert run_script(script, STATE) == {
        "separate": True,
        "date": True,
        "pattern": True,
        "set": True,
        "hole": True,
        "error": True,
        "cycle": True,
        "region": "eu",
    }


def test_structured_clone_refuses_what_the_web_refuses():
    script = """
    const caught = (f) => { try { f(); return null; } catch (e) { return [e.name, e.code ?? null, e.message]; } };
    return {
      fn: caught(() => structuredClone({run: () => 1})),
      symbol: caught(() => structuredClone(Symbol("s"))),
      promise: caught(() => structuredClone(Promise.resolve(1))),
      none: caught(() => structuredClone()),
    };
    """
    assert run_script(script, STATE) == {
        "fn": ["DataCloneError", 25, "structuredClone: a function could not be cloned"],
        "symbol": [
            "DataCloneError",
            25,
            "structuredClone: a symbol could not be cloned",
        ],
        "promise": [
            "DataCloneError",
            25,
            "structuredClone: a Promise could not be cloned",
        ],
        "none": [
            "TypeError",
            None,
            "structuredClone: 1 argument required, but none given",
        ],
    }


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (
            "return btoa('caf\\u00e9 \\u2603');",
            "btoa: the text has characters beyond Latin-1",
        ),
        ("return atob('not base64!');", "atob: the text is not valid base64"),
        ("return atob('abcde');", "atob: the text is not valid base64"),
    ],
)
def test_btoa_and_atob_fail_saying_what_they_could_not_take(script, message):
    with pytest.raises(JsError, match=message):
        run_script(script, STATE)


def test_btoa_and_atob_throw_what_the_web_throws():
    script = """
    const caught = (f) => { try { f(); } catch (e) { return [e.name, e.code ?? null]; } };
    return {
      latin1: caught(() => btoa("\\u20ac")),
      base64: caught(() => atob("ab*c")),
      none: caught(() => btoa()),
    };
    """
    assert run_script(script, STATE) == {
        "latin1": ["InvalidCharacterError", 5],
        "base64": ["InvalidCharacterError", 5],
        "none": ["TypeError", None],
    }
