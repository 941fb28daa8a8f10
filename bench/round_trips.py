"""Database round trips per run of bench/engine.py's workflow, counted, not timed.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cairn_bench_engine \
    .venv/bin/python bench/round_trips.py [--runs 100]

Timings on a shared machine swing by a fifth from one minute to the next;
round trips don't, and each costs a network's latency once PostgreSQL is on
another host. The script runs itself again under strace (Debian's `strace`
package) and counts the reads of the PostgreSQL socket that return data while
this process advances N runs in-process: one per round trip (a long answer may
take two). It prints them per run, for advancing and for starting a run.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine import bench_workflow  # noqa: E402


def measure(runs: int, marks: Path) -> None:
    """Start and advance `runs` runs, touching files in `marks` between phases."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        CAIRN_VAR_DIR=os.environ.get("CAIRN_VAR_DIR", "/tmp/cairn-bench-round-trips"),
        HTTPS="false",
        MAX_CONCURRENT_RUNS="100000",
        HTTP_BLOCK_ALLOWED_HOSTS="127.0.0.1",
        EMAIL_URL="dummymail://",
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from workflows import engine

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    server, workflow, user = bench_workflow()
    engine._enqueue = lambda run_id: None  # noqa: SLF001 - this process plays the worker
    for _ in range(3):  # warm up: imports, V8, prepared statements
        engine.advance(engine.start(workflow=workflow, initiator=user).pk)
    print(json.dumps({"fd": connection.connection.pgconn.socket}), flush=True)
    (marks / "start").touch()
    started = [engine.start(workflow=workflow, initiator=user) for _ in range(runs)]
    (marks / "advance").touch()
    for run in started:
        engine.advance(run.pk)
    (marks / "end").touch()
    server.terminate()


def count(trace: str, fd: int, marks: Path) -> dict[str, int]:
    """Data-returning reads of `fd` between the marks, per phase."""
    phases, phase = {"start": 0, "advance": 0}, None
    read = re.compile(rf"recvfrom\({fd},.*= [1-9]")
    for line in trace.splitlines():
        for name in ("start", "advance", "end"):
            if str(marks / name) in line:
                phase = None if name == "end" else name
        if phase and read.search(line):
            phases[phase] += 1
    return phases


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--marks", help=argparse.SUPPRESS)  # set when traced
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit(
            "Set DATABASE_URL to a PostgreSQL database: SQLite has no round trips."
        )
    if args.marks:
        return measure(args.runs, Path(args.marks))
    if not shutil.which("strace"):
        sys.exit("strace is not installed (apt-get install strace)")
    with tempfile.TemporaryDirectory() as marks:
        marks = Path(marks)
        trace = marks / "trace"
        out = subprocess.run(
            ["strace", "-f", "-e", "trace=recvfrom,openat", "-o", str(trace)]
            + [sys.executable, __file__, "--runs", str(args.runs), "--marks", marks],
            capture_output=True,
            text=True,
            check=True,
        )
        fd = json.loads(out.stdout.splitlines()[-1])["fd"]
        phases = count(trace.read_text(), fd, marks)
    print(f"PostgreSQL round trips, {args.runs} runs of the 6-block bench workflow:")
    print(f"  advancing a run: {phases['advance'] / args.runs:.1f}")
    print(f"  starting a run:  {phases['start'] / args.runs:.1f}")


if __name__ == "__main__":
    main()
