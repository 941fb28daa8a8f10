"""Kill workers at random moments and check that no run is lost and no completed step repeats.

    .venv/bin/python bench/chaos.py [--runs 80] [--seed 1] [--cancel] [--pauses]
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

With --pauses the workflow pauses instead: a form with a secret field, a
block that uses the secret, an approval that needs two approvers, and an
asynchronous call whose callee calls back (at once or later, sometimes with
an UPDATE first). A thread of this process fills in the forms and two more
approve, as people would, while the workers die. It then also checks that
every approval completed with both decisions and that the secret's value is
in no table (scanned at each kill and at the end) and no worker's log.
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

CALLS = ("/first", "/slow", "/last", "/async")
SECRET = "chaos-Tiger-8812"
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

PAUSES = """
tag: pauses
name: Pauses
filter: {type: GLOBAL}
restrictActionCompletionToRunnerUser: true
actions:
  - slug: form
    name: Form
    isRootAction: true
    outgoingActions: [js]
    schema:
      type: USER_INPUT
      inputOverrides: []
      inputs: [{key: token, name: Token, type: SECRET_FIELD, required: true, validationRegex: "^[A-Za-z0-9-]{8,}$"}]
  - {slug: js, name: JS, isRootAction: false, outgoingActions: [slow], schema: {type: JAVASCRIPT, script: 'return {seen: actions.form.outputs.token, n: actions.form.outputs.token.length};'}}
  - {slug: slow, name: Slow, isRootAction: false, outgoingActions: [approve], schema: {type: HTTP_REQUEST, httpMethod: POST, url: "URL/slow", headers: {Content-Type: application/json, Authorization: "Bearer {{{actions.form.outputs.token}}}"}, payload: '{"run": "{{context.workflowRunId}}", "token": "{{{actions.js.outputs.seen}}}"}'}}
  - {slug: approve, name: Approve, isRootAction: false, outgoingActions: [async], schema: {type: MANUAL_APPROVAL, approvingTeamIds: [approvers], requiredApprovals: 2}}
  - {slug: async, name: Async, isRootAction: false, outgoingActions: [last], schema: {type: HTTP_REQUEST_ASYNC, httpMethod: POST, url: "URL/async", headers: {Content-Type: application/json}, payload: '{"run": "{{context.workflowRunId}}", "callback": "{{{callbackUrl}}}"}', timeoutInSeconds: 600}}
  - {slug: last, name: Last, isRootAction: false, outgoingActions: [], schema: {type: HTTP_REQUEST, httpMethod: POST, url: "URL/last", headers: {Content-Type: application/json}, payload: '{"run": "{{context.workflowRunId}}", "n": {{actions.js.outputs.n}}}'}}
"""

unexpected: list[str] = []  # errors of the people and callees playing along


def call_back(callback_url: str) -> None:
    """As the callee of the async block: report back, as the callback endpoint would."""
    from django.db import connection

    from workflows import engine
    from workflows.models import Step

    try:
        time.sleep(random.choice([0, 0, random.uniform(0.05, 1.5)]))  # 0: early
        step = Step.objects.select_related("run").get(
            callback_id=callback_url.rsplit("/", 1)[1]
        )
        payloads = [{"status": "SUCCESS", "message": "done", "response": {"ok": 1}}]
        if random.random() < 0.5:
            payloads.insert(0, {"status": "UPDATE", "message": "half way"})
        for payload in payloads:
            engine.callback(step, payload)
    except engine.NotWaiting:
        pass  # a retried call's second callback, or the run was cancelled
    except Exception as exc:  # noqa: BLE001 - reported as a problem
        unexpected.append(f"callback: {exc!r}")
    finally:
        connection.close()


hits: collections.Counter = collections.Counter()  # (run uid, path) -> requests
hits_lock = threading.Lock()


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with hits_lock:
            hits[(body["run"], self.path)] += 1
        if self.path == "/slow":
            time.sleep(random.uniform(0.05, 0.4))  # a kill often lands here
        if self.path == "/async":
            threading.Thread(target=call_back, args=(body["callback"],)).start()
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
    parser.add_argument("--pauses", action="store_true")
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

    from catalog.models import Team
    from portal.dbscan import places_holding
    from portal.models import Membership, User, Workspace
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
    approvers = [User.objects.create_user(f"{n}@example.com", "x") for n in "ab"]
    team = Team.objects.create(workspace=ws, tag="approvers", name="Approvers")
    for person in [user, *approvers]:
        Membership.objects.create(workspace=ws, user=person).roles.set(
            ws.roles.filter(name="User")
        )
    team.members.set(approvers)
    text = PAUSES if args.pauses else WORKFLOW
    workflow, _ = workflow_upsert(
        workspace=ws,
        descriptor=descriptor.validate(descriptor.parse(text.replace("URL", url))),
    )
    stop = threading.Event()
    if args.pauses:
        threading.Thread(target=fill_in_forms, args=(user, stop)).start()
        for person in approvers:
            threading.Thread(target=approve, args=(person, stop)).start()

    for _ in range(args.runs):
        engine.start(workflow=workflow, initiator=user)
    queue = os.environ["CELERY_TASK_DEFAULT_QUEUE"]
    logs = var / "workers.log"
    kills, cancelled, began, leaks = 0, set(), time.monotonic(), 0
    open_runs = Run.objects.exclude(status__in=["COMPLETED", "FAILED", "CANCELLED"])
    while open_runs.exists() and time.monotonic() - began < 600:
        worker = celery_worker(queue, f"{queue}-{kills}", os.environ.copy(), log=logs)
        time.sleep(random.uniform(2.5, 4.5))  # about 2 s to start, then work
        if args.cancel and random.random() < 0.7:
            # Half the time a run a worker holds now (in a block, or between
            # two): picked at random from all, most would be queued ones.
            candidates = open_runs.exclude(status="CANCELLING")
            held = candidates.filter(status="IN_PROGRESS", lease__isnull=False)
            if random.random() < 0.5 and held.exists():
                candidates = held
            victim = candidates.order_by("?").first()
            try:
                if victim is not None:
                    engine.cancel(victim, by=None)
                    cancelled.add(victim.pk)
            except engine.IllegalTransition:
                pass  # it ended meanwhile
        worker.kill()
        worker.wait()
        kills += 1
        time.sleep(1.2)  # its heartbeat goes stale
        engine.sweep()
        leaks += bool(places_holding(SECRET))
    stop.set()
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
        if args.pauses and run.status == "COMPLETED":
            decisions = steps["approve"].decisions.count()
            if decisions != 2:
                problems += 1
                print(f"run {run.pk}: approved with {decisions} decisions, not 2")
    if args.pauses:
        leaks += bool(places_holding(SECRET))
        in_logs = SECRET in logs.read_text(errors="replace")
        problems += leaks + in_logs + len(unexpected)
        print(
            f"secret found in tables at {leaks} checks, in the workers' log: {in_logs}"
        )
        for error in unexpected:
            print("unexpected:", error)
    statuses = collections.Counter(Run.objects.values_list("status", flat=True))
    print(
        f"{args.runs} runs, {kills} workers killed, {len(cancelled)} cancels; "
        f"{dict(statuses)}; {Step.objects.filter(attempt__gt=1).count()} steps retried "
        f"after a kill; problems {problems}"
    )


def fill_in_forms(user, stop: threading.Event) -> None:
    """The runs' initiator, filling in each form that waits for them."""
    play_along(
        stop,
        "USER_INPUT",
        lambda engine, run, step: engine.submit_input(
            run, step, values={"token": SECRET}, by=user
        ),
    )


def approve(person, stop: threading.Event) -> None:
    """One of the two approvers, approving each step that waits for them."""
    play_along(
        stop,
        "MANUAL_APPROVAL",
        lambda engine, run, step: engine.decide(run, step, by=person, approve=True),
    )


def play_along(stop: threading.Event, waiting_for: str, answer) -> None:
    """Answer, every moment or so, each step that waits for `waiting_for`."""
    from django.db import connection

    from workflows import engine
    from workflows.models import Step

    waiting = Step.objects.filter(
        status="WAITING", waiting_for=waiting_for, run__status="PAUSED"
    ).select_related("run", "run__version", "run__workspace", "run__workflow")
    while not stop.wait(random.uniform(0.02, 0.2)):
        for step in waiting.all():  # afresh each time
            try:
                answer(engine, step.run, step)
            except engine.EngineError:
                pass  # answered already, or no longer waiting (cancelled)
            except Exception as exc:  # noqa: BLE001 - reported as a problem
                unexpected.append(f"{waiting_for}: {exc!r}")
    connection.close()


if __name__ == "__main__":
    main()
