"""Kill workers at random moments and check that no run is lost and no completed step repeats.

    .venv/bin/python bench/chaos.py [--runs 80] [--seed 1] [--cancel]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cairn_chaos \
    CELERY_BROKER_URL=redis://127.0.0.1:6379/10 .venv/bin/python bench/chaos.py

Not a benchmark: a soak, run by hand, for what the issue's checkers do. It
starts N runs of a workflow with three HTTP calls (one slow), JavaScript,
SET_VARIABLES and a branch, under a cap of 5; then, until every run has ended,
starts a worker, lets it work for a random moment, SIGKILLs it, and sweeps as
beat would. With --cancel it also cancels a random queued or running run now
and then. Then it checks every run: COMPLETED (or CANCELLED when cancelled),
no step left open, and each HTTP call received at most once per attempt the
step records (a call in flight when its worker died is retried, marked).
It prints what it did and `problems 0` when all holds.
"""

import argparse
import collections
import json
import os
import random
import shutil
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.proc import celery_worker  # noqa: E402

CALLS = ("/first", "/slow", "/last")
WORKFLOW = """
tag: chaos
name: Chaos
filter: {type: GLOBAL}
variables: [{slug: n, type: NUMBER, defaultValue: 0}]
actions:
  - {slug: parse, name: Parse, isRootAction: true, outgoingActions: [first], schema: {type: JQ, expression: '{a: 1}'}}
  - {slug: first, name: First, isRootAction: false, outgoingActions: [js], schema: {type: HTTP_REQUEST, httpMethod: POST, url: "URL/first", headers: {Content-Type: application/json}, payload: '{"run": "{{context.workflowRunId}}"}'}}
  - {slug: js, name: JS, isRootAction: false, outgoingActions: [keep], schema: {type: JAVASCRIPT, script: 'return {n: actions.first.outputs.body.n * 2};'}}
  - {slug: keep, name: Keep, isRootAction: false, outgoingActions: [route], schema: {type: SET_VARIABLES, variables: [{slug: n, source: {type: REFERENCE, path: actions.js.outputs.n}}]}}
  - slug: route
    name: Route
    isRootAction: false
    outgoingActions: [slow, other]
    schema:
      type: CONDITIONAL_BRANCH
      branches: [{slug: big, name: Big, expression: 'variables.n > 10', outgoingAction: slow}]
      fallbackBranch: {slug: small, name: Small, outgoingAction: other}
      joiningAction: last
  - {slug: slow, name: Slow, isRootAction: false, outgoingActions: [], schema: {type: HTTP_REQUEST, httpMethod: POST, url: "URL/slow", headers: {Content-Type: application/json}, payload: '{"run": "{{context.workflowRunId}}"}'}}
  - {slug: other, name: Other, isRootAction: false, outgoingActions: [], schema: {type: JQ, expression: '1'}}
  - {slug: last, name: Last, isRootAction: false, outgoingActions: [], schema: {type: HTTP_REQUEST, httpMethod: POST, url: "URL/last", headers: {Content-Type: application/json}, payload: '{"run": "{{context.workflowRunId}}"}'}}
"""

hits: collections.Counter = collections.Counter()  # (run uid, path) -> requests
hits_lock = threading.Lock()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with hits_lock:
            hits[(body["run"], self.path)] += 1
        if self.path == "/slow":
            time.sleep(random.uniform(0.05, 0.4))  # a kill often lands here
        answer = json.dumps({"ok": True, "n": 7}).encode()
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except OSError:
            pass  # the worker that asked was killed

    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=80)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cancel", action="store_true")
    args = parser.parse_args()
    random.seed(args.seed)

    var = Path(os.environ.setdefault("CAIRN_VAR_DIR", "/tmp/cairn-chaos"))
    shutil.rmtree(var, ignore_errors=True)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        HTTPS="false",
        MAX_CONCURRENT_RUNS="5",
        HTTP_BLOCK_ALLOWED_HOSTS="127.0.0.1",
        EMAIL_URL="dummymail://",
        RUN_STALE_SECONDS="1",  # a dead worker's runs are swept after a second
        RUN_HEARTBEAT_SECONDS="0.3",
        CELERY_TASK_DEFAULT_QUEUE=f"chaos-{args.seed}",
    )
    import django

    django.setup()
    from django.core.management import call_command

    from portal.models import User, Workspace
    from workflows import descriptor, engine
    from workflows.models import Run, Step
    from workflows.services import workflow_upsert

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    ws = Workspace.objects.create(slug="chaos", name="Chaos")
    ws.ensure_builtin_roles()
    user = User.objects.create_user("chaos@example.com", "x")
    workflow, _ = workflow_upsert(
        workspace=ws,
        descriptor=descriptor.validate(descriptor.parse(WORKFLOW.replace("URL", url))),
    )

    for _ in range(args.runs):
        engine.start(workflow=workflow, initiator=user)
    queue = os.environ["CELERY_TASK_DEFAULT_QUEUE"]
    kills, cancelled, began = 0, set(), time.monotonic()
    open_runs = Run.objects.exclude(status__in=["COMPLETED", "FAILED", "CANCELLED"])
    while open_runs.exists() and time.monotonic() - began < 600:
        worker = celery_worker(queue, f"{queue}-{kills}", os.environ.copy())
        time.sleep(random.uniform(2.5, 4.5))  # about 2 s to start, then work
        if args.cancel and random.random() < 0.7:
            victim = open_runs.exclude(status="CANCELLING").order_by("?").first()
            if victim is not None:
                engine.cancel(victim, by=None)
                cancelled.add(victim.pk)
        worker.kill()
        worker.wait()
        kills += 1
        time.sleep(1.2)  # its heartbeat goes stale
        engine.sweep()
    server.shutdown()

    problems = 0
    for run in Run.objects.prefetch_related("steps"):
        steps = {s.slug: s for s in run.steps.all()}
        expected = "CANCELLED" if run.pk in cancelled else "COMPLETED"
        if run.status != expected:
            problems += 1
            print(f"run {run.pk}: {run.status}, expected {expected} {run.error}")
        still_open = {
            s.slug: s.status
            for s in steps.values()
            if s.status in ("RUNNING", "WAITING", "PENDING")
        }
        if still_open:
            problems += 1
            print(f"run {run.pk}: steps left open {still_open}")
        for path in CALLS:
            step = steps.get(path.strip("/"))
            received = hits[(str(run.uid), path)]
            allowed = step.attempt if step else 0
            if received > allowed or (
                step and step.status == "COMPLETED" and not received
            ):
                problems += 1
                print(
                    f"run {run.pk}: {path} received {received}, step {step and (step.status, step.attempt)}"
                )
    statuses = collections.Counter(Run.objects.values_list("status", flat=True))
    print(
        f"{args.runs} runs, {kills} workers killed, {len(cancelled)} cancels; "
        f"{dict(statuses)}; {Step.objects.filter(attempt__gt=1).count()} steps retried "
        f"after a kill; problems {problems}"
    )


if __name__ == "__main__":
    main()
