"""Reading `.npz` archives with a reason a person can act on when one cannot be read.

`np.load` fails on a bad archive in ways that name neither the problem nor the file: an empty file
raises EOFError (which click turns into "Aborted!"), a text file "contains pickled (object) data", a
truncated one BadZipFile. `open_npz` tells these apart and raises `UnreadableNpz(reason)`; each caller
turns the reason into its own one-line error naming the file (an option, or a run-store file).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np

_LOAD_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError)


class UnreadableNpz(ValueError):
    """Why a file is not a readable `.npz` archive (the message is the reason, without the path)."""


def open_npz(path: str | os.PathLike[str]) -> np.lib.npyio.NpzFile:
    """The archive at `path`, members read when asked for (close it, or use it as a context manager).

    UnreadableNpz when the file is empty, is not a zip archive (another kind of file, or one cut short), or
    holds a single array (.npy) instead of named arrays."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise UnreadableNpz("empty file (0 bytes), not an .npz archive")
    if not zipfile.is_zipfile(path):
        with path.open("rb") as handle:
            magic = handle.read(6)
        kind = "a single .npy array" if magic == b"\x93NUMPY" else "not a complete zip archive"
        raise UnreadableNpz(f"not an .npz archive ({kind}: another kind of file, or one cut short)")
    try:
        return np.load(path, allow_pickle=False)
    except _LOAD_ERRORS as err:
        raise UnreadableNpz(f"not a readable .npz archive ({err})") from err


def read_member(archive: np.lib.npyio.NpzFile, key: str) -> np.ndarray:
    """One member; UnreadableNpz naming it when it is damaged or holds Python objects (pickled data)."""
    try:
        return archive[key]
    except _LOAD_ERRORS as err:
        raise UnreadableNpz(f"member {key!r} is not a readable array ({err})") from err


def stored_shape(handle: BinaryIO) -> tuple[int, ...]:
    """The array shape in the .npy header at the start of the open binary `handle` (the data is not read);
    ValueError when it is no .npy header."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(handle)[0]
    return np.lib.format.read_array_header_2_0(handle)[0]


def member_shape(archive: np.lib.npyio.NpzFile, key: str) -> tuple[int, ...]:
    """The shape of one member read from its header alone; UnreadableNpz naming it when the header is damaged."""
    try:
        with archive.zip.open(f"{key}.npy") as handle:
            return stored_shape(handle)
    except _LOAD_ERRORS as err:
        raise UnreadableNpz(f"member {key!r} is not a readable array ({err})") from err


def read_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every member of the archive at `path`; UnreadableNpz as `open_npz` and `read_member`."""
    with open_npz(path) as archive:
        return {key: read_member(archive, key) for key in archive.files}
