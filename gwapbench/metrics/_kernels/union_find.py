"""Union-find over an array of parents (compiled): the one implementation every component kernel uses.

`parent[i] == i` marks a root. `find` halves the path on the way (each visited node is pointed at its
grandparent: Tarjan & van Leeuwen 1984), so trees stay shallow without a second pass. Compiled for
whatever integer types the caller uses (the MaxBoxAcc sweep indexes with np.uint64, for which numba
emits no negative-index fix-up; the run kernels with int64). Both functions are inlined into their
callers, whose numba disk caches do not notice an edit here: after changing this file, clear the caches
(`find . -name '*.nb?' -delete`).
"""

from __future__ import annotations

import numpy as np

from gwapbench.compiled import njit


@njit(cache=True, nogil=True, inline="always")
def find(parent: np.ndarray, node: int) -> int:
    """Root of `node`, halving the path on the way."""
    while parent[node] != node:
        parent[node] = parent[parent[node]]
        node = parent[node]
    return node


@njit(cache=True, nogil=True, inline="always")
def join_to_lower(parent: np.ndarray, a: int, b: int) -> None:
    """Join the sets of a and b; the root with the lower index stays root (so a set's root is its first
    member, e.g. its first run in raster order)."""
    a, b = find(parent, a), find(parent, b)
    if a != b:
        parent[max(a, b)] = min(a, b)
