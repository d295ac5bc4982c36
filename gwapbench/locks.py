"""Lock files that hold across the nodes of a shared filesystem.

A lock is a file created with `O_CREAT | O_EXCL` (atomic on local filesystems, NFSv3 and later, Lustre
and GPFS) holding `<pid>@<host>` of its holder. Whether the holder still runs can be asked only on its
own host (`os.kill(pid, 0)`): a lock of this host whose process is gone is stale and is taken over; a
lock of another host counts as held until its holder removes it, or a user deletes the file after that
process is gone (the error says so). Lock files of earlier versions hold a bare pid: they count as this
host's.
"""

from __future__ import annotations

import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

from gwapbench.outdir import pid_alive


def this_host() -> str:
    """This machine's host name, as lock files record it."""
    return socket.gethostname()


@dataclass(frozen=True)
class LockOwner:
    """The holder of a lock file: a process id on a host (None: a lock without one, taken as this host's)."""

    pid: int
    host: str | None

    @property
    def elsewhere(self) -> bool:
        """Whether the holder runs on another host (whose processes this one cannot see)."""
        return self.host is not None and self.host != this_host()

    def is_this_process(self) -> bool:
        return not self.elsewhere and self.pid == os.getpid()

    def may_be_alive(self) -> bool:
        """True unless the holder is known to be gone: its host is this one and its process does not exist."""
        return self.elsewhere or pid_alive(self.pid)

    def __str__(self) -> str:
        """'process P', or 'process P on host H' for a holder on another host."""
        return f"process {self.pid} on host {self.host}" if self.elsewhere else f"process {self.pid}"

    def removal_hint(self, path: Path) -> str:
        """What a user does about a lock this host cannot judge (another host's): '' for this host's."""
        return f"; if that process is gone, delete {path}" if self.elsewhere else ""


def read_owner(path: Path) -> LockOwner | None:
    """The holder written in a lock file; None when the file is missing or unreadable."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    pid, _, host = text.partition("@")
    if not pid.isdigit():
        return None
    return LockOwner(int(pid), host or None)


def try_acquire(path: Path) -> bool:
    """Create the lock file holding this process and host; False when it exists already.

    The holder is written into a temporary file first and hard-linked onto `path` (atomic, and it fails when
    `path` exists, on NFS too), so a lock file is never seen empty; where the filesystem has no hard links the
    file is created with `O_CREAT | O_EXCL` and written after."""
    holder = f"{os.getpid()}@{this_host()}"
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(holder)
        os.link(name, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links here
        return _create_exclusive(path, holder)
    finally:
        os.unlink(name)


def _create_exclusive(path: Path, holder: str) -> bool:
    try:
        descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as handle:
        handle.write(holder)
    return True


def holder_if_held(path: Path) -> LockOwner | None:
    """The holder of an existing lock file, or None when the lock is stale and may be taken over: its holder is
    gone (a process of this host that no longer runs) or unreadable (a file gwapbench never writes empty)."""
    owner = read_owner(path)
    return owner if owner is not None and owner.may_be_alive() else None


def release(path: Path) -> None:
    """Remove the lock file (a missing one is fine)."""
    path.unlink(missing_ok=True)
