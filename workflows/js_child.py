"""The process that runs JavaScript (see workflows/js.py's run_script).

It reads one request per line on stdin, `[script, state JSON text, timeout
ms, memory MB]`, and answers one line on stdout: the JSON string that
js.evaluate returns. It imports nothing of Django. When V8 meets an error it
cannot recover from, it ends this process, and the parent starts another.
"""

import json
import sys

from workflows.js import evaluate


def main() -> None:
    for line in sys.stdin:
        sys.stdout.write(json.dumps(evaluate(*json.loads(line))) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
