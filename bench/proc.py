"""What the benches share: starting a Celery worker, and reading CPU time from /proc."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def celery_worker(
    queue: str,
    name: str,
    env: dict,
    include: str = "",
    log: Path | None = None,
    concurrency: int = 0,
) -> subprocess.Popen:
    """A worker on `queue`, without gossip or mingle: a solo pool, or with
    `concurrency` a prefork pool of that many processes (as `make run` starts
    it); what it logs (warnings and worse) goes to the end of `log`, or nowhere."""
    command = [sys.executable, "-m", "celery", "-A", "portal", "worker"]
    if concurrency:
        command += ["--pool", "prefork", "--concurrency", str(concurrency)]
    else:
        command += ["--pool", "solo"]
    command += ["--queues", queue, "--loglevel", "WARNING"]
    command += ["--without-gossip", "--without-mingle", "--hostname", f"{name}@%h"]
    if include:
        command += ["--include", include]
    out = log.open("ab") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    finally:
        if log:
            out.close()  # the worker has its own copy


def _processes():
    """(pid, parent pid, name, CPU seconds so far) of every process (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended meanwhile
        name, fields = stat.split("(", 1)[1].rsplit(")", 1)
        fields = fields.split()
        yield (
            int(entry.name),
            int(fields[1]),
            name,
            (int(fields[11]) + int(fields[12])) / tick,
        )


def cpu_seconds(root_pid: int) -> float:
    """CPU time (user + system) so far of a process and every process under it
    (a prefork worker's pool processes, and their JavaScript and jq children)."""
    processes = list(_processes())
    tree = {root_pid}
    while True:
        grown = tree | {pid for pid, ppid, _, _ in processes if ppid in tree}
        if grown == tree:
            break
        tree = grown
    return sum(cpu for pid, _, _, cpu in processes if pid in tree)


def postgres_cpu_seconds() -> float:
    """CPU time of every PostgreSQL server process so far (0 where none runs);
    backends that have ended are not counted."""
    return sum(cpu for _, _, name, cpu in _processes() if name.startswith("postgres"))


def machine_cpu() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine so far (Linux /proc/stat)."""
    fields = [
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # up to steal; guest time is already in user
    return total - idle, total
