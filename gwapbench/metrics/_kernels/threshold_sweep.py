"""Compiled sweep over all upper level sets of uint8 maps: best box IoU at every CAM threshold.

For a map q (uint8 levels) and record levels r_j, the foreground at threshold j is {q > r_j}
(wsolevaluation's `cv2.threshold(..., int(t * max q), THRESH_BINARY)`). Upper level sets are
nested, so one sweep adds the pixels level by level from max q down to 1 (a counting sort
buckets them) into a union-find over pixels that keeps, at each root, the component's size,
box, and for ranking (one box a map) its first pixel, bit-quad area and Euler number;
after level v the thresholds with r_j = v - 1 are recorded. Cost: O(pixels) plus, per recorded
level, one box (largest component) or one pass over the live components (all components).

Box conventions (`box_methods.BOX_CONVENTIONS`; docs/metrics.md, "MaxBoxAcc box conventions"):
- "components": the largest 8-connected component by pixel count (ties: the first pixel in
  row-major order wins), or every component with `multi_contour`; inclusive boxes.
- "wsolevaluation": OpenCV `findContours(RETR_TREE)` as wsolevaluation uses it. Contours are
  ranked by `cv2.contourArea`, the area of the polygon through the pixel centres of the outer
  border, which is the bit-quad area n(Q4) + n(Q3) / 2 (Gray 1971) of the component with its
  holes filled; tied maxima go to the component found last in raster order (OpenCV lists sibling
  contours newest first, and a component inside a hole never ties with the maximum, since its
  ancestor's area is larger). Boxes are boundingRect's (x, y, min(x + w, W - 1), min(y + h, H - 1)).
  `multi_contour` also scores each hole's contour: a hole (a 4-connected background component
  that does not reach the border) with box X1..X2, Y1..Y2 has the contour box X1 - 1 .. X2 + 1,
  found by a second, ascending sweep over the background.
Hole-filled areas are exact: a component is hole-free when its Euler number (Gray's
8-connected bit-quad formula, (n(Q1) - n(Q3) - 2 n(QD)) / 4) is 1; otherwise its filled area is
the shoelace area of its outer border, traced as findContours traces it (Suzuki & Abe 1985) at a
cost of the border's length, and only when bounds (unfilled area <= filled area <= box area)
cannot decide the ranking.

Pixel loops: neighbour masks come from a uint8 membership array (a quarter of the parents' cache
footprint); one find per group of touching neighbours; merged-away roots leave the live list lazily
(`_prune`, at recorded levels), which keeps the per-pixel code free of list bookkeeping; indices are
np.uint64, for which numba emits no negative-index fix-up (1.1-1.4x on these loops). The hole sweep
runs only when the foreground's Euler number (kept as one sum with `multi_contour`) shows holes,
and only up to the last such level; its padding ring is background joined to one root, so reaching
the border is one merge, not a per-pixel test.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from gwapbench.compiled import njit, prange
from gwapbench.metrics._kernels.union_find import find

_MAPS_PER_TASK = 16  # maps per parallel task (work arrays are allocated once per task)

# Per 2x2 quad, indexed by tl | tr << 1 | bl << 2 | br << 3: twice the area of the polygon through
# the centres of its foreground pixels (Q3: a half square, Q4: a square), and 4 x its Euler
# contribution for 8-connectivity (Q1: +1, Q3: -1, diagonal pair QD: -2).
QUAD_AREA2 = np.array([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1, 2], dtype=np.int64)
QUAD_EULER4 = np.array([0, 1, 1, 0, 1, 0, -2, -1, 1, -2, 0, -1, 0, -1, -1, 0], dtype=np.int64)

# The 8 neighbours in ring order N, NE, E, SE, S, SW, W, NW as (dy, dx). Present ring pixels that are
# adjacent to each other are already in one component, so one find per group of them suffices.
RING = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))
RING_DY = np.array([dy for dy, _ in RING], dtype=np.int64)
RING_DX = np.array([dx for _, dx in RING], dtype=np.int64)


def _neighbour_groups(connectivity: int) -> np.ndarray:
    """(256, 5): for each presence mask of the ring, the number of groups of present ring pixels
    joined by `connectivity` (8 or 4) adjacency that touch the centre pixel, then one ring position
    per group (its first neighbour of the centre: any ring pixel with 8, an orthogonal one with 4)."""
    neighbours = range(8) if connectivity == 8 else range(0, 8, 2)
    table = np.zeros((256, 5), dtype=np.int64)
    for mask in range(256):
        present = [i for i in range(8) if mask >> i & 1]
        label = {i: i for i in present}
        for i in present:
            for j in present:
                dy, dx = abs(RING[i][0] - RING[j][0]), abs(RING[i][1] - RING[j][1])
                if (max(dy, dx) if connectivity == 8 else dy + dx) == 1:
                    keep, merged = label[i], label[j]
                    label = {k: (keep if group == merged else group) for k, group in label.items()}
        leaders = sorted({min(k for k in neighbours if label.get(k) == label[i]) for i in present if i in neighbours})
        table[mask, 0] = len(leaders)
        table[mask, 1 : 1 + len(leaders)] = leaders
    return table


NEIGHBOUR_GROUPS = _neighbour_groups(8)  # the foreground (8-connected)
ORTHOGONAL_GROUPS = _neighbour_groups(4)  # the background (4-connected; diagonals join orthogonal neighbours)


def _quad_deltas(table: np.ndarray) -> np.ndarray:
    """(256,): change of sum(table[quad pattern]) over the four quads holding a pixel when it is
    added, for each presence mask of its ring (the 3x3 neighbourhood holds all four quads)."""
    # per quad (top-left corner up-left, up, left, at the pixel): ring position or -1 (the pixel)
    # of its tl, tr, bl, br corners
    quads = ((7, 0, 6, -1), (0, 1, -1, 2), (6, -1, 5, 4), (-1, 2, 4, 3))
    deltas = np.zeros(256, dtype=np.int64)
    for mask in range(256):
        for corners in quads:
            before = sum(1 << k for k, ring in enumerate(corners) if ring >= 0 and mask >> ring & 1)
            after = before | 1 << corners.index(-1)
            deltas[mask] += table[after] - table[before]
    return deltas


AREA2_DELTA = _quad_deltas(QUAD_AREA2)
EULER4_DELTA = _quad_deltas(QUAD_EULER4)


# columns of the per-root statistics array (32 bytes a root)
_SIZE, _X1, _Y1, _X2, _Y2, _FIRST, _AREA2, _EULER4 = range(8)
_NUM_STATS = 8
_COLUMN_BITS = 32  # pixels are bucketed as y << 32 | x
_COLUMN_MASK = (1 << _COLUMN_BITS) - 1
# Pixel loops index with np.uint64 (numba adds no negative-index fix-up for unsigned indices); integer
# literals are signed in numba, so unsigned arithmetic uses these constants.
_ONE = np.uint64(1)
_NONE = np.uint64(0)  # "no component": padded pixel (0, 0) is never in a swept set
_OUTSIDE = np.uint64(0)  # the hole sweep's root of the padding ring and all background reaching the border


@njit(cache=True)
def box_iou_max(x1: float, y1: float, x2: float, y2: float, gt: np.ndarray, start: int, stop: int) -> float:
    """Max over gt[start:stop] of the +1-convention IoU with the box (0 when there is none);
    the operations of `boxes.rowwise_iou_plus_one`, in float64."""
    best = 0.0
    for g in range(start, stop):
        iw = max(min(x2, gt[g, 2]) - max(x1, gt[g, 0]) + 1.0, 0.0)
        ih = max(min(y2, gt[g, 3]) - max(y1, gt[g, 1]) + 1.0, 0.0)
        intersection = iw * ih
        union = (x2 - x1 + 1.0) * (y2 - y1 + 1.0) + (gt[g, 2] - gt[g, 0] + 1.0) * (gt[g, 3] - gt[g, 1] + 1.0)
        best = max(best, intersection / (union - intersection))
    return best


@njit(cache=True)
def _component_score(stats, root, wsol, width, height, gt, g0, g1) -> float:
    x2, y2 = stats[root, _X2], stats[root, _Y2]
    if wsol:  # boundingRect's x + w and y + h, clipped to the last column and row
        x2, y2 = min(x2 + 1, width - 1), min(y2 + 1, height - 1)
    return box_iou_max(float(stats[root, _X1]), float(stats[root, _Y1]), float(x2), float(y2), gt, g0, g1)


@njit(cache=True)
def _quantize(scores, scale, levels, starts) -> int:
    """levels = uint8(s * scale) with the map's float type (wsolevaluation's (s * 255).astype(np.uint8)),
    counted into starts[level + 1] for `_bucket_pixels`; returns max level."""
    starts[:] = 0
    top = 0
    for p in range(scores.size):
        level = np.uint8(scores[p] * scale)
        levels[p] = level
        starts[level + 1] += 1
        top = max(top, int(level))
    return top


@njit(cache=True)
def _bucket_pixels(levels: np.ndarray, height: int, width: int, pixels: np.ndarray, starts: np.ndarray) -> None:
    """Counting sort, given starts[v + 1] = number of pixels of level v (from `_quantize`):
    afterwards pixels[starts[v]:starts[v + 1]] are the pixels of level v as y << 32 | x, in raster order."""
    for v in range(256):
        starts[v + 1] += starts[v]
    fill = starts[:256].copy()
    for y in range(height):
        for x in range(width):
            level = levels[y * width + x]
            pixels[fill[level]] = y << _COLUMN_BITS | x
            fill[level] += 1


@njit(cache=True)
def _ring_offsets(padded_width: int) -> np.ndarray:
    """(8,) uint64: padded-index offset of each RING neighbour (negative ones wrap; unsigned sums wrap back)."""
    return (RING_DY * padded_width + RING_DX).astype(np.uint64)


@njit(cache=True, inline="always")
def _unpack(pixel: int, padded_width: int) -> tuple:
    """(padded index as np.uint64, x, y) of a pixel bucketed as y << 32 | x."""
    y, x = pixel >> _COLUMN_BITS, pixel & _COLUMN_MASK
    return np.uint64((y + 1) * padded_width + x + 1), x, y


@njit(cache=True, inline="always")
def _ring_mask(member: np.ndarray, p: np.uint64, padded_width: np.uint64) -> int:
    """Presence bits, in RING order, of the 8 neighbours of padded pixel p (member: uint8 0/1 flags)."""
    above, below = p - padded_width, p + padded_width
    return (np.int64(member[above]) | np.int64(member[above + _ONE]) << 1 | np.int64(member[p + _ONE]) << 2
            | np.int64(member[below + _ONE]) << 3 | np.int64(member[below]) << 4
            | np.int64(member[below - _ONE]) << 5 | np.int64(member[p - _ONE]) << 6
            | np.int64(member[above - _ONE]) << 7)


@njit(cache=True)
def _prune(parent, alive, live) -> int:
    """Compact the live list alive[:live] to the roots (merged-away roots are dropped here, not when
    merged, which keeps the pixel loop short); returns the new length."""
    kept = 0
    for i in range(live):
        root = alive[i]
        if parent[root] == root:
            alive[kept] = root
            kept += 1
    return kept


@njit(cache=True, inline="always")
def _start_component(parent, stats, p, x, y) -> None:
    parent[p] = p
    stats[p, _SIZE] = 1
    stats[p, _X1] = stats[p, _X2] = x
    stats[p, _Y1] = stats[p, _Y2] = y
    stats[p, _FIRST] = np.int32(p)
    stats[p, _AREA2] = stats[p, _EULER4] = 0


@njit(cache=True, inline="always")
def _grow(stats, root, x, y) -> None:
    """Add the pixel (x, y) to the size and box of `root`."""
    stats[root, _SIZE] += 1
    stats[root, _X1] = min(stats[root, _X1], x)
    stats[root, _Y1] = min(stats[root, _Y1], y)
    stats[root, _X2] = max(stats[root, _X2], x)
    stats[root, _Y2] = max(stats[root, _Y2], y)


@njit(cache=True, inline="always")
def _link(parent, stats, a, b) -> tuple[int, int]:
    """Union by size of roots a != b: (kept root, absorbed root), sizes and boxes merged."""
    if stats[a, _SIZE] < stats[b, _SIZE]:
        a, b = b, a
    parent[b] = a
    stats[a, _SIZE] += stats[b, _SIZE]
    stats[a, _X1] = min(stats[a, _X1], stats[b, _X1])
    stats[a, _Y1] = min(stats[a, _Y1], stats[b, _Y1])
    stats[a, _X2] = max(stats[a, _X2], stats[b, _X2])
    stats[a, _Y2] = max(stats[a, _Y2], stats[b, _Y2])
    return a, b


@njit(cache=True, inline="always")
def _add_foreground_pixel(parent, stats, p, x, y, mask, offsets, ranked) -> int:
    """Add pixel p (padded index; `mask` its present 8-neighbours) and join it to their components;
    returns its root, which is p only when p starts a new component. `ranked`: keep each root's first
    pixel, area and Euler number (the largest component is chosen by them)."""
    groups = NEIGHBOUR_GROUPS[mask, 0]
    if groups == 0:
        _start_component(parent, stats, p, x, y)
        return p
    # p joins the first group's component directly; further groups are merged into it
    root = find(parent, p + offsets[NEIGHBOUR_GROUPS[mask, 1]])
    parent[p] = root
    _grow(stats, root, x, y)
    if ranked:
        stats[root, _FIRST] = min(stats[root, _FIRST], np.int32(p))
    for g in range(1, groups):
        other = find(parent, p + offsets[NEIGHBOUR_GROUPS[mask, 1 + g]])
        if other != root:
            root, absorbed = _link(parent, stats, root, other)
            if ranked:
                stats[root, _FIRST] = min(stats[root, _FIRST], stats[absorbed, _FIRST])
                stats[root, _AREA2] += stats[absorbed, _AREA2]
                stats[root, _EULER4] += stats[absorbed, _EULER4]
    return root


@njit(cache=True)
def _outer_border_area2(member, start, offsets) -> int:
    """Twice the cv2.contourArea of the outer border of the 8-connected component whose first pixel
    in raster order is `start`: Suzuki & Abe's (1985) border following, which findContours runs,
    from `start` (its left neighbour is background) around the foreground flags `member`, and the
    shoelace sum over the traced pixel centres. Cost: the border's length."""
    start = np.uint64(start)
    first = -1  # step 3.1: clockwise from the left neighbour, the first foreground neighbour
    for k in range(8):
        if member[start + offsets[(6 + k) & 7]]:
            first = (6 + k) & 7
            break
    if first < 0:
        return 0  # a single pixel
    last = start + offsets[first]
    current, back = start, first  # back: direction from the current border pixel to the previous one
    x = y = twice = 0  # position relative to start, doubled signed area so far
    while True:
        step = back
        for k in range(1, 9):  # step 3.3: counterclockwise from the one after the previous pixel
            step = (back - k) & 7
            if member[current + offsets[step]]:
                break
        twice += x * RING_DY[step] - RING_DX[step] * y
        x, y = x + RING_DX[step], y + RING_DY[step]
        following = current + offsets[step]
        if following == start and current == last:  # step 3.5: back at the start, coming from the last pixel
            return abs(twice)
        current, back = following, (step + 4) & 7


@njit(cache=True, inline="always")
def _area2_bound(stats, filled2, exact, root) -> int:
    """The exact doubled filled area when known, else 2 (w - 1)(h - 1), the box's bound on it."""
    if exact[root] == stats[root, _SIZE]:
        return filled2[root]
    return 2 * (stats[root, _X2] - stats[root, _X1]) * (stats[root, _Y2] - stats[root, _Y1])


@njit(cache=True)
def _largest_by_contour_area(stats, alive, live, filled2, exact, member, offsets) -> np.uint64:
    """Root with the largest hole-filled bit-quad area (ties: the last first pixel in raster order).

    Hole-free components (Euler number 1) have their exact area; for the others unfilled area <=
    filled area <= 2 (w - 1)(h - 1), and the outer border is traced only where bounds leave a tie
    possible. filled2 / exact cache the filled area and the size it was computed at.
    """
    best_low = -1
    for i in range(live):
        root = alive[i]
        if exact[root] != stats[root, _SIZE] and stats[root, _EULER4] == 4:
            filled2[root] = stats[root, _AREA2]
            exact[root] = stats[root, _SIZE]
        best_low = max(best_low, filled2[root] if exact[root] == stats[root, _SIZE] else stats[root, _AREA2])
    winner, contenders = _NONE, 0
    for i in range(live):
        if _area2_bound(stats, filled2, exact, alive[i]) >= best_low:
            winner, contenders = np.uint64(alive[i]), contenders + 1
    if contenders == 1:
        return winner
    winner = _NONE
    for i in range(live):
        root = np.uint64(alive[i])
        if _area2_bound(stats, filled2, exact, root) < best_low:
            continue
        if exact[root] != stats[root, _SIZE]:
            filled2[root] = _outer_border_area2(member, stats[root, _FIRST], offsets)
            exact[root] = stats[root, _SIZE]
        if winner == _NONE or filled2[root] > filled2[winner] or (
                filled2[root] == filled2[winner] and stats[root, _FIRST] > stats[winner, _FIRST]):
            winner = root
    return winner


@njit(cache=True)
def _best_live_score(stats, alive, live, score, scored, wsol, width, height, gt, g0, g1, hole) -> float:
    """Best cached box score over the live components (foreground, or holes with `hole`); `scored`
    holds the size each cached score was computed at."""
    best = -1.0
    for i in range(live):
        root = alive[i]
        if scored[root] != stats[root, _SIZE]:
            if hole:
                x1, y1 = stats[root, _X1] - 1, stats[root, _Y1] - 1
                x2, y2 = min(stats[root, _X2] + 2, width - 1), min(stats[root, _Y2] + 2, height - 1)
                score[root] = box_iou_max(float(x1), float(y1), float(x2), float(y2), gt, g0, g1)
            else:
                score[root] = _component_score(stats, root, wsol, width, height, gt, g0, g1)
            scored[root] = stats[root, _SIZE]
        best = max(best, score[root])
    return best


@njit(cache=True)
def _allocate_work(height: int, width: int, thresholds: int) -> tuple:
    """Per-task work arrays of the sweeps, indexed over padded pixels (y + 1)(W + 2) + x + 1."""
    padded = (height + 2) * (width + 2)
    return (np.zeros(padded, np.uint8),  # member: the pixel is in the swept set (foreground / background)
            np.empty(padded, np.uint32),  # parent (read only where member is set)
            np.empty((padded, _NUM_STATS), np.int32),  # stats of roots
            np.empty(padded, np.uint32),  # alive: the live list's roots (a prefix of it)
            np.empty(height * width, np.int64), np.zeros(257, np.int64),  # pixels by level, level starts
            np.empty(padded), np.empty(padded, np.int32),  # score cache, size stamp
            np.empty(padded, np.int32), np.empty(padded, np.int32),  # filled area cache, size stamp
            np.zeros(thresholds, np.int64))  # holes per threshold


@njit(cache=True)
def _hole_sweep(width, height, record, order, gt, g0, g1, out, work) -> None:
    """Ascending sweep over the background {q <= r} (4-connected): out[j] = max(out[j], best score of
    the hole contours' boxes at r_j). The padding ring is background joined to one root, _OUTSIDE, so a
    component reaching the border merges into it and is no hole; _OUTSIDE keeps no statistics."""
    member, parent, stats, alive, pixels, starts, score, scored = work[:8]
    holes = work[10]
    last = -1  # the highest record level with a hole (counted by the foreground sweep): sweep up to it only
    for j in range(len(order)):
        if holes[j] > 0:
            last = max(last, record[j])
    if last < 0:
        return
    padded_width = width + 2
    member[:] = 0
    for x in range(padded_width):  # the padding ring: members of _OUTSIDE
        member[x] = member[(height + 1) * padded_width + x] = 1
        parent[x] = parent[(height + 1) * padded_width + x] = _OUTSIDE
    for y in range(1, height + 1):
        member[y * padded_width] = member[y * padded_width + width + 1] = 1
        parent[y * padded_width] = parent[y * padded_width + width + 1] = _OUTSIDE
    offsets = _ring_offsets(padded_width)
    live = 0
    k = 0
    for v in range(last + 1):
        for i in range(starts[v], starts[v + 1]):
            p, x, y = _unpack(pixels[i], padded_width)
            mask = _ring_mask(member, p, np.uint64(padded_width))
            member[p] = 1
            groups = ORTHOGONAL_GROUPS[mask, 0]
            if groups == 0:
                _start_component(parent, stats, p, x, y)
                alive[live] = p
                live += 1
                scored[p] = 0
                continue
            root = find(parent, p + offsets[ORTHOGONAL_GROUPS[mask, 1]])
            for g in range(1, groups):
                other = find(parent, p + offsets[ORTHOGONAL_GROUPS[mask, 1 + g]])
                if other == root:
                    continue
                if root == _OUTSIDE or other == _OUTSIDE:
                    parent[other if root == _OUTSIDE else root] = _OUTSIDE
                    root = _OUTSIDE
                else:
                    root = _link(parent, stats, root, other)[0]
            parent[p] = root
            if root != _OUTSIDE:
                _grow(stats, root, x, y)
        best = -2.0
        while k < len(order) and record[order[k]] <= v:
            if holes[order[k]] > 0:
                if best < -1.0:
                    live = _prune(parent, alive, live)
                    best = _best_live_score(stats, alive, live, score, scored, True, width, height, gt, g0, g1,
                                            True)
                out[order[k]] = max(out[order[k]], best)
            k += 1


@njit(cache=True, inline="always")
def _foreground_sweep(top, width, height, record, order, gt, g0, g1, multi, wsol, out, work) -> None:
    """Descending sweep from level `top` = max q over the bucketed pixels: fills out[j] for every
    threshold j. Inlined into each `_sweep_kernel` variant, whose constant flags numba then folds."""
    track = multi or wsol != 0  # keep the live list (all components are scored, or ranked by contour area)
    member, parent, stats, alive, pixels, starts, score, scored, filled2, exact, holes = work
    padded_width = width + 2
    member[:] = 0
    holes[:] = 0
    live = 0  # length of the live list alive[:live] (kept with `multi` or `wsol` only)
    euler4 = 0  # 4 x the Euler number of the foreground (`multi` with `wsol` only)
    offsets = _ring_offsets(padded_width)
    empty = box_iou_max(0.0, 0.0, 0.0, 0.0, gt, g0, g1)
    k = len(order) - 1
    while k >= 0 and record[order[k]] >= top:  # nothing above the level: wsolevaluation's (0, 0, 0, 0)
        out[order[k]] = empty
        k -= 1
    leader = _NONE
    for v in range(top, 0, -1):
        for i in range(starts[v], starts[v + 1]):
            p, x, y = _unpack(pixels[i], padded_width)
            mask = _ring_mask(member, p, np.uint64(padded_width))
            member[p] = 1
            root = _add_foreground_pixel(parent, stats, p, x, y, mask, offsets, not multi)
            if track:
                if root == p:
                    alive[live] = p
                    live += 1
                    scored[p] = exact[p] = 0  # no cached score or filled area yet
                if wsol and multi:  # the foreground's Euler number, for the hole count
                    euler4 += EULER4_DELTA[mask]
                elif wsol:  # the four quads holding p change pattern; all their foreground is in root's component
                    stats[root, _AREA2] += AREA2_DELTA[mask]
                    stats[root, _EULER4] += EULER4_DELTA[mask]
            # sizes only grow: the leader changes only to p's component (which holds an absorbed
            # leader, being then larger than its stale size)
            elif leader == _NONE or root != leader and stats[root, _SIZE] > stats[leader, _SIZE] or (
                    stats[root, _SIZE] == stats[leader, _SIZE] and stats[root, _FIRST] < stats[leader, _FIRST]):
                leader = root
        value = -1.0
        while k >= 0 and record[order[k]] == v - 1:
            if value < 0:
                if track:
                    live = _prune(parent, alive, live)
                if multi:
                    value = _best_live_score(stats, alive, live, score, scored, wsol, width, height, gt, g0, g1,
                                             False)
                    if wsol:  # holes = components - Euler number
                        holes[order[k]] = live - euler4 // 4
                else:
                    if wsol:
                        leader = _largest_by_contour_area(stats, alive, live, filled2, exact, member, offsets)
                    value = _component_score(stats, leader, wsol, width, height, gt, g0, g1)
            if k + 1 < len(order) and record[order[k + 1]] == v - 1:
                holes[order[k]] = holes[order[k + 1]]
            out[order[k]] = value
            k -= 1


@functools.cache
def _sweep_kernel(multi: bool, wsol: int) -> Callable:
    """The parallel sweep kernel with `multi` and `wsol` compiled in as constants: numba freezes closure
    variables and `_foreground_sweep` is inlined, so each variant's pixel loop has no flag tests (15-30 %
    faster on CAM-like maps). The closure holds only the flags, which keeps numba's disk cache usable."""
    def sweep(maps, scale, thresholds, order, gt, gt_start) -> np.ndarray:
        """(n, T) float64 best IoUs (`sweep_best_ious`)."""
        count, height, width = maps.shape
        out = np.zeros((count, len(thresholds)))
        tasks = (count + _MAPS_PER_TASK - 1) // _MAPS_PER_TASK
        for task in prange(tasks):
            work = _allocate_work(height, width, len(thresholds))
            levels = np.empty(height * width, np.uint8)
            record = np.empty(len(thresholds), np.int64)
            for i in range(task * _MAPS_PER_TASK, min(count, (task + 1) * _MAPS_PER_TASK)):
                top = _quantize(maps[i].reshape(-1), scale, levels, work[5])
                _bucket_pixels(levels, height, width, work[4], work[5])
                for j in range(len(thresholds)):
                    record[j] = int(np.floor(thresholds[j] * top))
                _foreground_sweep(top, width, height, record, order, gt, gt_start[i], gt_start[i + 1], multi, wsol,
                                  out[i], work)
                if multi and wsol:
                    _hole_sweep(width, height, record, order, gt, gt_start[i], gt_start[i + 1], out[i], work)
        return out

    # One cache index per variant: with one shared name, the four closures shared one index file, and a process
    # that loaded two variants from the disk cache sometimes failed with "NRT_adapt_ndarray_to_python: descr is
    # NULL" (seen in three separate worktrees; not reproducible on demand, 1 of 16 fresh processes).
    sweep.__qualname__ = f"sweep_multi{int(multi)}_wsol{wsol}"
    return njit(cache=True, parallel=True)(sweep)


def sweep_best_ious(maps: np.ndarray, scale: np.floating, thresholds: np.ndarray, order: np.ndarray, gt: np.ndarray,
                    gt_start: np.ndarray, multi: bool, wsol: int) -> np.ndarray:
    """(n, T) float64: best IoU with the map's GT boxes of the box(es) at each CAM threshold.

    maps (n, H, W) C-contiguous float32 or float64 in [0, 1], quantized with `scale` (255 in the
    maps' type); thresholds (T,) float64, their record levels floor(t * max q) (wsolevaluation's
    int(t * max)); order (T,) an argsort of the thresholds; gt (G, 4) float64 boxes of all maps,
    gt_start (n + 1,) offsets of each map's boxes. Maps are swept in parallel tasks.
    """
    return _sweep_kernel(bool(multi), int(wsol))(maps, scale, thresholds, order, gt, gt_start)
