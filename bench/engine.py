"""Engine throughput and overhead, against a plain Celery chain on the same broker.

    .venv/bin/python bench/engine.py [--runs 200] [--workers 1]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cairn_bench_engine \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/engine.py

Starts N runs of a 6-block workflow that needs no human (JQ, SET_VARIABLES, a
branch, JAVASCRIPT, HTTP_REQUEST to a local server, JQ) through real workers,
then N chains of 6 no-op Celery tasks, and prints runs/s vs chains/s, p50/p99
start→COMPLETED, and the engine's own overhead per block (measured in-process:
time in engine.advance minus time inside the blocks).
"""

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.proc import celery_worker, cpu_seconds, machine_cpu, postgres_cpu_seconds  # noqa: E402

WORKFLOW = """
tag: bench
name: Bench
filter: {type: GLOBAL}
variables: [{slug: size, type: NUMBER, defaultValue: 0}]
actions:
  - {slug: parse, name: Parse, isRootAction: true, outgoingActions: [remember], schema: {type: JQ, expression: '{size: 3, names: ["a", "b", "c"]}'}}
  - {slug: remember, name: Remember, isRootAction: false, outgoingActions: [route], schema: {type: SET_VARIABLES, variables: [{slug: size, source: {type: REFERENCE, path: actions.parse.outputs.result.size}}]}}
  - slug: route
    name: Route
    isRootAction: false
    outgoingActions: [shape]
    schema:
      type: CONDITIONAL_BRANCH
      branches: [{slug: big, name: Big, expression: 'variables.size > 2', outgoingAction: shape}]
      joiningAction: call
  - {slug: shape, name: Shape, isRootAction: false, outgoingActions: [], schema: {type: JAVASCRIPT, script: 'return {names: actions.parse.outputs.result.names.map(n => n.toUpperCase())};'}}
  - {slug: call, name: Call, isRootAction: false, outgoingActions: [finish], schema: {type: HTTP_REQUEST, httpMethod: POST, url: "URL/hook", headers: {Content-Type: application/json}, payload: '{"n": {{variables.size}}}'}}
  - {slug: finish, name: Finish, isRootAction: false, outgoingActions: [], schema: {type: JQ, expression: '.actions.call.outputs.status'}}
"""


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(ports):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    ports.put(server.server_address[1])
    server.serve_forever()


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def bench_workflow():
    """(the HTTP server's process, the bench workflow, its user) in a new
    workspace of a flushed database."""
    from portal.models import User, Workspace
    from workflows import descriptor
    from workflows.services import workflow_upsert

    # The HTTP server gets a process of its own: in this one it would wait for
    # the GIL behind the loop that starts the runs.
    ports = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(ports,), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{ports.get(timeout=10)}"
    ws = Workspace.objects.create(slug="bench", name="Bench")
    ws.ensure_builtin_roles()
    user = User.objects.create_user("bench@example.com", "x")
    workflow, _ = workflow_upsert(
        workspace=ws,
        descriptor=descriptor.validate(descriptor.parse(WORKFLOW.replace("URL", url))),
    )
    return server, workflow, user


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="prefork pool processes per worker (0: a solo pool)",
    )
    args = parser.parse_args()

    var = Path(os.environ.setdefault("CAIRN_VAR_DIR", "/tmp/cairn-bench-engine"))
    shutil.rmtree(var, ignore_errors=True)
    queue = f"bench-{uuid.uuid4().hex[:6]}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        HTTPS="false",
        MAX_CONCURRENT_RUNS="100000",
        HTTP_BLOCK_ALLOWED_HOSTS="127.0.0.1",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        EMAIL_URL="dummymail://",  # each finished run mails its initiator; not measured here
    )
    import django

    django.setup()
    from celery import chain
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from bench import tasks
    from workflows import blocks, engine
    from workflows.models import Run

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)  # PostgreSQL keeps its data
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_done")
        cursor.execute("CREATE TABLE bench_done (chain_id integer)")
    server, workflow, user = bench_workflow()

    print(
        f"database {connection.vendor}, broker {settings.CELERY_BROKER_URL.split(':')[0]}, {args.workers} worker(s)"
        + (f" of {args.concurrency} processes" if args.concurrency else " (solo pool)")
        + f", {args.runs} runs"
    )
    workers = [
        celery_worker(
            queue,
            f"{queue}-{i}",
            os.environ.copy(),
            include="bench.tasks",
            concurrency=args.concurrency,
        )
        for i in range(args.workers)
    ]
    try:
        time.sleep(4)  # workers start
        # Warm up V8, jq and connections in each worker:
        for _ in range(args.workers * 2):
            engine.start(workflow=workflow, initiator=user)
        while Run.objects.exclude(status="COMPLETED").exists():
            time.sleep(0.05)
        Run.objects.all().delete()

        def snapshot():
            own = os.times()
            return [
                sum(cpu_seconds(w.pid) for w in workers),
                own.user + own.system,
                postgres_cpu_seconds(),
                *machine_cpu(),
            ]

        before = snapshot()
        began = time.perf_counter()
        for _ in range(args.runs):
            engine.start(workflow=workflow, initiator=user)
        while True:
            left = Run.objects.exclude(status__in=["COMPLETED", "FAILED"]).count()
            if not left:
                break
            time.sleep(0.02)
        engine_seconds = time.perf_counter() - began
        engine_cpu = [b - a for a, b in zip(before, snapshot(), strict=True)]
        failed = Run.objects.filter(status="FAILED").first()
        if failed:
            print("a run failed:", failed.error)
        latencies = [
            (r.finished_at - r.created_at).total_seconds() * 1000
            for r in Run.objects.all()
        ]

        before = snapshot()
        began = time.perf_counter()
        for i in range(args.runs):
            chain(*[tasks.noop.si() for _ in range(5)], tasks.done.si(i)).delay()
        while True:
            with connection.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM bench_done")
                if cursor.fetchone()[0] >= args.runs:
                    break
            time.sleep(0.02)
        chain_seconds = time.perf_counter() - began
        chain_cpu = [b - a for a, b in zip(before, snapshot(), strict=True)]
    finally:
        for w in workers:
            w.kill()
            w.wait()

    # Engine overhead, in-process: time in advance() minus time inside blocks.
    inside = [0.0]
    for block_type in (
        "JQ",
        "SET_VARIABLES",
        "CONDITIONAL_BRANCH",
        "JAVASCRIPT",
        "HTTP_REQUEST",
    ):
        block = blocks.get_block(block_type)
        original = block.execute

        def timed(ctx, _original=original):
            t = time.perf_counter()
            try:
                return _original(ctx)
            finally:
                inside[0] += time.perf_counter() - t

        block.execute = timed
    engine._enqueue = lambda run_id: None  # noqa: SLF001 - this process plays the worker
    # Warm up as the workers did: the first run here imports the URLconf (for
    # the notification's link) and starts V8, ~0.3 s that is no run's overhead.
    for _ in range(3):
        engine.advance(engine.start(workflow=workflow, initiator=user).pk)
    inside[0] = 0.0
    samples = 100
    runs = [engine.start(workflow=workflow, initiator=user) for _ in range(samples)]
    per_run = []  # overhead of each run: its time in advance() minus its blocks'
    for run in runs:
        blocks_before, began = inside[0], time.perf_counter()
        engine.advance(run.pk)
        per_run.append(time.perf_counter() - began - (inside[0] - blocks_before))
    total = sum(per_run) + inside[0]
    assert (
        not Run.objects.filter(pk__in=[r.pk for r in runs])
        .exclude(status="COMPLETED")
        .exists()
    )
    executed = sum(
        Run.objects.get(pk=r.pk).steps.filter(status="COMPLETED").count() for r in runs
    )
    overhead_ms = (total - inside[0]) / executed * 1000

    print(
        f"engine: {args.runs / engine_seconds:7.1f} runs/s   ({args.runs * 6 / engine_seconds:.0f} blocks/s)"
    )
    print(
        f"chain:  {args.runs / chain_seconds:7.1f} chains/s ({args.runs * 6 / chain_seconds:.0f} tasks/s)"
    )
    print(f"ratio engine/chain: {chain_seconds / engine_seconds:.2f}")
    for label, cpu in (("engine", engine_cpu), ("chain", chain_cpu)):
        worker, own, postgres, busy, total = cpu
        print(
            f"CPU per {label} run: worker {worker / args.runs * 1000:.1f} ms, "
            f"this process (starts) {own / args.runs * 1000:.1f} ms, "
            + (
                f"PostgreSQL {postgres / args.runs * 1000:.1f} ms; "
                if connection.vendor == "postgresql"
                else ""
            )
            + f"machine {busy / max(total, 1):.0%} busy"
        )
    print(
        f"start→COMPLETED: p50 {statistics.median(latencies):.0f} ms, p99 {pct(latencies, 99):.0f} ms (all {args.runs} started at once)"
    )
    per_block = executed / samples
    print(
        f"engine overhead: {overhead_ms:.2f} ms per block ({executed} blocks in-process; blocks themselves took {inside[0] / executed * 1000:.2f} ms each);"
        f" per run's blocks: p50 {statistics.median(per_run) / per_block * 1000:.2f} ms, p90 {pct(per_run, 90) / per_block * 1000:.2f} ms"
    )
    server.terminate()


if __name__ == "__main__":
    main()
