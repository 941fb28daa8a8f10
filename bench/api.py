"""Run starts through the API (`POST /api/v1/workflows/{tag}/runs`) at fixed arrival rates.

    .venv/bin/python bench/api.py [--rates 25,50,100] [--duration 10]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cairn_bench_api \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/12 .venv/bin/python bench/api.py

Starts gunicorn on a free port with its own CAIRN_VAR_DIR (and the given
DATABASE_URL / CELERY_BROKER_URL; the PostgreSQL database is created if
missing, and emptied first if its name contains "bench"), plus one Celery
worker so runs really execute, then sends run starts open-loop: request i is
sent at t0 + i/rate whatever happened to the earlier ones (a scheduler hands
them to a pool of client threads), so a slow server shows up as latency, not
as a lower offered rate. Latency is measured from the
scheduled send time. Each request carries a fresh Idempotency-Key and goes
through authentication, the IP allowlist and the rate limiter (set high enough
not to refuse anything).

Prints, per rate: achieved rate, answers, p50/p95/p99/max latency, the CPU
gunicorn and the Celery worker spent per request, how busy the whole machine
was (PostgreSQL, Redis and anyone else's jobs included) and the load average.
On a shared machine, a machine CPU share or load well above what the rate
needs means someone else was busy too: run again.
"""

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.proc import celery_worker, cpu_seconds, machine_cpu  # noqa: E402

WORKFLOW = """
tag: bench-api
name: Bench API
isRunnableViaApi: true
filter: {type: GLOBAL}
variables: [{slug: n, type: NUMBER, defaultValue: 0}]
actions:
  - {slug: double, name: Double, isRootAction: true, outgoingActions: [], schema: {type: JQ, expression: '.variables.n * 2'}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def ensure_postgres_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup(env: dict, flush: bool = False) -> str:
    """Migrate (and empty the database if `flush`), then make a workspace, a
    member's personal token and the workflow."""
    for command in ["migrate", *(["flush"] if flush else [])]:
        subprocess.run(
            [sys.executable, "manage.py", command, "--noinput", "-v0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
    script = f"""
from portal.models import ApiKey, Membership, User, Workspace
from workflows import descriptor
from workflows.services import workflow_upsert
ws = Workspace.objects.create(slug="bench-{uuid.uuid4().hex[:8]}", name="Bench")
roles = ws.ensure_builtin_roles()
user, _ = User.objects.get_or_create(email="bench@example.com")
Membership.objects.create(workspace=ws, user=user).roles.set([roles["Admin"]])
raw, prefix, digest = ApiKey.generate()
ApiKey.objects.create(workspace=ws, name="bench", prefix=prefix, key_hash=digest, user=user)
workflow_upsert(workspace=ws, descriptor=descriptor.validate(descriptor.parse({WORKFLOW!r})))
print(raw)
"""
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


class Client:
    """HTTP from the client threads: a new connection per request (as scripts and
    CI jobs do; it also lets the kernel spread requests over gunicorn's worker
    processes), or one kept-alive connection per thread (`keep_alive`), which
    gunicorn pins to whichever worker accepted it."""

    def __init__(
        self, port: int, key: str, idempotency: bool, keep_alive: bool = False
    ):
        self.port, self.key = port, key
        self.idempotency, self.keep_alive = idempotency, keep_alive
        self.local = threading.local()

    def start_run(self, n: int) -> int:
        headers = {
            "Authorization": f"Bearer {self.key}",
            "Content-Type": "application/json",
        }
        if not self.keep_alive:
            headers["Connection"] = "close"
        if self.idempotency:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        body = json.dumps({"scope": {"type": "GLOBAL"}, "initialContext": {"n": n}})
        for _ in range(2):
            conn = getattr(self.local, "conn", None)
            reused = conn is not None
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.local.conn = conn
            try:
                conn.request("POST", "/api/v1/workflows/bench-api/runs", body, headers)
                response = conn.getresponse()
                response.read()
                if not self.keep_alive:
                    conn.close()
                    self.local.conn = None
                return response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                self.local.conn = None
                if not reused:  # a kept-alive connection the server closed: retry once
                    return 0
        return 0


def drive(client: Client, rate: float, duration: float, threads: int) -> dict:
    """Send rate*duration starts on schedule; returns latencies and answers."""
    total = int(rate * duration)
    latencies: list[float] = []
    answers: dict[int, int] = {}
    lock = threading.Lock()

    def one(i: int, scheduled: float) -> None:
        status = client.start_run(i)
        elapsed = (time.perf_counter() - scheduled) * 1000
        with lock:
            answers[status] = answers.get(status, 0) + 1
            if status == 201:
                latencies.append(elapsed)

    pool = ThreadPoolExecutor(max_workers=threads)
    t0 = time.perf_counter() + 0.1
    for i in range(total):
        scheduled = t0 + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        pool.submit(one, i, scheduled)
    pool.shutdown(wait=True)
    elapsed = time.perf_counter() - t0
    return {
        "latencies": latencies,
        "answers": answers,
        "achieved": sum(answers.values()) / elapsed,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates", default="25,50,100", help="starts per second, comma-separated"
    )
    parser.add_argument("--duration", type=float, default=10, help="seconds per rate")
    # bin/run's gunicorn by default (WEB_WORKERS processes, 2 per CPU + 1, of
    # WEB_THREADS threads, 1), so the bench measures what runs. On PostgreSQL,
    # threads sharing a process's GIL make the workspace's admission lock a
    # convoy: at 100 starts/s on 2 CPUs, 2x4 and 3x2 had a p99 two to five
    # times 5x1's or 6x1's.
    parser.add_argument(
        "--web-workers",
        type=int,
        default=int(os.environ.get("WEB_WORKERS") or 2 * (os.cpu_count() or 1) + 1),
        help="gunicorn worker processes (default: WEB_WORKERS, else 2 per CPU + 1)",
    )
    parser.add_argument(
        "--web-threads",
        type=int,
        default=int(os.environ.get("WEB_THREADS") or 1),
        help="threads per gunicorn worker (default: WEB_THREADS, else 1)",
    )
    parser.add_argument("--client-threads", type=int, default=64)
    parser.add_argument(
        "--no-worker", action="store_true", help="no Celery worker: runs stay queued"
    )
    parser.add_argument("--no-idempotency-key", action="store_true")
    parser.add_argument(
        "--keep-alive",
        action="store_true",
        help="reuse connections (gunicorn pins each one to a worker process)",
    )
    args = parser.parse_args()

    var = Path(os.environ.get("CAIRN_VAR_DIR") or "/tmp/cairn-bench-api")
    shutil.rmtree(var, ignore_errors=True)
    var.mkdir(parents=True)
    queue = f"bench-api-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "CAIRN_VAR_DIR": str(var),
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "HTTPS": "false",
        "DEBUG": "false",
        "API_RATE_LIMIT": "1000000",  # counted, never reached
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "EMAIL_URL": "dummymail://",
        "LOG_LEVEL": "WARNING",
    }
    database = env.get("DATABASE_URL", "")
    postgres = database.startswith(("postgres://", "postgresql://"))
    if postgres:
        ensure_postgres_database(database)
    # SQLite starts from a new file in CAIRN_VAR_DIR; PostgreSQL keeps its rows,
    # and tens of thousands of runs from earlier benches slow the next one down,
    # so a bench database (one whose name says so) is emptied first:
    key = setup(env, flush=postgres and "bench" in urlsplit(database).path)

    port = free_port()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "portal.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.web_workers),
                "--threads",
                str(args.web_threads),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
    ]
    if not args.no_worker:
        processes.append(celery_worker(queue, queue, env))
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("gunicorn did not start") from None
                time.sleep(0.2)
        client = Client(
            port,
            key,
            idempotency=not args.no_idempotency_key,
            keep_alive=args.keep_alive,
        )
        drive(
            client, rate=10, duration=2, threads=args.client_threads
        )  # warm up every worker

        db = "PostgreSQL" if database.startswith("postgres") else "SQLite"
        broker = env.get("CELERY_BROKER_URL", "sqla+sqlite").split(":")[0]
        print(
            f"{db}, broker {broker}, gunicorn {args.web_workers}x{args.web_threads}, "
            f"{'no' if args.no_worker else '1'} Celery worker, {os.cpu_count()} CPUs, "
            f"{args.duration:g} s per rate"
        )
        # web/worker CPU: per answered request, of gunicorn (master and workers)
        # and of the Celery worker. machine CPU: share of all CPUs busy during
        # the rate, whoever used them (this process, PostgreSQL, Redis, other
        # people's jobs); load: the 1-minute load average when the rate ended.
        print(
            f"{'target/s':>9} {'achieved/s':>11} {'201':>6} {'other':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'web CPU ms/req':>15} {'worker CPU':>11} {'machine CPU':>12} {'load':>5}"
        )
        for rate in (float(r) for r in args.rates.split(",")):
            cpu_before = [cpu_seconds(p.pid) for p in processes]
            busy_before, total_before = machine_cpu()
            result = drive(client, rate, args.duration, args.client_threads)
            busy, total = machine_cpu()
            answered = sum(result["answers"].values()) or 1
            cpu_ms = [
                (cpu_seconds(p.pid) - before) / answered * 1000
                for p, before in zip(processes, cpu_before, strict=True)
            ]
            worker_ms = f"{cpu_ms[1]:11.1f}" if len(cpu_ms) > 1 else f"{'-':>11}"
            machine = (busy - busy_before) / max(1, total - total_before) * 100
            load = os.getloadavg()[0]
            lat = result["latencies"] or [float("nan")]
            ok = result["answers"].get(201, 0)
            other = {k: v for k, v in result["answers"].items() if k != 201}
            print(
                f"{rate:9.0f} {result['achieved']:11.1f} {ok:6d} {sum(other.values()):6d} "
                f"{statistics.median(lat):8.1f} {pct(lat, 95):8.1f} {pct(lat, 99):8.1f} {max(lat):8.1f} {cpu_ms[0]:15.1f}"
                f" {worker_ms} {machine:11.0f}% {load:5.2f}"
                + (f"   other answers: {other}" if other else "")
            )
            time.sleep(2)  # let the worker catch up a little between rates
    finally:
        for p in processes:
            p.terminate()
        for p in processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
