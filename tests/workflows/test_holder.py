"""A lease holder's name tells whether that process, on this machine, has ended,
and only ever says so when it is certain."""

import errno
import os
import subprocess
import uuid

import pytest

from workflows import holder

pytestmark = pytest.mark.skipif(not holder.me(), reason="needs Linux's /proc")

LEASE = uuid.uuid4()


def name_of(pid: int, lease=LEASE) -> str:
    return f"{lease.hex}/{holder._machine()}:{pid}:{holder._stat(pid)[1]}"


def ended() -> str:
    child = subprocess.Popen(["true"])
    name = name_of(child.pid)
    child.wait()
    return name


def test_this_process_and_a_running_one_are_alive():
    assert holder.name(LEASE) == name_of(os.getpid())
    assert not holder.is_dead(holder.name(LEASE), LEASE)
    with subprocess.Popen(["sleep", "30"]) as child:
        assert not holder.is_dead(name_of(child.pid), LEASE)
        child.kill()


def test_an_ended_process_is_dead_even_before_it_is_reaped():
    child = subprocess.Popen(["true"])
    name = name_of(child.pid)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # a zombie now
    assert holder._stat(child.pid)[0] == "Z"
    assert holder.is_dead(name, LEASE)
    child.wait()
    assert holder.is_dead(name, LEASE)


def test_a_process_id_used_again_by_another_process_is_not_taken_for_the_first():
    machine, pid, start = holder.me().rsplit(":", 2)
    assert holder.is_dead(f"{LEASE.hex}/{machine}:{pid}:{int(start) - 1}", LEASE)


def test_a_name_written_for_another_lease_is_never_called_dead():
    # A worker of the version before claimed the run without writing its name:
    assert not holder.is_dead(ended(), uuid.uuid4())
    assert not holder.is_dead(ended(), None)


@pytest.mark.parametrize(
    "name",
    [
        "",  # a run held before holders were named
        f"{LEASE.hex}/another-boot:4026531836:1:1",  # another machine
        f"{LEASE.hex}/not a name",
        f"{LEASE.hex}/a:b:c:d",
        "not a name",
    ],
)
def test_a_holder_this_process_cannot_judge_is_never_called_dead(name):
    assert not holder.is_dead(name, LEASE)


def test_a_holder_in_another_pid_namespace_is_never_called_dead():
    name = ended()
    assert holder.is_dead(name, LEASE)  # here: it ended
    lease, rest = name.split("/")
    boot, namespace, pid, start = rest.split(":")
    # The same process id in another container may be another, live process:
    other = f"{lease}/{boot}:{int(namespace) + 1}:{pid}:{start}"
    assert not holder.is_dead(other, LEASE)


def test_a_proc_that_cannot_be_read_says_nothing_not_that_the_process_ended(
    monkeypatch,
):
    name = ended()

    def no_file_descriptors_left(*args, **kwargs):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(holder, "open", no_file_descriptors_left, raising=False)
    assert not holder.is_dead(name, LEASE)


def test_a_process_that_proc_hides_is_alive_when_it_can_be_signalled(monkeypatch):
    # /proc mounted with hidepid=2 shows no other user's processes:
    name = name_of(os.getpid())
    monkeypatch.setattr(holder, "_stat", lambda pid: None)
    assert not holder.is_dead(name, LEASE)
