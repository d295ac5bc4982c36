"""Largest 8-connected component of a binary mask given as horizontal runs, for many images at once.

A run is (image, row, first, last): columns first..last of one row are foreground. Runs [a, b]
in row y and [c, d] in row y + 1 are 8-adjacent iff c <= b + 1 and a <= d + 1; runs in one row
never touch (they are maximal). Components = connected components of that run graph (one
sparse `connected_components` call over all images); size = sum of run lengths; box = min/max
of run ends and rows; tie rule of `components.largest_component_box` (scipy labels in raster
order): the component whose first pixel in row-major order comes first wins.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from gwapbench.metrics.components import EMPTY_BOX


def run_adjacency(image: np.ndarray, row: np.ndarray, first: np.ndarray, last: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(sources, targets): every pair of 8-adjacent runs in consecutive rows.

    Runs must be sorted by (image, row, first). In a row, firsts and lasts both increase, so the
    runs of row y + 1 touching [a, b] are a contiguous slice: from the first with last >= a - 1 to
    the last with first <= b + 1 (two searchsorted calls on (image, row, column) keys).
    """
    span = int(max(last.max(initial=0), 0)) + 3
    line = image.astype(np.int64) * (int(row.max(initial=0)) + 2) + row
    first_key = line * span + (first + 1)
    last_key = line * span + (last + 1)
    next_line = (line + 1) * span
    lo = np.searchsorted(last_key, next_line + first, side="left")  # last + 1 >= a  <=>  last >= a - 1
    hi = np.searchsorted(first_key, next_line + last + 2, side="right")  # first + 1 <= b + 2
    counts = np.maximum(hi - lo, 0)
    sources = np.repeat(np.arange(len(image)), counts)
    offsets = np.arange(len(sources)) - np.repeat(np.cumsum(counts) - counts, counts)
    return sources, np.repeat(lo, counts) + offsets


def largest_run_component_boxes(image: np.ndarray, row: np.ndarray, first: np.ndarray, last: np.ndarray,
                                num_images: int) -> np.ndarray:
    """(num_images, 4) int64 inclusive boxes (x1, y1, x2, y2) of each image's largest component;
    `EMPTY_BOX` for an image without runs. Runs sorted by (image, row, first)."""
    boxes = np.tile(np.array(EMPTY_BOX, dtype=np.int64), (num_images, 1))
    count = len(image)
    if count == 0:
        return boxes
    sources, targets = run_adjacency(image, row, first, last)
    graph = sparse.coo_matrix((np.ones(len(sources), dtype=np.int8), (sources, targets)), shape=(count, count))
    num_components, label = csgraph.connected_components(graph.tocsr(), directed=False)
    # scipy numbers components in order of their lowest node (checked): the first run of each
    # component, its first pixel in row-major order, is where the running maximum label rises
    rises = np.empty(count, dtype=bool)
    rises[0] = True
    rises[1:] = label[1:] > np.maximum.accumulate(label)[:-1]
    leader = np.flatnonzero(rises)
    if len(leader) != num_components or not np.array_equal(label[leader], np.arange(num_components)):
        raise RuntimeError("scipy connected_components no longer numbers components in node order")
    size = np.bincount(label, weights=last - first + 1, minlength=num_components)
    comp_image = image[leader]
    best = np.lexsort((leader, -size, comp_image))
    winners = best[np.r_[True, comp_image[best][1:] != comp_image[best][:-1]]]
    # box of each winner: its runs are a subsequence of its image's runs (runs are in image order)
    is_winner = np.zeros(num_components, dtype=bool)
    is_winner[winners] = True
    runs = np.flatnonzero(is_winner[label])
    starts = np.flatnonzero(np.r_[True, image[runs][1:] != image[runs][:-1]])
    owner = image[runs][starts]
    boxes[owner, 0] = np.minimum.reduceat(first[runs], starts)
    boxes[owner, 1] = row[runs][starts]
    boxes[owner, 2] = np.maximum.reduceat(last[runs], starts)
    boxes[owner, 3] = np.maximum.reduceat(row[runs], starts)
    return boxes
