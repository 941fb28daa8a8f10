"""The process that runs JQ blocks' programs, so that one which never ends or
fills memory can be stopped (see blocks/jq_block.py).

It reads one request per line on stdin, `[expression, input JSON text, max
outputs, ]`, and answers one line on stdout: `["ok", [outputs…]]` or
`["error", message]`. It imports nothing of Django, so it starts in ~0.1 s.

Arguments: the address-space limit in bytes, and the seconds after which a
program that is still running ends this process (SIGALRM's default action:
jq's C loop never gives Python a chance to run a handler). The worker stops a
program sooner; the alarm is for a worker that was killed meanwhile, whose
orphaned child would otherwise spin forever.
"""

import json
import resource
import signal
import sys
from functools import lru_cache
from itertools import islice

import jq

# The jq library ignores halting: `"bad" | halt_error` emitted nothing and the
# block succeeded. Here it fails the block with its input as the message, as
# jq's command line would print it. On the program's first line, so that
# `$__loc__` and the line numbers of jq's messages are the program's own
# (jq_block takes the prelude's length off the columns of line 1).
PRELUDE = (
    'def halt_error: error(if type == "string" then . else tojson end);'
    " def halt_error($code): halt_error; "
)


@lru_cache(maxsize=512)
def _compile(expression: str):
    return jq.compile(PRELUDE + expression)


def main() -> None:
    memory = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    alarm = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    if memory:  # jq aborts the process when an allocation fails past this
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    for line in sys.stdin:
        expression, text, limit = json.loads(line)
        signal.alarm(alarm)
        try:
            outputs = list(islice(_compile(expression).input_text(text), limit))
            answer = ["ok", outputs]
        except ValueError as exc:  # compile errors, error("msg"), runtime errors
            message = str(exc)
            if message == "break":  # what the jq library says for `input` past the end
                message = "No more inputs: a JQ block reads one input, the run state"
            answer = ["error", message]
        except RecursionError:  # Python's JSON code recurses over jq's result
            answer = ["error", "the result is nested too deeply"]
        signal.alarm(0)
        try:
            reply = json.dumps(answer)
        except RecursionError:
            reply = json.dumps(["error", "the result is nested too deeply"])
        sys.stdout.write(reply + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
