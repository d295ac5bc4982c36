"""Bounding rectangles of the contours OpenCV's `findContours(RETR_CCOMP)` traces (Suzuki & Abe 1985)
in a binary mask whose 1-pixel frame is zero (OpenCV 2.x zeroed it before tracing), from row runs.

Every 8-connected foreground component has one outer border, whose extreme pixels are the
component's extreme pixels: its `boundingRect` is the component's box. Every 4-connected background
component not joined to the frame (a hole) has one hole border, made of the foreground pixels
4-adjacent to it: its rectangle is the hole's box grown by one pixel on each side.
"""

from __future__ import annotations

import numpy as np

from gwapbench.compiled import njit
from gwapbench.metrics._kernels.union_find import find, join_to_lower

RECT_COLUMNS = 4  # x, y, width, height as cv::boundingRect


@njit(cache=True, nogil=True)
def _row_starts(run_y: np.ndarray, y_lo: int, rows: int) -> np.ndarray:
    """starts[i]..starts[i + 1]: the runs of row y_lo + i - 1 (rows 0 and rows + 1 are empty)."""
    starts = np.zeros(rows + 3, dtype=np.int64)
    for y in run_y:
        starts[y - y_lo + 2] += 1
    for i in range(1, rows + 3):
        starts[i] += starts[i - 1]
    return starts


@njit(cache=True, nogil=True)
def _join_rows(parent: np.ndarray, starts: np.ndarray, run_a: np.ndarray, run_b: np.ndarray, slack: int) -> None:
    """Union runs of consecutive rows whose columns overlap, widened by `slack` (1: 8-connectivity,
    0: 4-connectivity)."""
    for i in range(2, len(starts) - 2):
        j = starts[i - 1]
        for r in range(starts[i], starts[i + 1]):
            while j < starts[i] and run_b[j] < run_a[r] - slack:
                j += 1
            k = j
            while k < starts[i] and run_a[k] <= run_b[r] + slack:
                join_to_lower(parent, r, k)
                k += 1


@njit(cache=True, nogil=True)
def _component_rects(parent: np.ndarray, run_y: np.ndarray, run_a: np.ndarray, run_b: np.ndarray,
                     excluded: np.ndarray, grow: int) -> np.ndarray:
    """(K, 4) (x, y, w, h) of each union-find component of runs grown by `grow` pixels on each side,
    components holding an `excluded` run left out, in the order of their first run."""
    count = len(parent)
    boxes = np.empty((count, 4), dtype=np.int64)
    drop = np.zeros(count, dtype=np.bool_)
    for i in range(count):
        r = find(parent, i)
        if r == i:
            boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3] = run_a[i], run_y[i], run_b[i], run_y[i]
        else:
            boxes[r, 0], boxes[r, 2] = min(boxes[r, 0], run_a[i]), max(boxes[r, 2], run_b[i])
            boxes[r, 1], boxes[r, 3] = min(boxes[r, 1], run_y[i]), max(boxes[r, 3], run_y[i])
        drop[r] |= excluded[i]
    rects = np.empty((count, RECT_COLUMNS), dtype=np.int64)
    n = 0
    for i in range(count):
        if parent[i] == i and not drop[i]:
            rects[n, 0], rects[n, 1] = boxes[i, 0] - grow, boxes[i, 1] - grow
            rects[n, 2] = boxes[i, 2] - boxes[i, 0] + 1 + 2 * grow
            rects[n, 3] = boxes[i, 3] - boxes[i, 1] + 1 + 2 * grow
            n += 1
    return rects[:n]


@njit(cache=True, nogil=True)
def _hole_gaps(run_y: np.ndarray, run_a: np.ndarray, run_b: np.ndarray, starts: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Background gaps between consecutive runs of a row (every hole pixel lies in one) and the
    per-row starts of the gaps, in the layout of `_row_starts`."""
    count = max(0, len(run_y) - 1)
    gap_y = np.empty(count, dtype=np.int64)
    gap_a = np.empty(count, dtype=np.int64)
    gap_b = np.empty(count, dtype=np.int64)
    gap_starts = np.zeros(len(starts), dtype=np.int64)
    g = 0
    for i in range(1, len(starts) - 1):
        gap_starts[i] = g
        for r in range(starts[i], starts[i + 1] - 1):
            gap_y[g], gap_a[g], gap_b[g] = run_y[r], run_b[r] + 1, run_a[r + 1] - 1
            g += 1
    gap_starts[len(starts) - 1] = g
    return gap_y[:g], gap_a[:g], gap_b[:g], gap_starts


@njit(cache=True, nogil=True)
def _gaps_on_frame(gap_a: np.ndarray, gap_b: np.ndarray, gap_starts: np.ndarray, run_a: np.ndarray,
                   run_b: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Gaps 4-adjacent to background outside every gap of the row above or below (left of its
    first run, right of its last, or a row without runs): those join the frame's component."""
    on_frame = np.zeros(len(gap_a), dtype=np.bool_)
    for i in range(1, len(starts) - 2):
        for side in (i - 1, i + 1):
            has_runs = starts[side + 1] > starts[side]
            for q in range(gap_starts[i], gap_starts[i + 1]):
                if not has_runs or gap_a[q] < run_a[starts[side]] or gap_b[q] > run_b[starts[side + 1] - 1]:
                    on_frame[q] = True
    return on_frame


@njit(cache=True, nogil=True)
def rects_of_runs(run_y: np.ndarray, run_a: np.ndarray, run_b: np.ndarray) -> np.ndarray:
    """(K, 4) `boundingRect` (x, y, w, h) of every RETR_CCOMP contour of the mask given by its runs
    (raster order, none on the frame): outer borders first, then hole borders."""
    if len(run_y) == 0:
        return np.empty((0, RECT_COLUMNS), dtype=np.int64)
    y_lo = run_y[0]
    starts = _row_starts(run_y, y_lo, run_y[-1] - y_lo + 1)
    parent = np.arange(len(run_y))
    _join_rows(parent, starts, run_a, run_b, 1)
    outer = _component_rects(parent, run_y, run_a, run_b, np.zeros(len(run_y), dtype=np.bool_), 0)
    gap_y, gap_a, gap_b, gap_starts = _hole_gaps(run_y, run_a, run_b, starts)
    if len(gap_y) == 0:
        return outer
    on_frame = _gaps_on_frame(gap_a, gap_b, gap_starts, run_a, run_b, starts)
    gap_parent = np.arange(len(gap_y))
    _join_rows(gap_parent, gap_starts, gap_a, gap_b, 0)
    holes = _component_rects(gap_parent, gap_y, gap_a, gap_b, on_frame, 1)
    return np.concatenate((outer, holes))
