"""dt_box's `fromDT` for one threshold, as row runs: binary = gray > t, dt.c's Euclidean distance
transform scaled to 0..255 by its maximum and rounded, kept where > 10, 1-pixel frame removed.

dt.c (github metalbubble/CAM, bboxgenerator) gives a foreground pixel the distance to the nearest
background pixel of the image (the image edge is not background), computed as squared distances by
Felzenszwalb & Huttenlocher's lower envelope in doubles, then sqrt; `double_to_image` writes
(int)(d * 255 / (max - min) + 0.5), min = 0. With background present the squared distances are exact
integers, so the kept pixels are those with squared distance >= `keep_level(max)`. An all-background
or all-foreground binary has constant distances and `double_to_image` leaves it as it is.
Here everything works on the binary's row runs (`gray_runs`): exact integer squared distances only on
the rows that can hold the maximum, the kept mask by eroding runs; see docs/metrics.md ("cam_legacy").
"""

from __future__ import annotations

import numpy as np

from gwapbench.compiled import njit

DT_KEEP_LEVEL = 10  # dt_box's second cvThreshold: scaled distance > 10 is kept
_NO_BACKGROUND = np.int32(1 << 30)  # column distance where a column has no background
_AXIAL, _DIAGONAL = 12, 17  # chamfer weights: 17 / 12 >= sqrt(2), so chamfer / 12 >= Euclidean distance
_BLOCK = 4  # side of the blocks on which the row bounds of the distance maximum are computed


@njit(cache=True, nogil=True, error_model="numpy")
def imwrite_levels(heatmap: np.ndarray, gray: np.ndarray) -> None:
    """gray[:] = uint8 floor(255 x + 0.5), x = clip(h / max h, 0, 1) in doubles (MATLAB `imwrite` of the
    map divided by its max). IEEE division: max h = +-0 gives +-inf or NaN (NaN written as 0)."""
    height, width = heatmap.shape
    peak = -np.inf
    for y in range(height):
        for x in range(width):
            peak = max(peak, np.float64(heatmap[y, x]))
    for y in range(height):
        for x in range(width):
            scaled = np.float64(heatmap[y, x]) / peak
            scaled = 0.0 if np.isnan(scaled) else min(max(scaled, 0.0), 1.0)
            gray[y, x] = np.uint8(np.floor(scaled * 255.0 + 0.5))


@njit(cache=True, nogil=True)
def keep_level(max_squared: int) -> int:
    """Smallest squared distance d that dt.c and dt_box keep: (int)(sqrt(d) * (255 / sqrt(max)) + 0.5) > 10.

    The test is monotone in d, so the kept pixels are those with d >= keep_level(max): found by
    bisection with dt.c's double operations (multiply, add 0.5, truncate).
    """
    scale = 255.0 / np.sqrt(np.float64(max_squared))
    low, high = 1, max_squared
    while low < high:
        middle = (low + high) // 2
        if int(np.sqrt(np.float64(middle)) * scale + 0.5) > DT_KEEP_LEVEL:
            high = middle
        else:
            low = middle + 1
    return low


@njit(cache=True, nogil=True)
def _distances_one_way(y: int, direction: int, height: int, width: int, c0: int, starts: np.ndarray,
                       fg_runs: np.ndarray, out: np.ndarray, still: np.ndarray, scratch: np.ndarray) -> None:
    """out[x - c0] = steps from pixel (y, x) in `direction` (-1 up, +1 down) to the first background pixel
    of its column (0 on background, `_NO_BACKGROUND` if none before the image edge), window columns x:
    the columns still in the foreground are the intersection of the rows' runs; those leaving it at
    step s get s."""
    out[:] = 0
    for k in range(starts[y], starts[y + 1]):
        out[fg_runs[0, k] - c0 : fg_runs[1, k] + 1 - c0] = _NO_BACKGROUND
    n = starts[y + 1] - starts[y]
    still[:, :n] = fg_runs[:, starts[y] : starts[y + 1]]
    row, step = y + direction, 1
    while n > 0 and 0 <= row < height:
        m = _eroded_intersection(still, n, fg_runs, starts[row], starts[row + 1], 0, width, scratch)
        j = 0
        for i in range(n):  # columns of still[i] outside every scratch run meet background at this step
            left = still[0, i]
            while j < m and scratch[0, j] <= still[1, i]:
                out[left - c0 : scratch[0, j] - c0] = step
                left = scratch[1, j] + 1
                j += 1
            out[left - c0 : still[1, i] + 1 - c0] = step
        still[:, :m] = scratch[:, :m]
        n, row, step = m, row + direction, step + 1


@njit(cache=True, nogil=True)
def _next_row_distances(previous: np.ndarray, row: int, c0: int, starts: np.ndarray, fg_runs: np.ndarray,
                        out: np.ndarray) -> None:
    """One-way distances of image row `row` from those of its neighbour on the side they look to:
    previous + 1 on the foreground, 0 on the background."""
    for x in range(len(out)):
        out[x] = min(previous[x] + 1, _NO_BACKGROUND)
    background_from = 0
    for k in range(starts[row], starts[row + 1]):
        out[background_from : fg_runs[0, k] - c0] = 0
        background_from = fg_runs[1, k] + 1 - c0
    out[background_from:] = 0


@njit(cache=True, nogil=True)
def _block_background(starts: np.ndarray, fg_runs: np.ndarray, r0: int, c0: int, rows: int, cols: int) -> np.ndarray:
    """[i, j] = some pixel of the `_BLOCK`-square block (i, j) of the window is background (from the runs)."""
    blocks = np.zeros(((rows + _BLOCK - 1) // _BLOCK, (cols + _BLOCK - 1) // _BLOCK), dtype=np.bool_)
    for y in range(rows):
        marks, background_from = blocks[y // _BLOCK], 0
        for k in range(starts[r0 + y], starts[r0 + y + 1]):
            if fg_runs[0, k] - c0 > background_from:
                marks[background_from // _BLOCK : (fg_runs[0, k] - c0 - 1) // _BLOCK + 1] = True
            background_from = fg_runs[1, k] + 1 - c0
        if background_from < cols:
            marks[background_from // _BLOCK :] = True
    return blocks


@njit(cache=True, nogil=True)
def _block_row_bounds(block_background: np.ndarray) -> np.ndarray:
    """Upper bound of the squared Euclidean distance to background of every pixel in each block row.

    Two-pass 3x3 chamfer distance c between blocks (weights 12, 17: c / 12 >= the Euclidean block
    distance, as 12 M + 5 m >= 12 sqrt(M^2 + m^2) for M >= m >= 0); a pixel of block B and the nearest
    background pixel of the nearest background block B' are at most S c / 12 + (S - 1) sqrt(2) apart.
    """
    rows, cols = block_background.shape
    chamfer = np.empty((rows, cols), dtype=np.int64)
    big = np.int64(1) << np.int64(40)
    for y in range(rows):
        for x in range(cols):
            best = 0 if block_background[y, x] else big
            if y > 0:
                best = min(best, chamfer[y - 1, x] + _AXIAL)
                if x > 0:
                    best = min(best, chamfer[y - 1, x - 1] + _DIAGONAL)
                if x + 1 < cols:
                    best = min(best, chamfer[y - 1, x + 1] + _DIAGONAL)
            if x > 0:
                best = min(best, chamfer[y, x - 1] + _AXIAL)
            chamfer[y, x] = best
    bounds = np.zeros(rows, dtype=np.int64)
    for y in range(rows - 1, -1, -1):
        for x in range(cols - 1, -1, -1):
            best = chamfer[y, x]
            if y + 1 < rows:
                best = min(best, chamfer[y + 1, x] + _AXIAL)
                if x > 0:
                    best = min(best, chamfer[y + 1, x - 1] + _DIAGONAL)
                if x + 1 < cols:
                    best = min(best, chamfer[y + 1, x + 1] + _DIAGONAL)
            if x + 1 < cols:
                best = min(best, chamfer[y, x + 1] + _AXIAL)
            chamfer[y, x] = best
        reach = _BLOCK * chamfer[y].max() / _AXIAL + (_BLOCK - 1) * 1.4142136
        bounds[y] = np.int64(reach * reach) + 1
    return bounds


@njit(cache=True, nogil=True)
def _row_max_squared(g: np.ndarray, apex: np.ndarray, start_num: np.ndarray, start_den: np.ndarray) -> int:
    """Max over the row of min_x' (x - x')^2 + g[x']^2 (exact squared distances): the lower
    envelope of parabolas (Felzenszwalb & Huttenlocher 2012, dt.c's `dt_row`), intersections as fractions."""
    cols = len(g)
    k = -1
    for q in range(cols):
        if g[q] == _NO_BACKGROUND:
            continue
        fq = g[q] * g[q] + q * q
        while k > 0:
            v = apex[k]
            num, den = fq - (g[v] * g[v] + v * v), 2 * (q - v)
            if num * start_den[k] > start_num[k] * den:
                break
            k -= 1  # the new parabola is lowest wherever apex[k] was
        k += 1
        apex[k] = q
        if k > 0:
            v = apex[k - 1]
            start_num[k], start_den[k] = fq - (g[v] * g[v] + v * v), 2 * (q - v)
    pieces, k, best = k + 1, 0, 0
    for q in range(cols):
        while k + 1 < pieces and start_num[k + 1] < q * start_den[k + 1]:
            k += 1
        v = apex[k]
        best = max(best, (q - v) * (q - v) + g[v] * g[v])
    return best


@njit(cache=True, nogil=True)
def _max_squared_distance(starts: np.ndarray, fg_runs: np.ndarray, height: int, width: int, r0: int, r1: int,
                          c0: int, c1: int, block_background: np.ndarray, still: np.ndarray,
                          scratch: np.ndarray) -> int:
    """Max squared Euclidean distance to background over the window (rows r0..r1, columns c0..c1):
    exact envelopes only on the rows of block rows whose bound (`_block_row_bounds`) exceeds the best so
    far, largest bound first. Column distances g = min(up, down): up from the block row's first row,
    down from its last (`_distances_one_way`), carried row to row inside it."""
    cols = c1 - c0 + 1
    bounds = _block_row_bounds(block_background)
    up = np.empty((_BLOCK, cols), dtype=np.int64)
    down = np.empty((_BLOCK, cols), dtype=np.int64)
    g = np.empty(cols, dtype=np.int64)
    apex = np.empty(cols, dtype=np.int64)
    start_num = np.empty(cols + 1, dtype=np.int64)
    start_den = np.empty(cols + 1, dtype=np.int64)
    best = 0
    for block_row in np.argsort(-bounds):
        if bounds[block_row] <= best:
            break
        first = r0 + block_row * _BLOCK
        count = min(_BLOCK, r1 + 1 - first)
        _distances_one_way(first, -1, height, width, c0, starts, fg_runs, up[0], still, scratch)
        _distances_one_way(first + count - 1, 1, height, width, c0, starts, fg_runs, down[count - 1], still, scratch)
        for i in range(1, count):
            _next_row_distances(up[i - 1], first + i, c0, starts, fg_runs, up[i])
            _next_row_distances(down[count - i], first + count - 1 - i, c0, starts, fg_runs, down[count - 1 - i])
        for i in range(count):
            for x in range(cols):
                g[x] = min(up[i, x], down[i, x])
            best = max(best, _row_max_squared(g, apex, start_num, start_den))
    return best


@njit(cache=True, nogil=True)
def _reach_table(keep: int) -> np.ndarray:
    """reach[g] = largest w >= 0 with w^2 + g^2 < keep, for the g with g^2 < keep (and a last unused
    entry: len(reach) - 1 is the first g that rules nothing out)."""
    size = 0
    while size * size < keep:
        size += 1
    reach = np.empty(size + 1, dtype=np.int64)
    for g in range(size):
        w = 0
        while (w + 1) * (w + 1) + g * g < keep:
            w += 1
        reach[g] = w
    reach[size] = -(np.int64(1) << np.int64(40))
    return reach


@njit(cache=True, nogil=True)
def _eroded_intersection(kept: np.ndarray, count: int, fg_runs: np.ndarray, first: int, last: int, reach: int,
                         width: int, out: np.ndarray) -> int:
    """out[:, :n] = kept[:, :count] intersected with the runs first..last - 1 of one row, each eroded by
    `reach` columns on each side except at the image's edge (not background): the x whose
    [x - reach, x + reach] holds no background of that row. Returns n."""
    n, i, j = 0, 0, first
    while i < count and j < last:
        low = fg_runs[0, j] + reach if fg_runs[0, j] > 0 else 0
        high = fg_runs[1, j] - reach if fg_runs[1, j] < width - 1 else width - 1
        if low > high:
            j += 1
            continue
        start, end = max(kept[0, i], low), min(kept[1, i], high)
        if start <= end:
            out[0, n], out[1, n] = start, end
            n += 1
        if kept[1, i] < high:
            i += 1
        else:
            j += 1
    return n


@njit(cache=True, nogil=True)
def _kept_row_runs(y: int, height: int, width: int, reach: np.ndarray, starts: np.ndarray, fg_runs: np.ndarray,
                   kept: np.ndarray, scratch: np.ndarray) -> int:
    """Kept runs of image row y into kept[:, :n], returns n: the pixels p with no background q,
    |p - q|^2 < keep, so each row y +- dy (dy^2 < keep) rules out what lies within reach[dy] columns of
    its background (`_reach_table`); rows outside the image rule out nothing."""
    kept[0, 0], kept[1, 0] = 0, width - 1
    n = 1
    for dy in range(len(reach) - 1):
        for side in range(2 if dy > 0 else 1):
            row = y + dy if side == 0 else y - dy
            if row < 0 or row >= height:
                continue
            n = _eroded_intersection(kept, n, fg_runs, starts[row], starts[row + 1], reach[dy], width, scratch)
            if n == 0:
                return 0
            kept[:, :n] = scratch[:, :n]
    return n


@njit(cache=True, nogil=True)
def _extent(starts: np.ndarray, fg_runs: np.ndarray, height: int, width: int) -> tuple[int, int, int, int, int]:
    """Pixel count of the foreground and its inclusive rows r0, r1 and columns c0, c1."""
    count, r0, r1, c0, c1 = 0, height, -1, width, -1
    for y in range(height):
        if starts[y + 1] > starts[y]:
            r0, r1 = min(r0, y), y
            c0, c1 = min(c0, fg_runs[0, starts[y]]), max(c1, fg_runs[1, starts[y + 1] - 1])
            for k in range(starts[y], starts[y + 1]):
                count += fg_runs[1, k] - fg_runs[0, k] + 1
    return count, r0, r1, c0, c1


@njit(cache=True, nogil=True)
def kept_runs(starts: np.ndarray, fg_runs: np.ndarray, height: int, width: int, runs: np.ndarray) -> int:
    """Write the runs (y, first x, last x) of dt_box's kept mask for one level, inside the frame (rows
    1..H-2, cols 1..W-2), in raster order, into runs[0:3, :n]; return n. starts, fg_runs: the level's
    foreground runs (`gray_runs`); runs (3 x >= H * (W + 1) // 2) is reused workspace."""
    count, r0, r1, c0, c1 = _extent(starts, fg_runs, height, width)
    if count == 0:
        return 0
    kept = np.empty((2, (width + 1) // 2 + 1), dtype=np.int64)
    scratch = np.empty_like(kept)
    if count == height * width:
        keep = 1
    else:  # window: the foreground's box grown by one pixel (background or edge)
        r0, r1, c0, c1 = max(r0 - 1, 0), min(r1 + 1, height - 1), max(c0 - 1, 0), min(c1 + 1, width - 1)
        block_background = _block_background(starts, fg_runs, r0, c0, r1 - r0 + 1, c1 - c0 + 1)
        max_squared = _max_squared_distance(starts, fg_runs, height, width, r0, r1, c0, c1, block_background, kept,
                                            scratch)
        keep = keep_level(max_squared)
    reach = _reach_table(keep)
    n = 0
    for y in range(max(r0, 1), min(r1, height - 2) + 1):
        for k in range(_kept_row_runs(y, height, width, reach, starts, fg_runs, kept, scratch)):
            first, last = max(kept[0, k], 1), min(kept[1, k], width - 2)
            if first <= last:
                runs[0, n], runs[1, n], runs[2, n] = y, first, last
                n += 1
    return n
