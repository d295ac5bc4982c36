"""Output folders: check them before any work, and never overwrite what gwapbench did not write.

Every command that writes into an `--out` folder calls `prepare_output_folder` before it reads
or computes anything. The folder gets a marker file (`MARKER_NAME`) when gwapbench creates it (or
finds it empty); a folder without the marker belongs to the user: gwapbench adds new files to it
but never overwrites one of them, and never replaces or empties it as a whole.

`replace_folder` writes a whole folder (a generated dataset) into a staging folder beside the
target and renames it into place at the end, so a failed or killed run leaves the old folder as
it was. Staging folders are named `.<name>.<pid>.<random>.partial`; one whose process is gone
is removed by the next run that writes the same folder.

Single report files (`check --markdown/--junit`) follow the same rule (`prepare_output_file`): each
carries `REPORT_MARKER` in a comment near its top, and gwapbench replaces an existing file only when
it finds that marker there; any other file is the user's and is never overwritten.

A command that fails leaves no folder behind that it created and wrote nothing into: inside
`removing_unused_output_folders()` (the CLI wraps every command in it), the folders that
`prepare_output_folder` creates are recorded, and when the block raises, each one that still
holds nothing but the marker is removed, with the parent folders created for it when they are empty.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from gwapbench import __version__
from gwapbench.atomic import default_mode, write_text_atomic
from gwapbench.errors import InputError

MARKER_NAME = ".gwapbench-output"
REPORT_MARKER = "written by gwapbench; gwapbench may replace this file"
_REPORT_HEAD = 512  # bytes of a file searched for REPORT_MARKER
_STAGING_SUFFIXES = (".partial", ".old")
# One list per active `removing_unused_output_folders` block: (folder, the top-most folder created for it).
_created_records: list[list[tuple[Path, Path]]] = []


def is_gwapbench_folder(path: str | os.PathLike[str]) -> bool:
    """True when `path` is a folder that carries gwapbench's marker file."""
    return (Path(path) / MARKER_NAME).is_file()


def write_marker(folder: Path) -> None:
    """Leave the marker that says gwapbench wrote `folder` (its contents may be replaced by gwapbench)."""
    write_text_atomic(folder / MARKER_NAME, f"written by gwapbench {__version__}; gwapbench may replace this folder\n")


def _first_file_above(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` that is not a folder, if any."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def _first_missing(path: Path) -> Path | None:
    """The top-most of `path` and its ancestors that does not exist (None when `path` exists): the first
    folder that `path.mkdir(parents=True)` creates."""
    path = Path(os.path.abspath(path))
    if path.exists():
        return None
    missing = path
    for parent in path.parents:
        if parent.exists():
            break
        missing = parent
    return missing


def _remove_if_unused(folder: Path, top: Path) -> bool:
    """Remove `folder` if it holds nothing but (at most) the marker, then its parents up to `top` while they
    are empty. Deletes only the marker file and empty folders; False when `folder` was kept."""
    folder = Path(os.path.abspath(folder))
    try:
        if has_content(folder):
            return False
        (folder / MARKER_NAME).unlink(missing_ok=True)
        for level in (folder, *folder.parents):
            level.rmdir()  # fails on a folder that is not empty
            if level == top:
                break
    except OSError:
        return not folder.exists()
    return True


@contextlib.contextmanager
def removing_unused_output_folders() -> Iterator[list[tuple[Path, Path]]]:
    """Record the folders `prepare_output_folder` creates within the block; when the block raises, remove
    each one that holds nothing but the marker (see `_remove_if_unused`). Yields the record."""
    record: list[tuple[Path, Path]] = []
    _created_records.append(record)
    try:
        yield record
    except BaseException:
        for folder, top in reversed(record):
            _remove_if_unused(folder, top)
        raise
    finally:
        _created_records.remove(record)


def _check_location(path: Path, argument: str) -> None:
    """Raise InputError unless `path` is, or can be created as, a folder."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{argument} {path}: exists and is not a folder")
    blocker = _first_file_above(path)
    if blocker is not None:
        raise InputError(f"{argument} {path}: {blocker} is a file, not a folder")


def check_folder_location(path: Path, argument: str, writable: bool = True) -> None:
    """InputError (one line) unless `path` is a folder, or can be created as one: it is no file, lies under no
    file, and (with `writable`) it or its nearest existing parent is writable by this process."""
    path = Path(path)
    _check_location(path, argument)
    if writable:
        absolute = Path(os.path.abspath(path))
        _check_writable(next(p for p in (absolute, *absolute.parents) if p.exists()), argument)


def _check_writable(path: Path, argument: str) -> None:
    """Create and delete a probe file in `path`: the only test that also holds for ACLs and read-only mounts."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".gwapbench-probe.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise InputError(f"{argument} {path}: folder is not writable ({err.strerror})") from err


def _check_replaceable(path: Path, argument: str) -> None:
    if path.is_dir() and any(path.iterdir()) and not is_gwapbench_folder(path):
        raise InputError(
            f"{argument} {path}: folder holds files gwapbench did not write (no {MARKER_NAME}); "
            "it will not replace it: choose a new or empty folder"
        )
    _check_not_working_directory(path, argument)


def _check_not_working_directory(path: Path, argument: str) -> None:
    cwd = Path.cwd().resolve()
    target = path.resolve()
    if target == cwd or target in cwd.parents:
        raise InputError(f"{argument} {path}: is or contains the working directory; it cannot be replaced")


def prepare_output_folder(
    path: Path, files: Sequence[str] = (), *, argument: str = "--out", replace: bool = False
) -> Path:
    """Check and create the output folder `path` before any work; return it.

    Raises `InputError("<argument> <path>: ...")` (one line) when `path` is a file or lies under
    one, cannot be created or written, or when one of `files` (names relative to `path`) exists as
    a folder, or exists in a folder gwapbench did not write. With `replace=True` the folder is
    going to be replaced as a whole: it must carry the marker or be empty (and must not hold the
    working directory). A folder created here, or found empty, gets the marker.
    """
    path = Path(path)
    _check_location(path, argument)
    if replace:
        _check_replaceable(path, argument)
    existed_nonempty = path.is_dir() and any(path.iterdir())
    created = _first_missing(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InputError(f"{argument} {path}: cannot create the folder ({err.strerror})") from err
    if created is not None and _created_records:
        _created_records[-1].append((Path(os.path.abspath(path)), created))
    _check_writable(path, argument)
    owned = is_gwapbench_folder(path)
    for name in files:
        target = path / name
        if target.is_dir():
            raise InputError(f"{argument} {path}: {name} exists as a folder; gwapbench writes a file of that name")
        if target.exists() and existed_nonempty and not owned:
            raise InputError(
                f"{argument} {path}: {name} exists in a folder gwapbench did not write; "
                "it will not overwrite it: choose a new or empty folder"
            )
    if not existed_nonempty and not owned:
        write_marker(path)
    return path


def is_gwapbench_file(path: str | os.PathLike[str]) -> bool:
    """True when the first bytes of the file at `path` carry `REPORT_MARKER` (a report gwapbench wrote)."""
    try:
        with open(path, "rb") as handle:
            return REPORT_MARKER.encode() in handle.read(_REPORT_HEAD)
    except OSError:
        return False


def prepare_output_file(path: Path, argument: str) -> Path:
    """Check a report path before any work; return it. InputError (one line) when `path` is a folder, lies under
    a file, its folder cannot be created or written, or it exists without `REPORT_MARKER` (gwapbench did not
    write it). The file itself is written later, atomically, with the marker."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{argument} {path}: is a folder; give a file path")
    blocker = _first_file_above(path)
    if blocker is not None:
        raise InputError(f"{argument} {path}: {blocker} is a file, not a folder")
    if path.exists() and not is_gwapbench_file(path):
        raise InputError(f"{argument} {path}: exists and gwapbench did not write it (no \"{REPORT_MARKER}\" line); "
                         "it will not overwrite it: choose another path")
    parent = Path(os.path.abspath(path)).parent
    _check_writable(next(p for p in (parent, *parent.parents) if p.exists()), argument)
    return path


def has_content(folder: Path) -> bool:
    """Whether `folder` holds anything besides gwapbench's marker."""
    return any(entry.name != MARKER_NAME for entry in folder.iterdir())


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (also one of another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(target: Path) -> list[Path]:
    """Remove `.<name>.<pid>.*.partial|.old` folders beside `target` whose process no longer runs."""
    removed = []
    for candidate in target.parent.glob(f".{target.name}.*"):
        parts = candidate.name[len(target.name) + 2:].split(".")
        if not candidate.is_dir() or candidate.suffix not in _STAGING_SUFFIXES or not parts[0].isdigit():
            continue
        if int(parts[0]) != os.getpid() and not pid_alive(int(parts[0])):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


def _staging_dir(target: Path, suffix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=suffix, dir=target.parent))
    os.chmod(folder, default_mode(directory=True))
    return folder


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises SystemExit(143) so that cleanup code runs as on Ctrl-C: locks are
    released, staging folders and unused new output folders removed (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def replace_folder(target: Path, *, argument: str = "--out", replace: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder (with the marker) that replaces `target` when the block succeeds.

    `target` must be new or empty, or with `replace=True` a folder gwapbench wrote (see
    `prepare_output_folder`). On failure, SIGTERM included, the staging folder is removed and
    `target` is left as it was (a folder created here is removed again).
    """
    shown, target = target, Path(os.path.abspath(target))
    _check_not_working_directory(target, argument)
    created = _first_missing(target)
    prepare_output_folder(Path(shown), argument=argument, replace=replace)
    if not replace and has_content(target):
        raise InputError(f"{argument} {shown}: folder is not empty (pass --overwrite to replace it)")
    remove_stale_staging(target)
    try:
        with sigterm_raises():
            staging = _staging_dir(target, ".partial")
            trash: Path | None = None
            try:
                write_marker(staging)
                yield staging
                trash = _staging_dir(target, ".old")
                os.replace(target, trash / "old")
                os.replace(staging, target)
            except BaseException:
                if trash is not None and not target.exists():
                    os.replace(trash / "old", target)
                shutil.rmtree(staging, ignore_errors=True)
                raise
            finally:
                if trash is not None:
                    shutil.rmtree(trash, ignore_errors=True)
    except BaseException:
        if created is not None:
            _remove_if_unused(target, created)
        raise
