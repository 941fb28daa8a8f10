"""bin/supervise: what bin/run keeps the Celery worker and beat alive with."""

import os
import subprocess
from pathlib import Path

from tests.conftest import wait_for

ROOT = Path(__file__).resolve().parent.parent

# A stand-in for the worker: counts its starts in ./starts, says what Celery
# says, exits 1; at the seventh start it stops its supervisor (SIGTERM).
FAKE = """
n=$(( $(cat starts 2>/dev/null || echo 0) + 1 )); echo $n > starts
[ $n -ge 7 ] && kill -TERM $PPID && exit 0
{said} >&2
exit 1
"""


# What Celery's main process logs when a pool process dies of a signal:
LOST_LINE = (
    "[2026-12-07 11:21:56,281: ERROR/MainProcess] Process 'ForkPoolWorker-1'"
    " pid:42 exited with 'signal 9 (SIGKILL)'"
)


def supervise(tmp_path, said: str) -> subprocess.CompletedProcess:
    return supervised(tmp_path, FAKE.format(said=said))


def supervised(tmp_path, command: str, **env: str) -> subprocess.CompletedProcess:
    """bin/supervise run to its end on the bash `command`, with `env` added."""
    return subprocess.run(
        [ROOT / "bin" / "supervise", "The fake worker", "bash", "-c", command],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_a_worker_that_keeps_failing_to_start_is_given_up_after_five_tries(tmp_path):
    done = supervise(tmp_path, "echo 'ImportError: no module named portal'")
    assert done.returncode == 1
    assert (
        done.stderr.count("The fake worker ended (exit status 1); starting it again.")
        == 4
    )
    assert "The fake worker keeps dying (exit status 1); stopping." in done.stderr
    assert (tmp_path / "starts").read_text().strip() == "5"


def test_a_worker_whose_pool_process_was_killed_at_start_is_always_started_again(
    tmp_path,
):
    # What Celery logs when a pool process is SIGKILLed while the worker starts,
    # before it exits with "Could not start worker processes":
    said = f'echo "{LOST_LINE}"'
    done = supervise(tmp_path, said)
    assert done.returncode == 0  # stopped by the stand-in, not given up
    assert "keeps dying" not in done.stderr
    assert (
        done.stderr.count("The fake worker ended (exit status 1); starting it again.")
        == 6
    )
    assert "exited with 'signal 9 (SIGKILL)'" in done.stderr  # the log still shows


def test_the_command_is_stopped_when_its_supervisor_is_killed(tmp_path):
    """A worker orphaned by a SIGKILLed supervisor would go on alone, after
    bin/run stopped the web server and beat."""
    command = 'trap "echo stopped > got; exit 0" TERM; echo $$ > pid; '
    command += "while true; do sleep 0.1; done"
    supervisor = subprocess.Popen(
        [ROOT / "bin" / "supervise", "The fake worker", "bash", "-c", command],
        cwd=tmp_path,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (tmp_path / "pid").exists(), timeout=10)
        supervisor.kill()  # SIGKILL: no trap of its own runs
        supervisor.wait()
        wait_for(lambda: (tmp_path / "got").exists(), timeout=10)
    finally:
        supervisor.kill()
    pid = int((tmp_path / "pid").read_text())
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), timeout=10)


def test_a_worker_that_lost_a_pool_process_to_a_signal_is_killed_and_started_again(
    tmp_path,
):
    """Celery's blocking pool hangs for good when a pool process dies holding
    its job queue's lock; its main process lives on, so it is killed."""
    command = (
        "n=$(( $(cat starts 2>/dev/null || echo 0) + 1 )); echo $n > starts; "
        "[ $n -ge 2 ] && kill -TERM $PPID && exit 0; "
        f'echo "{LOST_LINE}" >&2; '
        "while true; do sleep 0.1; done"  # hung, as the blocking pool is
    )
    done = supervised(tmp_path, command)
    assert done.returncode == 0
    assert (
        "The fake worker lost a pool process to a signal; killing it to start it again."
        in done.stderr
    )
    assert "The fake worker ended (exit status 137); starting it again." in done.stderr
    assert (tmp_path / "starts").read_text().strip() == "2"


def test_a_worker_that_does_not_stop_when_told_is_killed_after_a_grace_time(
    tmp_path,
):
    """Celery's warm shutdown waits for the tasks in hand, and a hung pool
    never ends them: Ctrl-C on bin/run must still stop it."""
    command = 'trap "" TERM; echo $$ > pid; while true; do sleep 0.1; done'
    supervisor = subprocess.Popen(
        [ROOT / "bin" / "supervise", "The fake worker", "bash", "-c", command],
        cwd=tmp_path,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "STOP_SECONDS": "1"},
    )
    try:
        wait_for(lambda: (tmp_path / "pid").exists(), timeout=10)
        supervisor.terminate()
        assert supervisor.wait(timeout=10) == 0
    finally:
        supervisor.kill()
    pid = int((tmp_path / "pid").read_text())
    assert not Path(f"/proc/{pid}").exists()  # killed, and reaped


def test_a_run_whose_output_quotes_that_line_does_not_get_the_worker_killed(tmp_path):
    quoted = LOST_LINE.replace("MainProcess", "ForkPoolWorker-1").replace(
        "Process", "Block failed: Process", 1
    )
    command = (
        "n=$(( $(cat starts 2>/dev/null || echo 0) + 1 )); echo $n > starts; "
        f'echo "{quoted}" >&2; echo "  {LOST_LINE}" >&2; '
        "sleep 2; kill -TERM $PPID; sleep 5"
    )
    done = supervised(tmp_path, command)
    assert "lost a pool process" not in done.stderr
    assert (tmp_path / "starts").read_text().strip() == "1"


def test_with_restarts_on_a_lost_pool_process_off_the_worker_carries_on(tmp_path):
    """bin/run sets RESTART_ON_LOST_POOL=0 for Redis, whose pool survives."""
    command = (
        "n=$(( $(cat starts 2>/dev/null || echo 0) + 1 )); echo $n > starts; "
        f'echo "{LOST_LINE}" >&2; sleep 2; kill -TERM $PPID; sleep 5'
    )
    done = supervised(tmp_path, command, RESTART_ON_LOST_POOL="0")
    assert done.returncode == 0
    assert "lost a pool process" not in done.stderr
    assert (tmp_path / "starts").read_text().strip() == "1"


# Started by the fake worker: a process that ignores SIGTERM and stays behind,
# as a pool process forked just as its worker was killed may.
STRAY = "(trap '' TERM HUP INT; exec sleep 300) & echo $! > stray; "


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # dead, waiting for init to reap it


def test_what_a_dead_worker_left_behind_is_killed_before_it_starts_again(tmp_path):
    command = (
        "n=$(( $(cat starts 2>/dev/null || echo 0) + 1 )); echo $n > starts; "
        "[ $n -ge 2 ] && kill -TERM $PPID && exit 0; " + STRAY + "sleep 1; exit 1"
    )
    done = supervised(tmp_path, command)
    assert done.returncode == 0
    assert (tmp_path / "starts").read_text().strip() == "2"
    stray = int((tmp_path / "stray").read_text())
    wait_for(lambda: _gone(stray), timeout=10)


def test_what_the_worker_started_is_killed_when_its_supervisor_stops(tmp_path):
    command = STRAY + "sleep 2; kill -TERM $PPID; sleep 5"
    done = supervised(tmp_path, command)
    assert done.returncode == 0
    stray = int((tmp_path / "stray").read_text())
    wait_for(lambda: _gone(stray), timeout=10)
