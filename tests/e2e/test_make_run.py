"""`make run` (bin/run) as a newcomer starts it: embedded defaults, a fresh var
directory, the demo data, a web server on the PORT asked for, a worker and beat.
A workflow run from the browser completes, and its mail links back to that port."""

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import free_port, wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
# What the test run sets for itself, which a newcomer's shell has not:
NOT_INHERITED = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_TASK_DEFAULT_QUEUE",
    "CACHE_URL",
    "BASE_URL",
)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _processes_of(var: str):
    """(pid, parent pid, state, name, argv) of each process started with the
    var directory `var`, from /proc: the worker runs in a session of its own
    (bin/supervise), so no session or group holds them all, while every one
    inherits CAIRN_VAR_DIR."""
    wanted = f"CAIRN_VAR_DIR={var}".encode()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if wanted not in (proc / "environ").read_bytes().split(b"\0"):
                continue
            text = (proc / "stat").read_text()
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # ended meanwhile
        fields = text.rsplit(")", 1)[1].split()
        name = text.rsplit(")", 1)[0].split("(", 1)[1]
        yield int(proc.name), int(fields[1]), fields[0], name, argv


def _alive(var: str) -> list[str]:
    """The processes (not zombies) started with the var directory `var`."""
    return [
        f"{pid} {name}" for pid, _, state, name, _ in _processes_of(var) if state != "Z"
    ]


@pytest.fixture
def make_run(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        CAIRN_VAR_DIR=str(tmp_path / "var"),
        PORT=str(port),
        WEB_WORKERS="1",
        WORKER_CONCURRENCY="1",
        # /health/ answers 200 once a worker has beaten: at once when it is
        # ready, not only on beat's schedule (here too far off to count).
        WORKER_HEARTBEAT_SECONDS="3600",
    )
    log = tmp_path / "make-run.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["make", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _healthy(url) or process.poll() is not None, timeout=120)
        assert process.poll() is None, log.read_text()[-3000:]
        yield url, log, env["CAIRN_VAR_DIR"]
    finally:
        # As a user's kill would: make passes SIGTERM on to bin/run, which stops
        # its servers. Then nothing started here may outlive the test.
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=60)
        var = env["CAIRN_VAR_DIR"]
        wait_for(lambda: not _alive(var), timeout=30)
        leftovers = _alive(var)
        for pid, *_ in _processes_of(var):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)
        assert not leftovers, f"make run left these running: {leftovers}"
        assert "bin/run: line" not in log.read_text()  # a shell error on stopping


def _run_hello_world(page: Page, url: str, log: Path) -> None:
    """Log in, run the demo's hello-world from its page, see it complete and its mail link back."""
    page.goto(f"{url}/login/")
    page.get_by_label("Email address").fill("ada@example.com")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{url}/workflows/hello-world/")
    page.get_by_role("button", name="Run", exact=True).or_(
        page.get_by_role("link", name="Run", exact=True)
    ).first.click()
    page.get_by_role("button", name="Run workflow").click()

    expect(page).to_have_url(re.compile(r"/workflows/runs/\d+/$"))
    expect(page.get_by_role("heading", name="Hello, world!")).to_be_visible(
        timeout=30_000
    )
    run_url = page.url
    assert run_url.startswith(url)
    wait_for(lambda: run_url in log.read_text())
    assert re.search(r"Subject: \[Cairn\] Hello world #\d+ succeeded", log.read_text())


def test_make_run_serves_the_demo_on_its_port_and_runs_a_workflow_whose_mail_links_back(
    page: Page, make_run
):
    url, log, _ = make_run
    _run_hello_world(page, url, log)


def _celery_mains(var: str, role: str) -> set[int]:
    """The Celery main processes of `role` ("worker" or "beat") started with
    the var directory `var`, not a worker's pool children."""
    parents = {
        pid: parent
        for pid, parent, state, _, argv in _processes_of(var)
        if state != "Z"
        and role.encode() in argv
        and b"bin/supervise" not in argv  # its supervisor, not Celery
    }
    return {pid for pid, parent in parents.items() if parent not in parents}


def _supervised(pids: set[int]) -> set[int]:
    """Those of `pids` that bin/run's shell started: not a killed worker's pool
    child, which outlives it for a moment, its parent gone."""

    def parent_name(pid: int) -> str:
        try:
            parent = (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1]).split()[
                1
            ]
            return Path(f"/proc/{parent}/comm").read_text().strip()
        except OSError:
            return ""  # ended meanwhile

    return {pid for pid in pids if parent_name(pid) == "bash"}


def test_make_run_starts_the_worker_and_beat_again_when_they_are_killed(
    page: Page, make_run
):
    url, log, var = make_run
    [beat] = _celery_mains(var, "beat")
    os.kill(beat, signal.SIGKILL)
    # Killed six times in a row, within seconds: a kill from outside is never
    # taken for a worker that can't start.
    for _ in range(6):
        wait_for(lambda: len(_supervised(_celery_mains(var, "worker"))) == 1)
        [worker] = _supervised(_celery_mains(var, "worker"))
        os.kill(worker, signal.SIGKILL)
        wait_for(lambda w=worker: _celery_mains(var, "worker") - {w}, timeout=60)
    wait_for(lambda: _celery_mains(var, "beat") - {beat}, timeout=60)
    text = log.read_text()
    assert (
        text.count("The Celery worker ended (exit status 137); starting it again.") == 6
    )
    assert "Celery beat ended (exit status 137); starting it again." in text
    assert "keeps dying" not in text
    # A pool process killed alone (the OOM killer's pick) may hold the lock of
    # the pool's job queue, which hangs Celery's blocking pool for good: the
    # whole worker is started again.
    wait_for(lambda: len(_supervised(_celery_mains(var, "worker"))) == 1)
    [worker] = _supervised(_celery_mains(var, "worker"))
    wait_for(lambda: _pool_of(worker))
    for child in _pool_of(worker):
        os.kill(child, signal.SIGKILL)
    wait_for(lambda: _supervised(_celery_mains(var, "worker")) - {worker}, timeout=60)
    assert "The Celery worker lost a pool process to a signal" in log.read_text()
    # Nothing of the killed ones is left behind (the fixture checks the rest at
    # the end), and runs go on:
    wait_for(lambda: len(_celery_mains(var, "worker")) == 1)
    _run_hello_world(page, url, log)


def _pool_of(worker: int) -> set[int]:
    """The pool processes of the Celery worker `worker`."""
    children = Path(f"/proc/{worker}/task/{worker}/children").read_text().split()
    return {int(pid) for pid in children if b"worker" in _argv(int(pid))}


def _argv(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []  # ended meanwhile


def test_make_run_stops_with_a_message_when_the_worker_cannot_start(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(
        CAIRN_VAR_DIR=str(tmp_path / "var"),
        PORT=str(free_port()),
        WEB_WORKERS="1",
        WORKER_CONCURRENCY="none",  # celery refuses it and exits at once
    )
    process = subprocess.run(
        ["bin/run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        start_new_session=True,
    )
    assert process.returncode != 0
    assert (
        "The Celery worker ended (exit status 2); starting it again." in process.stderr
    )
    assert "The Celery worker keeps dying (exit status 2); stopping." in process.stderr
