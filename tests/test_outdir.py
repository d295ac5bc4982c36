"""Output folders: checked before any work, marked when gwapbench owns them, never overwritten otherwise."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from gwapbench.errors import InputError
from gwapbench.outdir import (
    MARKER_NAME,
    is_gwapbench_folder,
    prepare_output_folder,
    remove_stale_staging,
    removing_unused_output_folders,
    replace_folder,
)

REPO = Path(__file__).resolve().parents[1]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_new_folder_is_created_and_marked(tmp_path):
    out = prepare_output_folder(tmp_path / "a" / "b", ["x.csv"])
    assert out.is_dir() and is_gwapbench_folder(out)
    assert (out / MARKER_NAME).read_text().startswith("written by gwapbench")
    (out / "x.csv").write_text("old")
    assert prepare_output_folder(out, ["x.csv"]) == out  # ours: may be overwritten
    empty = tmp_path / "empty"
    empty.mkdir()
    prepare_output_folder(empty, ["x.csv"])
    assert is_gwapbench_folder(empty)
    assert not is_gwapbench_folder(tmp_path / "missing")


def test_user_folder_is_used_but_its_files_are_never_overwritten(tmp_path):
    user = tmp_path / "thesis"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    prepare_output_folder(user, ["x.csv"])  # adding a new file is fine
    assert not is_gwapbench_folder(user)  # but the folder stays the user's
    (user / "x.csv").write_text("mine too")
    with pytest.raises(InputError, match=r"^--out .*thesis: x\.csv exists in a folder gwapbench did not write"):
        prepare_output_folder(user, ["y.csv", "x.csv"])
    assert _tree(user) == {"notes.txt": b"mine", "x.csv": b"mine too"}


def test_unusable_locations_are_one_line_input_errors(tmp_path):
    a_file = tmp_path / "f"
    a_file.write_text("x")
    cases = [
        (a_file, [], r"^--out .*f: exists and is not a folder$"),
        (a_file / "sub", [], r"^--out .*f/sub: .*f is a file, not a folder$"),
        (tmp_path / "o", ["report.json"], r"^--table-dir .*o: report\.json exists as a folder"),
    ]
    (tmp_path / "o" / "report.json").mkdir(parents=True)
    for path, files, message in cases:
        with pytest.raises(InputError, match=message):
            prepare_output_folder(path, files, argument="--table-dir" if files else "--out")
    assert not (a_file.parent / "sub").exists()


NOBODY = 65534  # the unprivileged user and group of Linux distributions


@contextlib.contextmanager
def _unprivileged():
    """Run the block as user nobody when the tests run as root (as CI does): root writes into read-only folders.
    The real user id stays root, so the effective ids are restored afterwards."""
    if os.geteuid() != 0:
        yield
        return
    try:
        os.setegid(NOBODY)
        os.seteuid(NOBODY)
    except PermissionError:
        os.setegid(0)
        pytest.skip("running as root without the right to change the effective user id (CAP_SETUID)")
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_read_only_folder(tmp_path):
    """A folder the user may not write into is refused before any work, and nothing is created in it. As root
    the check runs as user nobody, in a folder under the system's temporary folder (pytest's tmp_path lies in a
    folder only root may enter)."""
    base = Path(tempfile.mkdtemp()) if os.geteuid() == 0 else tmp_path
    base.chmod(0o755)
    locked = base / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with _unprivileged():
            with pytest.raises(InputError, match="cannot create"):
                prepare_output_folder(locked / "sub")
            with pytest.raises(InputError, match="not writable"):
                prepare_output_folder(locked)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)
        if base != tmp_path:
            shutil.rmtree(base)


def test_replace_refuses_user_folders_and_the_working_directory(tmp_path, monkeypatch):
    user = tmp_path / "x"
    (user / "docs").mkdir(parents=True)
    (user / "docs" / "thesis.tex").write_text("hi")
    with pytest.raises(InputError, match="holds files gwapbench did not write"):
        prepare_output_folder(user, replace=True)
    with pytest.raises(InputError, match="holds files gwapbench did not write"):
        with replace_folder(user, replace=True):
            pytest.fail("must not start")
    assert _tree(user) == {"docs/thesis.tex": b"hi"}
    ours = tmp_path / "ours"
    with replace_folder(ours) as staging:
        (staging / "a.txt").write_text("1")
    monkeypatch.chdir(ours)
    for target in (Path("."), Path("..") / "ours", tmp_path):
        with pytest.raises(InputError, match="working directory"):
            with replace_folder(target, replace=True):
                pytest.fail("must not start")
    assert _tree(ours) == {MARKER_NAME: (ours / MARKER_NAME).read_bytes(), "a.txt": b"1"}


def test_replace_folder_replaces_ours_and_leaves_nothing_on_failure(tmp_path):
    out = tmp_path / "data"
    with replace_folder(out) as staging:
        (staging / "v1.txt").write_text("1")
    assert sorted(_tree(out)) == [MARKER_NAME, "v1.txt"]
    with pytest.raises(InputError, match="not empty"):
        with replace_folder(out):
            pass
    with pytest.raises(RuntimeError):
        with replace_folder(out, replace=True) as staging:
            (staging / "v2.txt").write_text("2")
            raise RuntimeError("generator crashed")
    assert sorted(_tree(out)) == [MARKER_NAME, "v1.txt"]  # old contents intact
    with replace_folder(out, replace=True) as staging:
        (staging / "v2.txt").write_text("2")
    assert sorted(_tree(out)) == [MARKER_NAME, "v2.txt"]
    with pytest.raises(RuntimeError):
        with replace_folder(tmp_path / "new"):
            raise RuntimeError("crashed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]  # no staging, no half-made folder


def test_a_failure_removes_only_the_folders_it_created_and_left_unused(tmp_path):
    existing_empty, existing_user = tmp_path / "empty", tmp_path / "user"
    existing_empty.mkdir()
    existing_user.mkdir()
    (existing_user / "notes.txt").write_text("mine")
    new_nested, new_written, new_foreign = tmp_path / "a" / "b" / "c", tmp_path / "written", tmp_path / "foreign"
    with pytest.raises(RuntimeError, match="crashed"):
        with removing_unused_output_folders():
            for folder in (existing_empty, existing_user, new_nested, new_written, new_foreign):
                prepare_output_folder(folder, ["table.csv"])
            (new_written / "table.csv").write_text("ours")
            (new_foreign / "notes.txt").write_text("someone else's")
            raise RuntimeError("crashed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "foreign", "user", "written"]  # a/b/c gone
    assert _tree(existing_user) == {"notes.txt": b"mine"}
    assert sorted(_tree(existing_empty)) == [MARKER_NAME]  # existed before: kept
    assert sorted(_tree(new_written)) == [MARKER_NAME, "table.csv"]
    assert sorted(_tree(new_foreign)) == [MARKER_NAME, "notes.txt"]


def test_a_created_parent_that_gained_other_files_is_kept(tmp_path):
    with pytest.raises(InputError):
        with removing_unused_output_folders():
            prepare_output_folder(tmp_path / "a" / "b")
            (tmp_path / "a" / "other.txt").write_text("x")
            raise InputError("--voc-root: missing")
    assert _tree(tmp_path) == {"a/other.txt": b"x"}  # b removed, a holds a file: kept


def test_success_keeps_the_new_folder(tmp_path):
    with removing_unused_output_folders() as record:
        prepare_output_folder(tmp_path / "out")
    assert record == [(tmp_path / "out", tmp_path / "out")]
    assert is_gwapbench_folder(tmp_path / "out")
    with pytest.raises(RuntimeError):
        with removing_unused_output_folders():
            raise RuntimeError("a later failure does not reach folders of an earlier block")
    assert is_gwapbench_folder(tmp_path / "out")


def test_stale_staging_of_a_dead_process_is_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".data.{dead_pid}.abc123.partial"
    old = tmp_path / f".data.{dead_pid}.def456.old"
    alive = tmp_path / f".data.{os.getppid()}.ghi789.partial"  # a running process: maybe a concurrent run
    other = tmp_path / ".data.notes.partial"  # not our naming: left alone
    for folder in (stale, old, alive, other):
        folder.mkdir()
    assert sorted(remove_stale_staging(tmp_path / "data")) == sorted([stale, old])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive.name, other.name])


def test_sigterm_during_the_write_leaves_no_staging_folder(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, sys, time
        from pathlib import Path
        from gwapbench.outdir import replace_folder
        with replace_folder(Path({str(tmp_path / "data")!r})) as staging:
            (staging / "part.txt").write_text("x")
            print("writing", flush=True)
            time.sleep(60)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline().strip() == "writing"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 128 + signal.SIGTERM
    assert list(tmp_path.iterdir()) == []  # neither the staging folder nor the target
