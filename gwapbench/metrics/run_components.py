"""Largest 8-connected component of one binary mask given as horizontal runs (compiled union-find).

A run is (first, last): columns first..last of one row are foreground; the runs of row y are
`row_start[y]` .. `row_start[y + 1] - 1`, sorted by column and maximal (runs in one row never
touch). Runs [a, b] in row y and [c, d] in row y + 1 are 8-adjacent iff c <= b + 1 and a <= d + 1:
a two-pointer merge of consecutive rows finds every such pair, a union-find over runs joins them.
Each component's root is its lowest run index (union by index), the first run in raster order:
size = sum of run lengths; the largest size wins and equal sizes go to the lower root, i.e. the
component whose first pixel in row-major order comes first (scipy.ndimage.label numbers
components in that order, so this is `components.largest_component_box`'s tie rule).
"""

from __future__ import annotations

import numpy as np

from gwapbench.compiled import njit


@njit(cache=True)
def _find(parent: np.ndarray, node: int) -> int:
    while parent[node] != node:
        parent[node] = parent[parent[node]]  # path halving
        node = parent[node]
    return node


@njit(cache=True)
def largest_run_component_box(first: np.ndarray, last: np.ndarray, row_start: np.ndarray, box: np.ndarray) -> None:
    """Write into `box` (4,) the inclusive box (x1, y1, x2, y2) of the largest component of the runs
    (`first`, `last`, `row_start` (height + 1,) as in the module docstring); (0, 0, 0, 0) without runs."""
    height = len(row_start) - 1
    count = row_start[height]
    box[:] = 0
    if count == 0:
        return
    parent = np.arange(count)
    for y in range(1, height):
        above, above_end = row_start[y - 1], row_start[y]
        for run in range(row_start[y], row_start[y + 1]):
            while above < above_end and last[above] < first[run] - 1:  # never touches this run or later ones
                above += 1
            other = above
            while other < above_end and first[other] <= last[run] + 1:
                a, b = _find(parent, run), _find(parent, other)
                if a != b:
                    parent[max(a, b)] = min(a, b)
                other += 1
    size = np.zeros(count, np.int64)
    for run in range(count):
        size[_find(parent, run)] += last[run] - first[run] + 1
    best = 0
    for run in range(count):  # roots in increasing index: a strictly larger size is needed to win
        if size[run] > size[best]:
            best = run
    box[0], box[2] = first[best], last[best]
    box[1] = box[3] = -1
    for y in range(height):
        for run in range(row_start[y], row_start[y + 1]):
            if parent[run] == best or _find(parent, run) == best:
                box[0] = min(box[0], first[run])
                box[2] = max(box[2], last[run])
                if box[1] < 0:
                    box[1] = y
                box[3] = y
