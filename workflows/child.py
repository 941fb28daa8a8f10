"""A helper process that runs untrusted programs (JQ, JavaScript) one at a time.

Some failures of a program can't be caught where it runs: jq aborts its
process when an allocation fails, V8 aborts on tables past its own size limits,
and jq's C loop never returns to Python to be stopped. So programs run in a
child of the worker (or web) process, which asks over a pipe (one JSON line
each way) and kills and replaces the child when it runs too long, and notices
when it died. The child starts when first needed and lives as long as its
parent; it exits by itself when the parent goes (its stdin closes).
"""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]


class ChildTimedOut(Exception):
    """No answer within the time given; the child was killed."""


class ChildDied(Exception):
    """The child ended without answering; `returncode` says how (-6: SIGABRT)."""

    def __init__(self, returncode: int | None):
        super().__init__(f"exit status {returncode}")
        self.returncode = returncode


class Child:
    def __init__(self, module: str, *args: str) -> None:
        self.command = [sys.executable, "-m", module, *args]
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None

    def ask(self, request, timeout: float):
        """Send `request` (JSON-able) and return the child's answer (parsed)."""
        with self._lock:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                proc = self._proc = subprocess.Popen(
                    self.command,
                    cwd=_ROOT,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                    text=True,
                    # Programs must not see the portal's settings (DATABASE_URL,
                    # SECRET_KEY…); jq's `env` and `$ENV` read the environment.
                    env={},
                )
            try:
                proc.stdin.write(json.dumps(request) + "\n")
                proc.stdin.flush()
                line = self._answer(proc, timeout)
            except BrokenPipeError:  # it died since the last program
                self.stop()
                raise ChildDied(proc.returncode) from None
            except (ChildTimedOut, ChildDied):
                self.stop()
                raise
        return json.loads(line)

    def stop(self) -> None:
        """End the process (a new one starts with the next request)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    @staticmethod
    def _answer(proc: subprocess.Popen, timeout: float) -> str:
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            deadline = time.monotonic() + timeout
            while not selector.select(max(0.0, deadline - time.monotonic())):
                if time.monotonic() >= deadline:
                    proc.kill()
                    raise ChildTimedOut
        line = proc.stdout.readline()
        if not line:
            raise ChildDied(proc.wait())
        return line
