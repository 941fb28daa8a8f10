"""Run Cortex JavaScript (JAVASCRIPT blocks, SET_VARIABLES sources) in a V8 sandbox.

Scripts run in a child process (workflows/js_child.py, through
workflows/child.py), because V8 ends its process on some allocations rather
than throwing (`new Array(1e9).fill(0)`, run twice, hits "invalid table size"):
the step fails saying so, and the worker lives on with a new child.
In the child, every call gets a fresh mini-racer context (its own V8
isolate), so nothing a script does survives into the next run. Making and
freeing one costs 2 to 6 ms of CPU (by machine), so a thread of its own makes
the next one ahead of need (and frees used ones): the script only waits for its
own evaluation. The script is the body of an async function: it sees
`context`, `actions`, `variables` and `state` as globals and
`return`s its result, which comes back through JSON (`undefined` -> None).

Limits: a wall-clock timeout and a V8 heap limit (checked when V8 collects
garbage, so one huge allocation can briefly take the process past it; a result
is refused if the limit was reached at any point). No I/O: V8 has no `require`,
`fetch` or `XMLHttpRequest`; mini-racer's own `setTimeout`/`clearTimeout` are
removed, and so are ArrayBuffer, typed arrays, SharedArrayBuffer, Atomics and
WebAssembly, whose memory lives outside the V8 heap and so escapes its limit.

Kept between calls: the asyncio loop (one daemon thread per process) that
mini-racer uses to deliver results, and the isolate made ahead, which has run
the prelude only; neither holds anything of a script.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import threading
import time
from contextlib import contextmanager
from typing import Any

from py_mini_racer import JSOOMException, JSTimeoutException, mini_racer
from py_mini_racer._exc import MiniRacerBaseException

from workflows.child import Child, ChildDied, ChildTimedOut

# Globals removed before the script runs. `var` globals can't be deleted, so
# they are set to undefined instead (typeof still says "undefined").
_PRELUDE = r"""
setTimeout = undefined;
clearTimeout = undefined;
__timer_manager = undefined;
__TimerManager = undefined;
for (const name of [
  "ArrayBuffer", "SharedArrayBuffer", "DataView", "Atomics", "WebAssembly",
  "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
  "Int32Array", "Uint32Array", "Float16Array", "Float32Array", "Float64Array",
  "BigInt64Array", "BigUint64Array",
]) {
  delete globalThis[name];
}
// The web's base64 functions, which V8 alone lacks (HTTP Basic auth, tokens):
// Latin-1 text in and out, as in browsers and Node.
var btoa, atob;
(() => {
  const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const code = (text, i) => (i < text.length ? text.charCodeAt(i) : 0);
  // What the web throws (a DOMException there, which V8 has not):
  const invalid = (message) => {
    const error = new Error(message);
    error.name = "InvalidCharacterError";
    error.code = 5;
    return error;
  };
  const argument = (name, args) => {
    if (args.length === 0) throw new TypeError(`${name}: 1 argument required, but none given`);
    return String(args[0]);
  };
  btoa = function btoa(data) {
    const text = argument("btoa", arguments);
    if (/[^\u0000-\u00ff]/.test(text)) {
      throw invalid("btoa: the text has characters beyond Latin-1; encode it first (unescape(encodeURIComponent(text)))");
    }
    let out = "";
    for (let i = 0; i < text.length; i += 3) {
      const n = (code(text, i) << 16) | (code(text, i + 1) << 8) | code(text, i + 2);
      out += digits[(n >> 18) & 63] + digits[(n >> 12) & 63];
      out += i + 1 < text.length ? digits[(n >> 6) & 63] : "=";
      out += i + 2 < text.length ? digits[n & 63] : "=";
    }
    return out;
  };
  atob = function atob(data) {
    let text = argument("atob", arguments).replace(/[\t\n\f\r ]/g, "");
    if (text.length % 4 === 0) text = text.replace(/={1,2}$/, "");
    if (text.length % 4 === 1 || /[^A-Za-z0-9+/]/.test(text)) {
      throw invalid("atob: the text is not valid base64");
    }
    let out = "", bits = 0, value = 0;
    for (const ch of text) {
      value = (value << 6) | digits.indexOf(ch);
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out += String.fromCharCode((value >> bits) & 255);
        value &= (1 << bits) - 1;
      }
    }
    return out;
  };
})();
// The web's structuredClone, which V8 alone lacks: a deep copy that keeps
// Dates, RegExps, Maps, Sets, errors and cycles, and throws a DataCloneError
// (code 25) for what can't be copied (functions, symbols, promises…).
var structuredClone;
(() => {
  const failed = (what) => {
    const error = new Error(`structuredClone: ${what} could not be cloned`);
    error.name = "DataCloneError";
    error.code = 25;
    return error;
  };
  const errors = { Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError };
  const tag = (value) => Object.prototype.toString.call(value).slice(8, -1);
  const clone = (value, seen) => {
    if (typeof value === "symbol") throw failed("a symbol");
    if (typeof value === "function") throw failed("a function");
    if (value === null || typeof value !== "object") return value;
    if (seen.has(value)) return seen.get(value);
    let copy;
    switch (tag(value)) {
      case "Boolean": case "Number": case "String": case "BigInt":
        copy = Object(value.valueOf());
        seen.set(value, copy);
        return copy;
      case "Date":
        copy = new Date(value.getTime());
        seen.set(value, copy);
        return copy;
      case "RegExp":
        copy = new RegExp(value.source, value.flags);
        seen.set(value, copy);
        return copy;
      case "Map":
        copy = new Map();
        seen.set(value, copy);
        for (const [k, v] of value) copy.set(clone(k, seen), clone(v, seen));
        return copy;
      case "Set":
        copy = new Set();
        seen.set(value, copy);
        for (const v of value) copy.add(clone(v, seen));
        return copy;
      case "Error":
        copy = new (Object.hasOwn(errors, value.name) ? errors[value.name] : Error)();
        if (Object.hasOwn(errors, value.name)) copy.name = value.name;
        if (Object.hasOwn(value, "message")) copy.message = String(value.message);
        seen.set(value, copy);
        return copy;
      case "Array":
        copy = new Array(value.length);
        break;
      case "Object": case "Arguments":
        copy = {};
        break;
      default:
        throw failed(`a ${tag(value)}`);
    }
    seen.set(value, copy);
    for (const key of Object.keys(value)) copy[key] = clone(value[key], seen);
    return copy;
  };
  structuredClone = function structuredClone(value) {
    if (arguments.length === 0) {
      throw new TypeError("structuredClone: 1 argument required, but none given");
    }
    return clone(value, new Map());
  };
})();
var __cairn = (() => {
  const stringify = JSON.stringify;
  const describe = (e) => {
    try {
      let text;
      if (e instanceof Error && e.name === "Error") {
        text = String(e.message);  // throw new Error("…"): the author's own message
      } else if (e instanceof Error) {
        text = `${e.name}: ${String(e.message).split("\n")[0]}`;
        const at = [...String(e.stack || "").matchAll(/cairn-script:(\d+):\d+/g)]
          .map((m) => Number(m[1])).find((line) => line > 0);
        if (at) text += ` (line ${at})`;  // the script's, not the prelude's
      } else if (e !== null && typeof e === "object" && typeof e.message === "string") {
        text = e.message;
      } else if (typeof e === "string") {
        text = e;
      } else if (e === null || e === undefined) {
        text = `the script threw ${e}`;
      } else if (typeof e === "function") {
        text = "the script threw a function";
      } else if (typeof e === "object") {
        try { text = stringify(e); } catch (_) { text = "the script threw an object JSON can't show"; }
      } else {
        text = String(e);  // numbers, booleans, symbols, bigints
      }
      return "E" + (text.trim() ? text : "the script threw an error with no message");
    } catch (_) {  // a getter that throws, a toString that throws…
      return "Ethe script threw a value that can't be described";
    }
  };
  const dump = (value) => {
    try {
      const text = stringify(value);
      return text === undefined ? "U" : "V" + text;
    } catch (e) {
      return describe(e);
    }
  };
  let settled = null;
  return {
    start(main) {
      try {
        main().then((v) => { settled = dump(v); }, (e) => { settled = describe(e); });
      } catch (e) {
        settled = describe(e);
      }
    },
    result() {
      return settled === null
        ? "Ethe script's promise never settled (there are no timers or I/O to wait for)"
        : settled;
    },
  };
})();
"""

_PRELUDE += "//# sourceURL=cairn-prelude"

_IO_NAMES = (
    "require",
    "fetch",
    "XMLHttpRequest",
    "setTimeout",
    "setInterval",
    "clearTimeout",
    "process",
)
# "undefined" is how V8 names the source the AsyncFunction constructor compiles:
_PARSE_ERROR = re.compile(r"^(?:<anonymous>|cairn-script|undefined):(\d+): (.*)$")


class JsError(Exception):
    """A script failed: syntax error, thrown error, timeout or memory limit."""


class JsLimitError(JsError):
    """A script was stopped: its time or memory limit, or its process died."""


# A script's process may die (V8 aborts on some allocations instead of
# throwing), so scripts run in a child process (workflows/js_child.py), which
# is replaced when that happens: the step fails and the worker lives on.
_child = Child("workflows.js_child")
_GRACE_SECONDS = 5.0  # the child's start-up, on top of the script's own limit


def run_script(
    script: str, state: dict, *, timeout_ms: int = 2000, max_memory_mb: int = 64
) -> Any:
    """Run `script` as a function body over the run state and return its result."""
    if not isinstance(script, str) or not script.strip():
        raise JsError("the script is empty")
    state_json = json.dumps(state or {}, default=str)
    try:
        result = _child.ask(
            ["run", script, state_json, timeout_ms, max_memory_mb],
            timeout_ms / 1000 + _GRACE_SECONDS,
        )
    except ChildTimedOut:
        raise JsLimitError(f"script timed out after {timeout_ms} ms") from None
    except ChildDied as exc:
        if exc.returncode in (-signal.SIGTRAP, -signal.SIGABRT):  # V8's fatal errors
            raise JsLimitError(
                f"script ran out of memory (limit {max_memory_mb} MB, or an array"
                " or object larger than V8 allows)"
            ) from None
        raise JsLimitError(
            "the JavaScript process stopped unexpectedly; run the workflow again"
        ) from None
    if not isinstance(result, str) or not result:
        raise JsError("the script produced no result")
    tag, body = result[0], result[1:]
    if tag == "V":
        return json.loads(body)
    if tag == "U":
        return None
    if tag == "M":  # the next isolate made in that process crashed V8 (SIGTRAP)
        _child.stop()  # so a fresh process runs the next script
        raise JsLimitError(body)
    raise JsError(_explain(body))


def evaluate(script: str, state_json: str, timeout_ms: int, max_memory_mb: int) -> str:
    """Run the script here (in the child): its JSON result tagged "V", "U" for
    undefined, or "E" ("M" past the memory or time limit) and why it failed."""
    deadline = 0.0

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise JSTimeoutException
        return left

    try:
        with _isolate() as mr:
            # From here: waiting for the isolate (made while the last one is
            # freed) is not the script's time.
            deadline = time.monotonic() + timeout_ms / 1000
            mr.set_hard_memory_limit(max_memory_mb * 1024 * 1024)
            try:
                # One eval for the state and the script (each eval is a round
                # trip to V8's thread); the script starts on line 1.
                mr.eval(
                    f"var state = JSON.parse({json.dumps(state_json)});"
                    "var context = state.context ?? {}, actions = state.actions ?? {},"
                    " variables = state.variables ?? {};"
                    f"var __cairn_main = async function () {{{script}\n}};"
                    "__cairn.start(__cairn_main);\n//# sourceURL=cairn-script",
                    timeout_sec=remaining(),
                )
                # Promise jobs run between the two evals.
                result = mr.eval("__cairn.result()", timeout_sec=remaining())
            except JSTimeoutException:
                if mr.was_hard_memory_limit_reached():
                    raise JSOOMException from None
                raise
            if mr.was_hard_memory_limit_reached():
                raise JSOOMException
    except JSTimeoutException:  # "M" too: it may leave a heap that takes long to free
        return f"Mscript timed out after {timeout_ms} ms"
    except JSOOMException:  # "M": V8 is not safe to use after this
        return f"Mscript ran out of memory (limit {max_memory_mb} MB)"
    except MiniRacerBaseException as exc:
        return "E" + _clean(str(exc), script.count("\n") + 1)
    return result if isinstance(result, str) else ""


def syntax_errors(scripts: list[str]) -> list[str | None]:
    """For each script, why it doesn't parse as the body run_script gives it
    (an async function's), or None. In the child process too, so the web
    process never hosts V8; a script that can't be checked there is let be
    (it fails when it runs, saying why)."""
    if not scripts:
        return []
    try:
        return _child.ask(["syntax", scripts], 2 * len(scripts) + _GRACE_SECONDS)
    except (ChildTimedOut, ChildDied):
        return [None] * len(scripts)


def check_syntax(scripts: list[str]) -> list[str | None]:
    """syntax_errors, here (in the child). Nothing runs: the AsyncFunction
    constructor only compiles. All in one isolate."""
    found: list[str | None] = []
    with _isolate() as mr:
        for script in scripts:
            try:
                mr.eval(
                    "Object.getPrototypeOf(async function () {}).constructor("
                    f"{json.dumps(script)});",
                    timeout_sec=2,
                )
                found.append(None)
            except JSTimeoutException:
                found.append(None)  # a slow machine is no reason to refuse it
            except MiniRacerBaseException as exc:
                # The constructor puts two lines before the body:
                found.append(_clean(str(exc), script.count("\n") + 1, offset=2))
    return found


def _clean(message: str, script_lines: int, offset: int = 0) -> str:
    """V8's "cairn-script:3: SyntaxError: …" first line -> "SyntaxError: … (line 3)",
    the line counted from the script's first (V8's less `offset`)."""
    first = message.strip().splitlines()[0] if message.strip() else "JavaScript error"
    match = _PARSE_ERROR.match(first)
    if match:  # "Unexpected end of input" points past the script's last line
        line = int(match[1]) - offset
        error = match[2]
        if line > script_lines and error.startswith("SyntaxError: Unexpected token"):
            # The token is the wrapper's closing "})", which the author never
            # wrote: the script stops short, or closes the function early.
            error = "SyntaxError: unbalanced brackets, or an unfinished last statement"
        first = f"{error} (line {min(max(line, 1), script_lines)})"
    return _explain(first)


def _explain(message: str) -> str:
    no_io = "scripts have no I/O or timers (no require, fetch, XMLHttpRequest, setTimeout or import)"
    if message == "Not supported":  # V8's answer to import()
        return f"import() is not supported; {no_io}"
    for name in _IO_NAMES:
        if (
            f"{name} is not defined" in message
            or f"{name} is not a function" in message
        ):
            return f"{message}; {no_io}"
    return message


# mini-racer 0.14 crashes the process (SIGSEGV) when two threads make or use
# contexts at the same moment (seen with gunicorn threads): one at a time.
_one_at_a_time = threading.Lock()

_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0
_loop_lock = threading.Lock()


def _event_loop() -> asyncio.AbstractEventLoop:
    """The process's loop for mini-racer callbacks (recreated after a fork)."""
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="cairn-js-loop", daemon=True
            ).start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


class _Isolates:
    """Fresh isolates, made ahead on a thread of their own, one at a time.

    The thread makes an isolate and runs the prelude in it, hands it over, then
    waits for it back to free it and make the next; the caller runs one script
    in it. So making and freeing (2 to 6 ms together) happen while the caller
    does something else, such as waiting for the database.
    """

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.ready: queue.Queue = queue.Queue(maxsize=1)
        self.used: queue.Queue = queue.Queue()
        threading.Thread(
            target=self._work, name="cairn-js-isolates", daemon=True
        ).start()

    def _work(self) -> None:
        while True:
            try:
                with _one_at_a_time:
                    maker = mini_racer(event_loop=_event_loop())
                    mr = maker.__enter__()
                    mr.eval(_PRELUDE)
                self.ready.put((maker, mr))
            except Exception as exc:  # noqa: BLE001 - handed to the caller, who raises it
                self.ready.put((None, exc))
            maker = self.used.get()
            if maker is not None:
                with _one_at_a_time:
                    maker.__exit__(None, None, None)

    @contextmanager
    def take(self):
        maker, mr = self.ready.get()
        if maker is None:
            self.used.put(None)
            raise mr
        try:
            with _one_at_a_time:
                yield mr
        finally:
            self.used.put(maker)


_isolates: _Isolates | None = None


def _isolate():
    """A fresh isolate that has run the prelude, for one script (a context manager)."""
    global _isolates
    with _loop_lock:
        if _isolates is None or _isolates.pid != os.getpid():  # new after a fork
            _isolates = _Isolates()
    return _isolates.take()
