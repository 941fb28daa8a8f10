"""Which process holds a run's lease, named so that another process on the same
machine can tell that it has died.

A worker killed with SIGKILL leaves its runs with a fresh heartbeat: without
this, they would wait up to RUN_STALE_SECONDS (60 s) before the sweep hands
them on. The name is the machine's boot id, the PID namespace, the process id
and its start time, so a process is only ever called dead when it is: a reused
process id has another start time, and a process seen from another machine or
container can't be judged at all (it is then left to the heartbeat).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process from /proc, None when there is none."""
    text = _read(f"/proc/{pid}/stat")
    if not text:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the name may hold spaces and ")"
    return fields[0], fields[19]


@cache
def _machine() -> str:
    """This boot of this machine and this process's PID namespace, or ""."""
    boot = _read("/proc/sys/kernel/random/boot_id").strip()
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    return f"{boot}:{namespace}" if boot else ""


@cache
def _me(pid: int) -> str:
    stat = _stat(pid)
    return f"{_machine()}:{pid}:{stat[1]}" if _machine() and stat else ""


def me() -> str:
    """This process's name as a lease holder ("" where /proc can't tell)."""
    return _me(os.getpid())  # per process: a pool's children are forked


def is_dead(holder: str) -> bool:
    """Whether the process `holder` names has surely ended (a zombie counts)."""
    parts = holder.split(":")
    if len(parts) != 4 or not _machine() or ":".join(parts[:2]) != _machine():
        return False  # another machine or container, or no name: can't tell
    pid, start = parts[2], parts[3]
    if not pid.isdigit():
        return False
    stat = _stat(int(pid))
    return stat is None or stat[1] != start or stat[0] in ("Z", "X")
