"""Box of the largest 8-connected component of one binary mask, given as pixels or as row runs.

Boxes are 0-based inclusive (x1, y1, x2, y2) indices into the mask; no foreground gives `EMPTY_BOX`.
Of equal-size components the one whose first pixel in row-major order comes first wins (the numbering
of scipy.ndimage.label, so both forms agree). 8-connectivity is also what OpenCV's contour following
uses for foreground; see docs/metrics.md for where contours differ.

Runs: a run is (first, last): columns first..last of one row are foreground; the runs of row y are
`row_start[y]` .. `row_start[y + 1] - 1`, sorted by column and maximal (runs in one row never
touch). Runs [a, b] in row y and [c, d] in row y + 1 are 8-adjacent iff c <= b + 1 and a <= d + 1:
a two-pointer merge of consecutive rows finds every such pair, the union-find joins them with the
lowest run index as root, the first run in raster order.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from gwapbench.compiled import njit
from gwapbench.metrics._kernels.union_find import find, join_to_lower

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
EMPTY_BOX = (0, 0, 0, 0)  # the box reported where a mask has no foreground (as wsolevaluation)


def largest_component_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Inclusive box of the largest 8-connected component of a 2-D boolean mask (`EMPTY_BOX` if none).

    `ndimage.label` numbers components in raster order and argmax takes the first maximum, so of
    equal-size components the one whose first pixel comes first in row-major order wins.
    """
    labels, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
    if count == 0:
        return EMPTY_BOX
    best = int(np.argmax(np.bincount(labels.reshape(-1))[1:])) + 1
    rows, cols = ndimage.find_objects(labels, max_label=best)[best - 1]
    return (cols.start, rows.start, cols.stop - 1, rows.stop - 1)


@njit(cache=True)
def largest_run_component_box(first: np.ndarray, last: np.ndarray, row_start: np.ndarray, box: np.ndarray) -> None:
    """Write into `box` (4,) the inclusive box (x1, y1, x2, y2) of the largest component of the runs
    (`first`, `last`, `row_start` (height + 1,) as in the module docstring); (0, 0, 0, 0) without runs.
    Size = sum of run lengths; roots are visited in increasing index, so equal sizes go to the lower
    root (`largest_component_box`'s tie rule)."""
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
                join_to_lower(parent, run, other)
                other += 1
    size = np.zeros(count, np.int64)
    for run in range(count):
        size[find(parent, run)] += last[run] - first[run] + 1
    best = 0
    for run in range(count):  # roots in increasing index: a strictly larger size is needed to win
        if size[run] > size[best]:
            best = run
    box[0], box[2] = first[best], last[best]
    box[1] = box[3] = -1
    for y in range(height):
        for run in range(row_start[y], row_start[y + 1]):
            if parent[run] == best or find(parent, run) == best:
                box[0] = min(box[0], first[run])
                box[2] = max(box[2], last[run])
                if box[1] < 0:
                    box[1] = y
                box[3] = y
