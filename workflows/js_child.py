"""The process that runs and checks JavaScript (see workflows/js.py).

It reads one request per line on stdin, `["run", script, state JSON text,
timeout ms, memory MB]` or `["syntax", [script, …]]`, and answers one line on
stdout: what js.evaluate or js.check_syntax returns. It imports nothing of
Django. When V8 meets an error it
cannot recover from, it ends this process, and the parent starts another.
"""

import json
import sys

from workflows.js import check_syntax, evaluate


def main() -> None:
    for line in sys.stdin:
        kind, *args = json.loads(line)
        answer = evaluate(*args) if kind == "run" else check_syntax(*args)
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
