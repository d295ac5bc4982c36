"""Lock files (`gwapbench.locks`): holder parsing, and the rule that a lock of another host counts as held."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from gwapbench.locks import LockOwner, read_owner, try_acquire

OTHER_HOST = "another-node.invalid"  # no machine has this name (RFC 2606)


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_a_lock_holds_this_process_and_host_and_refuses_a_second_taker(tmp_path):
    path = tmp_path / "lock"
    assert try_acquire(path)
    assert path.read_text() == f"{os.getpid()}@{socket.gethostname()}"
    assert read_owner(path) == LockOwner(os.getpid(), socket.gethostname())
    assert read_owner(path).is_this_process() and not read_owner(path).elsewhere
    assert not try_acquire(path) and path.read_text() == f"{os.getpid()}@{socket.gethostname()}"


def test_holders_as_written_by_this_and_earlier_versions(tmp_path):
    path = tmp_path / "lock"
    for text, expected in (("123", LockOwner(123, None)), (f"123@{OTHER_HOST}", LockOwner(123, OTHER_HOST)),
                           ("", None), ("abc@host", None), ("@host", None)):
        path.write_text(text)
        assert read_owner(path) == expected, text
    assert read_owner(tmp_path / "missing") is None


def test_only_a_holder_of_this_host_can_be_known_gone():
    dead = _dead_pid()
    assert not LockOwner(dead, None).may_be_alive()  # an earlier version's lock: this host's
    assert not LockOwner(dead, socket.gethostname()).may_be_alive()
    foreign = LockOwner(dead, OTHER_HOST)
    assert foreign.elsewhere and foreign.may_be_alive() and not foreign.is_this_process()
    assert LockOwner(os.getpid(), OTHER_HOST).is_this_process() is False  # same pid, another machine
    assert str(foreign) == f"process {dead} on host {OTHER_HOST}" and str(LockOwner(dead, None)) == f"process {dead}"
    assert foreign.removal_hint(Path("x/lock")) == "; if that process is gone, delete x/lock"
    assert LockOwner(dead, None).removal_hint(Path("x/lock")) == ""
