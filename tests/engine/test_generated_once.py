"""`generated_once`: processes started together (torchrun ranks) generate a data set once and never read a partial one."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from multiprocessing.pool import ThreadPool

from gwapbench.engine.sources import generated_once
from gwapbench.outdir import MARKER_NAME


def _slow_make(calls: list[int]):
    def make(out):  # as `replace_folder`: first the folder with its marker alone, later the content
        calls.append(1)
        out.mkdir(parents=True)
        (out / MARKER_NAME).write_text("")
        time.sleep(0.5)
        (out / "data.txt").write_text("done")

    return make


def test_callers_started_together_generate_once_and_each_sees_the_whole_folder(tmp_path):
    calls: list[int] = []
    make = _slow_make(calls)
    with ThreadPool(4) as pool:
        folders = pool.map(lambda _: generated_once(tmp_path / "set", make), range(4))
    assert len(calls) == 1
    assert all((folder / "data.txt").read_text() == "done" for folder in folders)
    assert not (tmp_path / "set.lock").exists()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "set.lock").write_text(dead.stdout.strip())
    calls: list[int] = []
    generated_once(tmp_path / "set", _slow_make(calls))
    assert calls == [1] and (tmp_path / "set" / "data.txt").is_file()


def test_a_lock_of_another_host_is_waited_for_and_named_when_held_too_long(tmp_path, monkeypatch):
    """Another node's process cannot be asked whether it runs: its lock is waited for, never taken over, and
    an InputError names it once it is older than generation takes."""
    from threading import Timer

    import pytest

    from gwapbench.engine import sources
    from gwapbench.errors import InputError

    lock = tmp_path / "set.lock"
    lock.write_text(f"{_dead_pid()}@another-node.invalid")  # a pid that is not running here
    calls: list[int] = []
    Timer(0.6, lock.unlink).start()  # the other node finishes
    started = time.monotonic()
    generated_once(tmp_path / "set", _slow_make(calls))
    assert time.monotonic() - started >= 0.6 and calls == [1]
    lock = tmp_path / "again.lock"
    lock.write_text(f"{_dead_pid()}@another-node.invalid")
    monkeypatch.setattr(sources, "FOREIGN_LOCK_SECONDS", 60)
    old = time.time() - 120
    os.utime(lock, (old, old))
    with pytest.raises(InputError, match=r"again\.lock has been held by process \d+ on host another-node\.invalid "
                                         r"for 1\d\d s; if that process is gone, delete .*again\.lock$"):
        generated_once(tmp_path / "again", _slow_make(calls))
    assert lock.exists() and calls == [1]


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)
