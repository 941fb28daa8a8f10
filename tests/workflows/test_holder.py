"""A lease holder's name tells whether that process, on this machine, has ended."""

import os
import subprocess

import pytest

from workflows import holder

pytestmark = pytest.mark.skipif(not holder.me(), reason="needs Linux's /proc")


def name_of(pid: int) -> str:
    return f"{holder._machine()}:{pid}:{holder._stat(pid)[1]}"


def test_this_process_and_a_running_one_are_alive():
    assert holder.me() == name_of(os.getpid())
    assert not holder.is_dead(holder.me())
    with subprocess.Popen(["sleep", "30"]) as child:
        assert not holder.is_dead(name_of(child.pid))
        child.kill()


def test_an_ended_process_is_dead_even_before_it_is_reaped():
    child = subprocess.Popen(["true"])
    name = name_of(child.pid)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # a zombie now
    assert holder._stat(child.pid)[0] == "Z"
    assert holder.is_dead(name)
    child.wait()
    assert holder.is_dead(name)


def test_a_process_id_used_again_by_another_process_is_not_taken_for_the_first():
    machine, pid, start = holder.me().rsplit(":", 2)
    assert holder.is_dead(f"{machine}:{pid}:{int(start) - 1}")


@pytest.mark.parametrize(
    "name",
    [
        "",  # a run held before holders were named
        "another-boot:4026531836:1:1",  # another machine
        "not a name",
        "a:b:c:d",
    ],
)
def test_a_holder_this_process_cannot_judge_is_never_called_dead(name):
    assert not holder.is_dead(name)


def test_a_holder_in_another_pid_namespace_is_never_called_dead():
    child = subprocess.Popen(["true"])
    boot, namespace, pid, start = name_of(child.pid).split(":")
    child.wait()
    assert holder.is_dead(f"{boot}:{namespace}:{pid}:{start}")  # here: it ended
    # The same process id in another container may be another, live process:
    assert not holder.is_dead(f"{boot}:{int(namespace) + 1}:{pid}:{start}")
