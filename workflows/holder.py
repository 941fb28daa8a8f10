"""Which process holds a run's lease, named so that another process on the same
machine can tell that it has died.

A worker killed with SIGKILL leaves its runs with a fresh heartbeat: without
this, they would wait up to RUN_STALE_SECONDS (60 s) before the sweep hands
them on. The name is the lease it goes with, the machine's boot id, the PID
namespace, the process id and its start time. A process is only ever called
dead when that is certain: a reused process id has another start time; a
process of another machine or container, one /proc can't show (hidepid), a
/proc that can't be read (no file descriptors left), or a name written for
another lease (by a worker of an older version, which didn't write one) can't
be judged, and is left to the heartbeat.
"""

from __future__ import annotations

import os
import uuid
from functools import cache


class _CantTell(Exception):
    pass


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process from /proc; None when it has none.
    Raises _CantTell when /proc can't be read."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            text = file.read()
    except FileNotFoundError:
        return None
    except OSError as exc:  # EMFILE, EACCES…: no answer, not "gone"
        raise _CantTell from exc
    fields = text.rsplit(")", 1)[1].split()  # the name may hold spaces and ")"
    return fields[0], fields[19]


@cache
def _machine() -> str:
    """This boot of this machine and this process's PID namespace, or ""."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as file:
            boot = file.read().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    return f"{boot}:{namespace}" if boot else ""


@cache
def _me(pid: int) -> str:
    try:
        with open("/proc/self/stat") as file:
            own = file.read()
        stat = _stat(pid)
    except (OSError, _CantTell):
        return ""
    # A /proc of another PID namespace (mounted for the host) names another pid:
    if own.split(" ", 1)[0] != str(pid) or not stat or not _machine():
        return ""
    return f"{_machine()}:{pid}:{stat[1]}"


def me() -> str:
    """This process's name ("" where /proc can't tell)."""
    return _me(os.getpid())  # per process: a pool's children are forked


def name(lease: uuid.UUID) -> str:
    """What a run's lease_holder holds while this process holds `lease`."""
    return f"{lease.hex}/{me()}" if me() else ""


def is_dead(holder: str, lease: uuid.UUID | None) -> bool:
    """Whether the process that `holder` names, holding `lease`, has surely ended."""
    if lease is None or not holder.startswith(f"{lease.hex}/"):
        return False  # written for another lease, or by an older worker
    parts = holder.split("/", 1)[1].split(":")
    if len(parts) != 4 or not _machine() or ":".join(parts[:2]) != _machine():
        return False  # another machine or container: can't tell
    pid, start = parts[2], parts[3]
    if not (pid.isascii() and pid.isdigit()):
        return False
    try:
        stat = _stat(int(pid))
    except _CantTell:
        return False
    if stat is None:
        # Not in /proc: gone, unless /proc hides it (hidepid) from us.
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False  # EPERM: it exists
        return False
    return stat[1] != start or stat[0] in ("Z", "X")
