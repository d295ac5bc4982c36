"""The one place gwapbench imports numba: compiled kernels are cached on disk (`cache=True`).

numba writes its cache into `__pycache__` beside each kernel's source file. When the package
folder is read-only (a system-wide install), NUMBA_CACHE_DIR is pointed at a writable folder
under the user's cache directory ($XDG_CACHE_HOME or ~/.cache, then gwapbench/numba) before
numba is imported; numba reads the variable once, at import. A NUMBA_CACHE_DIR set by the user
is kept. Import `njit`, `prange` and `get_num_threads` (NUMBA_NUM_THREADS) from here, never numba directly.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def is_writable(folder: Path) -> bool:
    """Whether a file can be created in `folder` (created if missing); probes by writing, since
    permission bits say nothing for root or on read-only mounts."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def user_cache_dir(environ: MutableMapping[str, str]) -> Path:
    """$XDG_CACHE_HOME/gwapbench/numba, or ~/.cache/gwapbench/numba."""
    base = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gwapbench" / "numba"


def choose_numba_cache_dir(package_dir: Path, environ: MutableMapping[str, str]) -> Path | None:
    """The folder to set as NUMBA_CACHE_DIR, or None to leave numba's default (the package's
    `__pycache__` folders, when writable) or the user's own setting."""
    if environ.get("NUMBA_CACHE_DIR"):
        return None
    if is_writable(package_dir / "metrics" / "__pycache__"):
        return None
    return user_cache_dir(environ)


_fallback = choose_numba_cache_dir(PACKAGE_DIR, os.environ)
if _fallback is not None:
    os.environ["NUMBA_CACHE_DIR"] = str(_fallback)

from numba import get_num_threads, njit, prange  # noqa: E402  (after NUMBA_CACHE_DIR is settled)

__all__ = ["get_num_threads", "njit", "prange", "choose_numba_cache_dir"]
