"""Foreground runs of a bilinearly upsampled float32 heat map above threshold * max, without its pixels.

torch's CPU bilinear upsampling (`align_corners=False`) of an (h, w) float32 map M to (H, W) is,
per axis (shown for x; y alike), with s = float32(w / W):

    src(x) = float32(max(s (x + 0.5) - 0.5, 0)),  j(x) = min(floor src, w - 1),  j1 = min(j + 1, w - 1)
    b1(x) = src - j (float32, clipped to [0, 1]),  b0(x) = float32(1 - b1)
    t_r(x) = fma(M[r, j], b0, M[r, j1] b1),  U[y, x] = fma(t_i(x), a0(y), t_i1(x) a1(y))   (float32)

On a "piece" of columns sharing j (and of rows sharing i), the weights are monotone, so in exact
arithmetic U is monotone along the piece and {x : U > T} is a prefix or suffix of it; the grid
maximum of U is at a piece end in both axes. A row then costs O(w) work plus a solve per
crossing (estimate, corrected by one column) instead of O(W), and the foreground comes out as
runs (row, first, last column).

Exactness. Decisions use U64, U in float64 with torch's float32 weights, which differs from the
float32 value by < 3 units u = 2^-24 max|M| (rounding of the four products and two sums; measured
2.8 u on random maps); the level T = float32(max U * float32(threshold)) is exact once the
maximum is. A pixel with |U64 - T| > DELTA (16 u) is decided by U64. The pixel next to a
run end, when within DELTA, is recomputed in float32 with torch's operation order (fma emulated
in float64) and decides alone. The image is "ambiguous" and left to the pixel path when that is
not enough: a piece end within DELTA of T, two pixels of one crossing within DELTA, or a
non-corner pixel within 2 DELTA of the maximum (a flat top whose float32 maximum may be inside).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from gwapbench.metrics.run_components import largest_run_component_boxes

DELTA_UNITS = 16.0  # DELTA = 16 * 2^-24 * max |M|: the band around T where float64 may disagree with float32
GENERIC_KERNEL_MIN_SUM = 128  # torch upsamples with its generic kernel (emulated here) when H + W > 128
_BLOCK_ENTRIES = 1 << 22  # (image, row, piece) entries per vectorized block


def axis_weights(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per output index: samples (low, high) and float32 weights (w_low, w_high), as torch computes them
    on the CPU (float32 scale, source coordinate rounded once to float32)."""
    scale = np.float64(np.float32(size_in) / np.float32(size_out))
    src = np.maximum((scale * (np.arange(size_out) + 0.5) - 0.5).astype(np.float32), np.float32(0))
    low = np.minimum(np.floor(src).astype(np.int64), size_in - 1)
    w_high = np.clip(src - low.astype(np.float32), np.float32(0), np.float32(1))
    return low, np.minimum(low + 1, size_in - 1), np.float32(1) - w_high, w_high


def _pieces(low: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) index of each maximal range of output indices sharing the lower sample."""
    starts = np.flatnonzero(np.r_[True, low[1:] != low[:-1]])
    return starts, np.r_[starts[1:] - 1, len(low) - 1]


def _fma32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """float32(a b + c) rounded once (a b is exact in float64; the sum is rounded twice, which
    differs from one rounding only in halfway cases of probability ~2^-29)."""
    return (a.astype(np.float64) * b + c).astype(np.float32)


def float32_pixels(maps: np.ndarray, y_axis: tuple, x_axis: tuple, image: np.ndarray, y: np.ndarray,
                   x: np.ndarray) -> np.ndarray:
    """U[image, y, x] exactly as torch's CPU float32 kernel: horizontal fma per source row, then vertical."""
    y_low, y_high, a0, a1 = (values[y] for values in y_axis)
    x_low, x_high, b0, b1 = (values[x] for values in x_axis)
    top = _fma32(maps[image, y_low, x_low], b0, maps[image, y_low, x_high] * b1)
    bottom = _fma32(maps[image, y_high, x_low], b0, maps[image, y_high, x_high] * b1)
    return _fma32(top, a0, bottom * a1)


@functools.cache
def emulation_matches_torch() -> bool:
    """Whether `float32_pixels` reproduces this torch build bit for bit on a probe upsampling."""
    probe = np.random.default_rng(0).random((1, 9, 13), dtype=np.float32) ** 3
    height, width = 157, 211
    expected = torch.nn.functional.interpolate(torch.from_numpy(probe)[None], size=(height, width),
                                               mode="bilinear", align_corners=False)[0, 0].numpy()
    y, x = np.repeat(np.arange(height), width), np.tile(np.arange(width), height)
    ours = float32_pixels(probe, axis_weights(9, height), axis_weights(13, width), np.zeros_like(y), y, x)
    return bool(np.array_equal(ours.reshape(height, width), expected))


def float32_grid(maps: np.ndarray, y_axis: tuple, x_axis: tuple, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """(n, len(ys), len(xs)) U on the grid ys x xs, same float32 operations as `float32_pixels`."""
    y_low, y_high, a0, a1 = (values[ys] for values in y_axis)
    x_low, x_high, b0, b1 = (values[xs] for values in x_axis)
    across = _fma32(maps[:, :, x_low], b0, maps[:, :, x_high] * b1)
    return _fma32(across[:, y_low], a0[:, None], across[:, y_high] * a1[:, None])


class _Rows:
    """Float64 rows c = a0 M[i] + a1 M[i1] of the output rows of a block, and the per-entry lookups."""

    def __init__(self, mixed: np.ndarray, x_axis: tuple) -> None:
        x_low, x_high, b0, b1 = x_axis
        self.first, self.last = _pieces(x_low)
        self.b0, self.b1 = b0.astype(np.float64), b1.astype(np.float64)
        # b1 per column at the end of each piece, and the last column of the piece's flat start
        self.slope = self.b1[self.last] - self.b1[np.maximum(self.last - 1, self.first)]
        flat = b1 == np.repeat(b1[self.first], self.last - self.first + 1)  # a prefix of each piece
        self.flat_end = np.maximum.reduceat(np.where(flat, np.arange(len(b1)), -1), self.first)
        lows = x_low[self.first]  # every sample when upsampling: then no gather is needed
        same = np.array_equal(lows, np.arange(mixed.shape[2]))
        self.low_value = (mixed if same else mixed[:, :, lows]).reshape(-1)  # per (image, row, piece) entry
        self.high_value = mixed[:, :, x_high[self.first]].reshape(-1)

    def value(self, x: np.ndarray, entries: np.ndarray) -> np.ndarray:
        return self.low_value[entries] * self.b0[x] + self.high_value[entries] * self.b1[x]


def upsampled_runs(maps: np.ndarray, height: int, width: int, threshold: float
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Runs of {U > T}, T = float32(max U * float32(threshold)), of n float32 maps (n, h, w) upsampled
    to (height, width): (image, row, first, last) in row-major order, and the (n,) bool mask of
    ambiguous images (see the module docstring; their runs are not returned)."""
    num = len(maps)
    values = maps.astype(np.float64)
    y_axis, x_axis = axis_weights(maps.shape[1], height), axis_weights(maps.shape[2], width)
    delta = DELTA_UNITS * 2.0**-24 * np.abs(values).reshape(num, -1).max(axis=1)
    level, ambiguous = _level(maps, y_axis, x_axis, threshold, delta)
    y_low, y_high, a0, a1 = y_axis
    out = []
    per_block = max(1, _BLOCK_ENTRIES // (len(_pieces(x_axis[0])[0]) * height))
    for begin in range(0, num, per_block):
        block = np.arange(begin, min(num, begin + per_block))
        mixed = values[block][:, y_low] * a0[None, :, None] + values[block][:, y_high] * a1[None, :, None]
        image, row, first, last, bad = _block_runs(maps, block, mixed, level[block], delta[block], y_axis, x_axis)
        ambiguous[block] |= bad
        out.append((image, row, first, last))
    image, row, first, last = (np.concatenate(parts) for parts in zip(*out))
    keep = ~ambiguous[image]
    return image[keep], row[keep], first[keep], last[keep], ambiguous


def _level(maps: np.ndarray, y_axis: tuple, x_axis: tuple, threshold: float, delta: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """(n,) float64 level T of each image and the mask of images whose float32 maximum may be off a corner.

    Corners: first and last index of each piece in both axes, and every index past the last
    sample. Next candidates: their neighbours inside the piece (in exact arithmetic the maximum
    of the non-corner pixels is among them), skipping indices whose samples and weights equal
    their neighbour's (same value, bit for bit).
    """
    num = len(maps)
    corners, near = [], []
    for axis in (y_axis, x_axis):
        # indices with the same samples and weights give bit-identical values: keep the first of each
        low, high, _, w_high = axis
        distinct = np.flatnonzero(np.r_[True, (low[1:] != low[:-1]) | (w_high[1:] != w_high[:-1])])
        first, last = _pieces(low[distinct])
        # past the last sample (low == high) the value is M (b0 + b1), flat up to rounding: all are corners
        past_last = distinct[low[distinct] == high[distinct]]
        corners.append(np.unique(np.r_[distinct[first], distinct[last], past_last]))
        inner = np.r_[np.minimum(first + 1, last), np.maximum(last - 1, first)]
        near.append(np.unique(np.r_[corners[-1], distinct[inner]]))
    rows, cols = near
    y_low, y_high, a0, a1 = (v[rows] for v in y_axis)
    x_low, x_high, b0, b1 = (v[cols] for v in x_axis)
    values = maps.astype(np.float64)
    mixed = values[:, y_low] * a0[None, :, None].astype(np.float64) + values[:, y_high] * a1[None, :, None]
    u64 = (mixed[:, :, x_low] * b0.astype(np.float64) + mixed[:, :, x_high] * b1).reshape(num, -1)
    grid_y, grid_x = np.repeat(rows, len(cols)), np.tile(cols, len(rows))
    is_corner = np.isin(grid_y, corners[0]) & np.isin(grid_x, corners[1])
    peak64 = u64[:, is_corner].max(axis=1)
    second = u64[:, ~is_corner].max(axis=1, initial=-np.inf)
    peak32 = float32_grid(maps, y_axis, x_axis, corners[0], corners[1]).reshape(num, -1).max(axis=1)
    level = (peak32 * np.float32(threshold)).astype(np.float64)
    return level, second >= peak64 - 2 * delta


def _block_runs(maps: np.ndarray, block: np.ndarray, mixed: np.ndarray, level: np.ndarray, delta: np.ndarray,
                y_axis: tuple, x_axis: tuple) -> tuple[np.ndarray, ...]:
    """Runs of one block of images (see `upsampled_runs`) and the block's ambiguous mask."""
    num, height, _ = mixed.shape
    rows = _Rows(mixed, x_axis)
    pieces = len(rows.first)
    shape = (num, height, pieces)
    low_value, high_value = rows.low_value.reshape(shape), rows.high_value.reshape(shape)
    entry_level, entry_delta = level[:, None, None], delta[:, None, None]
    gap_first = low_value * rows.b0[rows.first] + high_value * rows.b1[rows.first] - entry_level
    gap_last = low_value * rows.b0[rows.last] + high_value * rows.b1[rows.last] - entry_level
    bad = (np.abs(gap_first) <= entry_delta) | (np.abs(gap_last) <= entry_delta)
    bad_image = bad.reshape(num, -1).any(axis=1)
    above_first, above_last = (gap_first > 0).reshape(-1), (gap_last > 0).reshape(-1)
    kept = np.flatnonzero(above_first | above_last)
    piece = kept % pieces
    image, row = kept // (height * pieces), (kept // pieces) % height
    run_first, run_last = rows.first[piece], rows.last[piece]
    cross = np.flatnonzero(above_first[kept] != above_last[kept])
    if len(cross):
        rising = above_last[kept[cross]]
        boundary, bad_cross = _crossings(maps, block, rows, kept[cross], image[cross], row[cross], piece[cross],
                                         level[image[cross]], delta[image[cross]], rising, y_axis, x_axis)
        bad_image[image[cross[bad_cross]]] = True
        run_first[cross] = np.where(rising, boundary, run_first[cross])
        run_last[cross] = np.where(rising, run_last[cross], boundary - 1)
    # merge runs of consecutive pieces that touch (same row, next first = last + 1)
    joins = np.zeros(len(kept), dtype=bool)
    joins[1:] = (kept[1:] == kept[:-1] + 1) & (row[1:] == row[:-1]) & (run_first[1:] == run_last[:-1] + 1)
    starts = np.flatnonzero(~joins)
    ends = np.append(starts[1:], len(kept))[: len(starts)] - 1
    return block[image[starts]], row[starts], run_first[starts], run_last[ends], bad_image


def _crossings(maps, block, rows, entries, image, row, piece, level, delta, rising, y_axis, x_axis):
    """First column on the far side of the level in each crossing piece, and which are ambiguous.

    With b0 ~ 1 - b1 the value low + (high - low) b1 crosses T at b1* = (T - low) / (high - low);
    b1 is nondecreasing and nearly affine on a piece, so the boundary b (b - 1 near side, b far
    side) is an estimate corrected by one column, then checked in float64. A pixel of b - 1, b within DELTA of T is
    recomputed in float32 and may move b by one; two such pixels, one at b - 2 or b + 1, or a
    float64 check that fails make the crossing ambiguous.
    """
    lo, hi = rows.first[piece], rows.last[piece]
    low, high = rows.low_value[entries], rows.high_value[entries]
    # b1 is (up to float32 rounding, ~1e-6) affine on the piece after its flat start: estimate the
    # first column with b1 > b1* from the last column, then correct it by one column either way
    with np.errstate(divide="ignore", invalid="ignore"):  # high == low: flat up to rounding, left ambiguous
        wanted = (level - low) / (high - low)
        estimate = hi - (rows.b1[hi] - wanted) / rows.slope[piece]
    lowest = rows.flat_end[piece] + 1
    guess = np.minimum(np.maximum(np.floor(np.where(np.isfinite(estimate), estimate, 0.0)).astype(np.int64) + 1,
                                  lowest), hi)
    right = guess - 1 + ((guess - 1 < lowest) | (rows.b1[guess - 1] < wanted)) + (rows.b1[guess] < wanted)
    right = np.minimum(np.maximum(right, lowest), hi)

    def gap(x: np.ndarray, subset: slice | np.ndarray = slice(None)) -> np.ndarray:
        return low[subset] * rows.b0[x] + high[subset] * rows.b1[x] - level[subset]

    gap_before, gap_at = gap(right - 1), gap(right)
    close_before, close_at = np.abs(gap_before) <= delta, np.abs(gap_at) <= delta
    bad = ((gap_before > 0) == rising) | ((gap_at > 0) != rising) | (close_before & close_at)
    # one pixel further from T is outside DELTA unless U is flat there (checked where it matters)
    for is_close, offset, inside in ((close_before, -2, lo), (close_at, 1, hi)):
        check = np.flatnonzero(is_close)
        column = right[check] + offset
        valid = (column >= inside[check]) if offset < 0 else (column <= inside[check])
        column = np.minimum(np.maximum(column, lo[check]), hi[check])
        bad[check] |= valid & (np.abs(gap(column, check)) <= delta[check])
    for offset, is_close, step in ((-1, close_before, -1), (0, close_at, 1)):
        check = np.flatnonzero(is_close & ~bad)
        if len(check):
            exact = float32_pixels(maps, y_axis, x_axis, block[image[check]], row[check], right[check] + offset)
            is_far = (exact.astype(np.float64) > level[check]) == rising[check]
            moved = is_far if step < 0 else ~is_far
            right[check[moved]] += step
    return right, bad


def mask_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, first, last) runs of True in a 2-D boolean mask, row-major order."""
    height, width = mask.shape
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    change = np.diff(padded, axis=1)
    start_row, start_col = np.nonzero(change == 1)
    _, end_col = np.nonzero(change == -1)
    return start_row, start_col, end_col - 1


def upsampled_largest_boxes(maps: np.ndarray, height: int, width: int, threshold: float) -> np.ndarray:
    """(n, 4) boxes of the largest 8-connected component of {U > threshold * max U}, U the torch
    bilinear upsampling (align_corners=False) of each float32 map (n, h, w) to (height, width),
    equal to the pixel path's; ambiguous images are upsampled by torch and their mask split into runs."""
    image, row, first, last, ambiguous = upsampled_runs(maps, height, width, threshold)
    parts = [(image, row, first, last)]
    for index in np.flatnonzero(ambiguous):
        resized = torch.nn.functional.interpolate(
            torch.from_numpy(np.ascontiguousarray(maps[index]))[None, None], size=(height, width),
            mode="bilinear", align_corners=False)[0, 0]
        exact_row, exact_first, exact_last = mask_runs((resized > threshold * resized.max()).numpy())
        parts.append((np.full(len(exact_row), index), exact_row, exact_first, exact_last))
    image, row, first, last = (np.concatenate(values) for values in zip(*parts))
    if len(parts) > 1:  # each part is in row-major order and holds whole images: a stable sort by image
        order = np.argsort(image, kind="stable")
        image, row, first, last = image[order], row[order], first[order], last[order]
    return largest_run_component_boxes(image, row, first, last, len(maps))
