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


def test_an_unreadable_lock_is_stale_and_a_live_or_foreign_one_held(tmp_path):
    from gwapbench.locks import holder_if_held

    path = tmp_path / "lock"
    for text in ("", "garbage", f"{_dead_pid()}", f"{_dead_pid()}@{socket.gethostname()}"):
        path.write_text(text)
        assert holder_if_held(path) is None, text
    path.write_text(f"{os.getpid()}")
    assert holder_if_held(path) == LockOwner(os.getpid(), None)
    path.write_text(f"{_dead_pid()}@{OTHER_HOST}")
    assert holder_if_held(path).elsewhere


def test_the_lock_appears_whole_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    """The holder is written before the lock file appears (hard link of a written file); where hard links fail,
    an exclusive create takes its place."""
    seen = []
    real_link = os.link

    def link(source, target):
        seen.append(Path(source).read_text())  # what the lock will hold, already written
        real_link(source, target)

    monkeypatch.setattr(os, "link", link)
    assert try_acquire(tmp_path / "lock") and seen == [f"{os.getpid()}@{socket.gethostname()}"]
    assert not try_acquire(tmp_path / "lock")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock"]

    def no_links(source, target):
        raise PermissionError("hard links not supported")

    monkeypatch.setattr(os, "link", no_links)
    assert try_acquire(tmp_path / "other") and not try_acquire(tmp_path / "other")
    assert (tmp_path / "other").read_text() == f"{os.getpid()}@{socket.gethostname()}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock", "other"]
