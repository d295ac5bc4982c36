"""Box of the largest component of {U > threshold * max U}, U a float32 map bilinearly upsampled by torch,
without building U (compiled; one map per step of a parallel loop).

torch's CPU bilinear upsampling (`align_corners=False`) of an (h, w) float32 map M to (H, W) is,
per axis (shown for x; y alike), with s = float32(w / W):

    src(x) = float32(max(s (x + 0.5) - 0.5, 0)),  j(x) = min(floor src, w - 1),  j1 = min(j + 1, w - 1)
    b1(x) = src - j (float32, clipped to [0, 1]),  b0(x) = float32(1 - b1)
    t_r(x) = fma(M[r, j], b0, M[r, j1] b1),  U[y, x] = fma(t_i(x), a0(y), t_i1(x) a1(y))   (float32)

`pixel_value` computes this bit for bit (fma rounded once: see `_fma32`). The real-number value
with the real complements, V = (1 - a1)((1 - b1) M[i, j] + b1 M[i, j1]) + a1((1 - b1) M[i1, j] + b1 M[i1, j1]),
is affine in b1 along a "piece" of columns sharing j, and b1 is nondecreasing there, so V is
monotone on each piece of each row, and bilinear in (a1, b1) on a rectangle of a row piece and a
column piece (its maximum over the rectangle is at a corner). Rounding bound: |U - V| <= 4u + 4e
(u = 2^-24 max|M|, e = 2^-150: four float32 roundings and the two rounded complements b0, a0).

The foreground of a row is decided piece by piece: V at both ends more than BAND = 8u + 2^-140
above the level T (V is evaluated in float64, off by ~2^-50 max|M|): the whole piece; both below
T - BAND: none; otherwise each pixel is decided by V when |V - T| > BAND, else by U itself. The
maximum: U at every corner of the piece grid, then U at every pixel with V >= (that maximum) - BAND
in the rectangles whose corners allow it. T = float32(max U * float32(threshold)). Runs of the
foreground go to `component_boxes.largest_run_component_box`. Cost per map: O(H w + h w) plus a few pixels per run end,
instead of O(H W).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch

from gwapbench.compiled import njit, prange
from gwapbench.metrics._kernels.component_boxes import largest_run_component_box

GENERIC_KERNEL_MIN_SUM = 128  # torch upsamples with its generic kernel (emulated here) when H + W > 128
BAND_UNITS = 8.0  # BAND = 8 * 2^-24 * max|M| + 2^-140: beyond it from the level, V decides for U
_MAPS_PER_TASK = 64  # maps per parallel task (run buffers are allocated once per task)


def axis_weights(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per output index: samples (low, high) and float32 weights (w_low, w_high), as torch computes them
    on the CPU (float32 scale, source coordinate rounded once to float32)."""
    scale = np.float64(np.float32(size_in) / np.float32(size_out))
    src = np.maximum((scale * (np.arange(size_out) + 0.5) - 0.5).astype(np.float32), np.float32(0))
    low = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
    w_high = np.clip(src - low.astype(np.float32), np.float32(0), np.float32(1))
    return low, np.minimum(low + 1, size_in - 1), np.float32(1) - w_high, w_high


@njit(cache=True)
def _fma32(a: float, b: float, c: float) -> float:
    """float32(a b + c) rounded once, for float32 values a, b, c held in float64.

    a b is exact in float64; s = a b + c rounds once, with exact error err (Knuth's two-sum). float32(s)
    is the correctly rounded result unless s is exactly halfway between two float32 values and
    err != 0: then the true value lies on err's side of s, which picks the neighbour.
    """
    product = a * b
    total = product + c
    back = total - product
    err = (product - (total - back)) + (c - back)
    rounded = np.float64(np.float32(total))
    half_gap = total - rounded
    if err == 0.0 or half_gap == 0.0:
        return rounded
    other = rounded + 2.0 * half_gap  # the neighbour when total is halfway, else not a float32
    if np.float64(np.float32(other)) == other and (err > 0.0) == (half_gap > 0.0):
        return other
    return rounded


@njit(cache=True)
def _mul32(a: float, b: float) -> float:
    """float32(a b) for float32 values held in float64 (the float64 product is exact)."""
    return np.float64(np.float32(a * b))


@njit(cache=True)
def pixel_value(values: np.ndarray, width: int, i: int, i1: int, a0: float, a1: float, j: int, j1: int,
                b0: float, b1: float) -> float:
    """U at one pixel, as torch's CPU float32 kernel: horizontal fma per source row, then vertical.
    `values`: the (h, w) map flattened; samples i, i1 (rows) and j, j1 (columns), float32 weights."""
    top = _fma32(values[i * width + j], b0, _mul32(values[i * width + j1], b1))
    bottom = _fma32(values[i1 * width + j], b0, _mul32(values[i1 * width + j1], b1))
    return _fma32(top, a0, _mul32(bottom, a1))


@njit(cache=True)
def upsample_float32(values: np.ndarray, width: int, y_axis: tuple, x_axis: tuple) -> np.ndarray:
    """(H, W) float64 holding U's float32 values at every pixel (`pixel_value`); axes as `axis_weights`."""
    y_low, y_high, a0, a1 = y_axis
    x_low, x_high, b0, b1 = x_axis
    out = np.empty((len(y_low), len(x_low)))
    for y in range(len(y_low)):
        for x in range(len(x_low)):
            out[y, x] = pixel_value(values, width, y_low[y], y_high[y], a0[y], a1[y], x_low[x], x_high[x], b0[x],
                                    b1[x])
    return out


@functools.cache
def emulation_matches_torch() -> bool:
    """Whether `pixel_value` reproduces this torch build bit for bit on a probe upsampling."""
    probe = np.random.default_rng(0).random((9, 13), dtype=np.float32) ** 3
    height, width = 157, 211
    expected = torch.nn.functional.interpolate(torch.from_numpy(probe)[None, None], size=(height, width),
                                               mode="bilinear", align_corners=False)[0, 0].numpy()
    axes = [_float64_weights(axis_weights(size_in, size_out)) for size_in, size_out in ((9, height), (13, width))]
    ours = upsample_float32(probe.astype(np.float64).ravel(), 13, axes[0], axes[1])
    return bool(np.array_equal(ours, expected.astype(np.float64)))


def _float64_weights(axis: tuple) -> tuple:
    """`axis_weights` with the float32 weights held in float64 (the kernels' arrays)."""
    low, high, w_low, w_high = axis
    return low, high, w_low.astype(np.float64), w_high.astype(np.float64)


@njit(cache=True)
def _ideal(values: np.ndarray, width: int, i: int, i1: int, a1: float, j: int) -> float:
    """(1 - a1) M[i, j] + a1 M[i1, j] in float64."""
    top = values[i * width + j]
    return top + a1 * (values[i1 * width + j] - top)


@njit(cache=True)
def _peak(values, width, y_axis, y_pieces, x_axis, x_pieces, band) -> float:
    """max U over the image (module docstring: piece-grid corners, then rectangles that may exceed them)."""
    y_low, y_high, a0, a1 = y_axis
    x_low, x_high, b0, b1 = x_axis
    peak = -np.inf
    for q in range(len(y_pieces) - 1):
        for y in (y_pieces[q], y_pieces[q + 1] - 1):
            for p in range(len(x_pieces) - 1):
                for x in (x_pieces[p], x_pieces[p + 1] - 1):
                    peak = max(peak, pixel_value(values, width, y_low[y], y_high[y], a0[y], a1[y], x_low[x],
                                                 x_high[x], b0[x], b1[x]))
    floor = peak - band
    for q in range(len(y_pieces) - 1):
        y_first, y_last = y_pieces[q], y_pieces[q + 1] - 1
        i, i1 = y_low[y_first], y_high[y_first]
        for p in range(len(x_pieces) - 1):
            x_first, x_last = x_pieces[p], x_pieces[p + 1] - 1
            j, j1 = x_low[x_first], x_high[x_first]
            corner = -np.inf
            for y in (y_first, y_last):
                left, right = _ideal(values, width, i, i1, a1[y], j), _ideal(values, width, i, i1, a1[y], j1)
                corner = max(corner, left + (right - left) * b1[x_first], left + (right - left) * b1[x_last])
            if corner < floor:
                continue
            for y in range(y_first, y_last + 1):
                left, right = _ideal(values, width, i, i1, a1[y], j), _ideal(values, width, i, i1, a1[y], j1)
                for x in range(x_first, x_last + 1):
                    if left + (right - left) * b1[x] >= floor:
                        peak = max(peak, pixel_value(values, width, i, i1, a0[y], a1[y], j, j1, b0[x], b1[x]))
    return peak


@njit(cache=True)
def _grown(buffer: np.ndarray, needed: int) -> np.ndarray:
    """`buffer` copied into one of at least `needed` (and twice its) entries."""
    out = np.empty(max(2 * len(buffer), needed), buffer.dtype)
    out[: len(buffer)] = buffer
    return out


@njit(cache=True)
def _first_above(b1: np.ndarray, lo: int, hi: int, left: float, slope: float, bound: float) -> int:
    """First x in lo..hi with left + slope b1[x] > bound (slope > 0, b1 nondecreasing), or hi + 1.

    b1 is nearly affine on a piece: start at the column where the line through its ends crosses,
    then step (a column or two, except on the clipped start of the first piece)."""
    x = lo
    if b1[hi] > b1[lo]:
        estimate = lo + ((bound - left) / slope - b1[lo]) * (hi - lo) / (b1[hi] - b1[lo])
        x = int(min(max(estimate, lo), hi))
    while x > lo and left + slope * b1[x - 1] > bound:
        x -= 1
    while x <= hi and left + slope * b1[x] <= bound:
        x += 1
    return x


@njit(cache=True)
def _emit(first, last, count, run_first, run_last, a, b):
    """Add columns a..b (a > run_last) to the open run (run_first, run_last) or close it and open a new one;
    returns the new (count, run_first, run_last)."""
    if a == run_last + 1:
        return count, run_first, b
    if run_last >= 0:
        first[count], last[count] = run_first, run_last
        count += 1
    return count, a, b


@njit(cache=True)
def _foreground_runs(values, width, y_axis, x_axis, x_pieces, level, band, first, last, row_start):
    """Runs (first, last) of {U > level} row by row into the buffers (grown when full), row offsets into
    `row_start`; returns the buffers.

    On a piece, gap(x) = V(x) - level = left + slope b1[x] is monotone: columns with gap < -band are
    background, gap > band foreground, the rest (found by two binary searches) are decided by U."""
    y_low, y_high, a0, a1 = y_axis
    x_low, x_high, b0, b1 = x_axis
    out_width = len(x_low)
    mixed = np.empty(width)
    count = 0
    for y in range(len(y_low)):
        row_start[y] = count
        if count + (out_width + 1) // 2 > len(first):  # a row holds at most ceil(W / 2) runs
            first, last = _grown(first, count + (out_width + 1) // 2), _grown(last, count + (out_width + 1) // 2)
        i, i1 = y_low[y], y_high[y]
        for j in range(width):
            mixed[j] = _ideal(values, width, i, i1, a1[y], j) - level
        run_first, run_last = -1, -2
        for p in range(len(x_pieces) - 1):
            x_first, x_last = x_pieces[p], x_pieces[p + 1] - 1
            j, j1 = x_low[x_first], x_high[x_first]
            left, slope = mixed[j], mixed[j1] - mixed[j]
            gap_first, gap_last = left + slope * b1[x_first], left + slope * b1[x_last]
            if gap_first < -band and gap_last < -band:
                continue
            if gap_first > band and gap_last > band:
                count, run_first, run_last = _emit(first, last, count, run_first, run_last, x_first, x_last)
                continue
            exact_first, exact_end = x_first, x_last + 1  # columns decided by U; before: rising ? bg : fg
            if slope > 0:
                exact_first = _first_above(b1, x_first, x_last, left, slope, -band)
                exact_end = _first_above(b1, exact_first, x_last, left, slope, band)
            elif slope < 0:
                exact_first = _first_above(b1, x_first, x_last, -left, -slope, -band)
                exact_end = _first_above(b1, exact_first, x_last, -left, -slope, band)
                if exact_first > x_first:
                    count, run_first, run_last = _emit(first, last, count, run_first, run_last, x_first,
                                                       exact_first - 1)
            for x in range(exact_first, exact_end):
                if pixel_value(values, width, i, i1, a0[y], a1[y], j, j1, b0[x], b1[x]) > level:
                    count, run_first, run_last = _emit(first, last, count, run_first, run_last, x, x)
            if slope > 0 and exact_end <= x_last:
                count, run_first, run_last = _emit(first, last, count, run_first, run_last, exact_end, x_last)
        if run_last >= 0:
            first[count], last[count] = run_first, run_last
            count += 1
    row_start[len(y_low)] = count
    return first, last


@njit(cache=True, parallel=True)
def _largest_boxes(values, layout, low, high, w_low, w_high, pieces, threshold, boxes) -> None:
    """Fill `boxes` (n, 4) with each map's largest component box. `layout` (n, 11) per map: start in
    `values`, map height and width, image height and width, then per axis (y, x) the start of its
    weights in low/high/w_low/w_high, the start of its pieces in `pieces` and their count + 1."""
    count = len(layout)
    tasks = (count + _MAPS_PER_TASK - 1) // _MAPS_PER_TASK
    for task in prange(tasks):
        first, last = np.empty(1 << 14, np.int64), np.empty(1 << 14, np.int64)
        for k in range(task * _MAPS_PER_TASK, min(count, (task + 1) * _MAPS_PER_TASK)):
            start, map_height, map_width = layout[k, 0], layout[k, 1], layout[k, 2]
            height, width = layout[k, 3], layout[k, 4]
            y_at, y_piece_at, y_piece_end = layout[k, 5], layout[k, 6], layout[k, 6] + layout[k, 7]
            x_at, x_piece_at, x_piece_end = layout[k, 8], layout[k, 9], layout[k, 9] + layout[k, 10]
            y_axis = (low[y_at : y_at + height], high[y_at : y_at + height], w_low[y_at : y_at + height],
                      w_high[y_at : y_at + height])
            x_axis = (low[x_at : x_at + width], high[x_at : x_at + width], w_low[x_at : x_at + width],
                      w_high[x_at : x_at + width])
            y_pieces, x_pieces = pieces[y_piece_at:y_piece_end], pieces[x_piece_at:x_piece_end]
            values_k = values[start : start + map_height * map_width]
            band = BAND_UNITS * 2.0**-24 * np.abs(values_k).max() + 2.0**-140
            peak = _peak(values_k, map_width, y_axis, y_pieces, x_axis, x_pieces, band)
            level = np.float64(np.float32(peak * threshold))
            row_start = np.empty(height + 1, np.int64)
            first, last = _foreground_runs(values_k, map_width, y_axis, x_axis, x_pieces, level, band, first, last,
                                           row_start)
            largest_run_component_box(first, last, row_start, boxes[k])


class _AxisTables:
    """The weights and pieces of each distinct (map size, image size) of both axes, concatenated; `add`
    returns where one pair's weights and pieces (first index of each piece, then size_out) start,
    and the number of pieces + 1."""

    def __init__(self) -> None:
        self.parts: list[tuple] = []
        self.piece_parts: list[np.ndarray] = []
        self.size, self.piece_size = 0, 0

    def add(self, size_in: int, size_out: int) -> tuple[int, int, int]:
        weights = _float64_weights(axis_weights(size_in, size_out))
        low = weights[0]
        firsts = np.flatnonzero(np.r_[True, low[1:] != low[:-1]])
        at = (self.size, self.piece_size, len(firsts) + 1)
        self.parts.append(weights)
        self.piece_parts.append(np.r_[firsts, size_out])
        self.size += size_out
        self.piece_size += len(firsts) + 1
        return at


def upsampled_largest_boxes(maps: Sequence[np.ndarray], sizes: np.ndarray, threshold: float) -> np.ndarray:
    """(n, 4) int64 boxes of the largest 8-connected component of {U > threshold * max U}, U the torch
    bilinear upsampling (align_corners=False) of each float32 map to its size (n, 2) (height, width),
    H + W > `GENERIC_KERNEL_MIN_SUM`; (0, 0, 0, 0) when no pixel is above."""
    count = len(maps)
    boxes = np.zeros((count, 4), dtype=np.int64)
    if count == 0:
        return boxes
    shapes = np.array([m.shape for m in maps], dtype=np.int64).reshape(count, 2)
    sizes = np.asarray(sizes, dtype=np.int64).reshape(count, 2)
    tables = _AxisTables()
    at = np.empty((count, 2, 3), dtype=np.int64)  # per map and axis: `_AxisTables.add`
    for axis in (0, 1):
        pairs, inverse = np.unique(np.stack([shapes[:, axis], sizes[:, axis]], axis=1), axis=0, return_inverse=True)
        starts = np.array([tables.add(int(size_in), int(size_out)) for size_in, size_out in pairs])
        at[:, axis] = starts[inverse.reshape(-1)]
    low, high, w_low, w_high = (np.concatenate(column) for column in zip(*tables.parts))
    map_start = np.r_[0, np.cumsum(shapes.prod(axis=1))[:-1]]
    layout = np.column_stack([map_start, shapes, sizes, at.reshape(count, 6)])
    values = np.concatenate([m.reshape(-1) for m in maps]).astype(np.float64)
    threshold32 = float(np.float32(threshold))
    _largest_boxes(values, layout, low, high, w_low, w_high, np.concatenate(tables.piece_parts), threshold32, boxes)
    return boxes
