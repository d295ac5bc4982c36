"""`generated_once`: processes started together (torchrun ranks) generate a data set once and never read a partial one."""

from __future__ import annotations

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
