"""dt_box's `fromDT` for one threshold, as row runs: binary = gray > t, dt.c's Euclidean distance
transform scaled to 0..255 by its maximum and rounded, kept where > 10, 1-pixel frame removed.

dt.c (github metalbubble/CAM, bboxgenerator) gives a foreground pixel the distance to the nearest
background pixel of the image (the image edge is not background), computed as squared distances by
Felzenszwalb & Huttenlocher's lower envelope in doubles, then sqrt; `double_to_image` writes
(int)(d * 255 / (max - min) + 0.5), min = 0. With background present the squared distances are exact
integers, so the kept pixels are those with squared distance >= `keep_level(max)`. An all-background
or all-foreground binary has constant distances and `double_to_image` leaves it as it is.
Here the squared distances are computed exactly in integers; see docs/metrics.md ("cam_legacy").
"""

from __future__ import annotations

import numba
import numpy as np

DT_KEEP_LEVEL = 10  # dt_box's second cvThreshold: scaled distance > 10 is kept
_NO_BACKGROUND = np.int32(1 << 30)  # column distance where a column has no background
_AXIAL, _DIAGONAL = 12, 17  # chamfer weights: 17 / 12 >= sqrt(2), so chamfer / 12 >= Euclidean distance
_BLOCK = 4  # side of the blocks on which the row bounds of the distance maximum are computed


@numba.njit(cache=True, nogil=True, error_model="numpy")
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


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
def foreground_extents(gray: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """(T, 5) per level: pixel count of gray > level and its inclusive rows/cols r0, r1, c0, c1
    (from a histogram and the per-row and per-column maxima, one pass)."""
    height, width = gray.shape
    histogram = np.zeros(256, dtype=np.int64)
    row_max = np.zeros(height, dtype=np.uint8)
    column_max = np.zeros(width, dtype=np.uint8)
    for y in range(height):
        peak = np.uint8(0)
        for x in range(width):
            value = gray[y, x]
            histogram[value] += 1
            peak = max(peak, value)
            column_max[x] = max(column_max[x], value)
        row_max[y] = peak
    extents = np.empty((len(levels), 5), dtype=np.int64)
    for t in range(len(levels)):
        level = levels[t]
        extents[t, 0] = histogram[level + 1 :].sum() if level < 255 else 0
        extents[t, 1], extents[t, 2], extents[t, 3], extents[t, 4] = height, -1, width, -1
        for y in range(height):
            if row_max[y] > level:
                extents[t, 1], extents[t, 2] = min(extents[t, 1], y), y
        for x in range(width):
            if column_max[x] > level:
                extents[t, 3], extents[t, 4] = min(extents[t, 3], x), x
    return extents


@numba.njit(cache=True, nogil=True)
def _column_distances(gray: np.ndarray, level: int, r0: int, c0: int, column: np.ndarray,
                      block_background: np.ndarray) -> None:
    """column[y, x] = vertical distance of window pixel (r0 + y, c0 + x) to the nearest pixel <= level
    of its column (`_NO_BACKGROUND` if none); block_background[i, j] = some pixel of the `_BLOCK`-square
    block (i, j) of the window is background."""
    rows, cols = column.shape
    block_background[:, :] = False
    for y in range(rows):
        source, col, blocks = gray[r0 + y, c0 : c0 + cols], column[y], block_background[y // _BLOCK]
        if y == 0:
            for x in range(cols):
                col[x] = 0 if source[x] <= level else _NO_BACKGROUND
        else:
            col_up = column[y - 1]
            for x in range(cols):
                col[x] = 0 if source[x] <= level else min(col_up[x] + 1, _NO_BACKGROUND)
        for x in range(cols):
            if col[x] == 0:
                blocks[x // _BLOCK] = True
    for y in range(rows - 2, -1, -1):
        col, col_down = column[y], column[y + 1]
        for x in range(cols):
            col[x] = min(col[x], col_down[x] + 1)


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
def _row_max_squared(column: np.ndarray, y: int, apex: np.ndarray, start_num: np.ndarray,
                     start_den: np.ndarray) -> int:
    """Max over the row of min_x' (x - x')^2 + column[y, x']^2 (exact squared distances): the lower
    envelope of parabolas (Felzenszwalb & Huttenlocher 2012, dt.c's `dt_row`), intersections as fractions."""
    cols = column.shape[1]
    k = -1
    for q in range(cols):
        if column[y, q] == _NO_BACKGROUND:
            continue
        fq = column[y, q] * column[y, q] + q * q
        while k > 0:
            v = apex[k]
            num, den = fq - (column[y, v] * column[y, v] + v * v), 2 * (q - v)
            if num * start_den[k] > start_num[k] * den:
                break
            k -= 1  # the new parabola is lowest wherever apex[k] was
        k += 1
        apex[k] = q
        if k > 0:
            v = apex[k - 1]
            start_num[k], start_den[k] = fq - (column[y, v] * column[y, v] + v * v), 2 * (q - v)
    pieces, k, best = k + 1, 0, 0
    for q in range(cols):
        while k + 1 < pieces and start_num[k + 1] < q * start_den[k + 1]:
            k += 1
        v = apex[k]
        best = max(best, (q - v) * (q - v) + column[y, v] * column[y, v])
    return best


@numba.njit(cache=True, nogil=True)
def _max_squared_distance(column: np.ndarray, block_background: np.ndarray) -> int:
    """Max squared Euclidean distance to background over the window: exact envelopes only on the rows
    of block rows whose bound (`_block_row_bounds`) exceeds the best so far, largest bound first."""
    rows, cols = column.shape
    bounds = _block_row_bounds(block_background)
    apex = np.empty(cols, dtype=np.int64)
    start_num = np.empty(cols + 1, dtype=np.int64)
    start_den = np.empty(cols + 1, dtype=np.int64)
    best = 0
    for block_row in np.argsort(-bounds):
        if bounds[block_row] <= best:
            break
        for y in range(block_row * _BLOCK, min((block_row + 1) * _BLOCK, rows)):
            best = max(best, _row_max_squared(column, y, apex, start_num, start_den))
    return best


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
def _foreground_runs(gray: np.ndarray, level: int, r0: int, r1: int, c0: int, c1: int, starts: np.ndarray,
                     fg_runs: np.ndarray) -> None:
    """Runs fg_runs[0] .. fg_runs[1] (first, last column) of gray > level in the window rows r0..r1,
    cols c0..c1; those of row r0 + i are starts[i]..starts[i + 1] - 1 (the window holds all the
    foreground, so they are the image's runs)."""
    n = 0
    for i in range(r1 - r0 + 1):
        starts[i] = n
        row = gray[r0 + i]
        x = c0
        while x <= c1:
            while x <= c1 and row[x] <= level:
                x += 1
            if x > c1:
                break
            fg_runs[0, n] = x
            while x <= c1 and row[x] > level:
                x += 1
            fg_runs[1, n] = x - 1
            n += 1
    starts[r1 - r0 + 1] = n


@numba.njit(cache=True, nogil=True)
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


@numba.njit(cache=True, nogil=True)
def _kept_row_runs(y: int, r0: int, height: int, width: int, reach: np.ndarray, starts: np.ndarray,
                   fg_runs: np.ndarray, kept: np.ndarray, scratch: np.ndarray) -> int:
    """Kept runs of image row y into kept[:, :n], returns n: the pixels p with no background q,
    |p - q|^2 < keep, so each row y +- dy (dy^2 < keep) rules out what lies within reach[dy] columns of
    its background (`_reach_table`). A row of the image outside the window (all background) leaves
    nothing; rows outside the image rule out nothing."""
    rows = len(starts) - 1
    kept[0, 0], kept[1, 0] = 0, width - 1
    n = 1
    for dy in range(len(reach) - 1):
        for side in range(2 if dy > 0 else 1):
            row = y + dy if side == 0 else y - dy
            if row < 0 or row >= height:
                continue
            i = row - r0
            if i < 0 or i >= rows:
                return 0
            n = _eroded_intersection(kept, n, fg_runs, starts[i], starts[i + 1], reach[dy], width, scratch)
            if n == 0:
                return 0
            kept[:, :n] = scratch[:, :n]
    return n


@numba.njit(cache=True, nogil=True)
def kept_runs(gray: np.ndarray, level: int, extent: np.ndarray, column_buffer: np.ndarray,
              fg_runs: np.ndarray, runs: np.ndarray) -> int:
    """Write the runs (y, first x, last x) of dt_box's kept mask for `level`, inside the frame (rows
    1..H-2, cols 1..W-2), in raster order, into runs[0:3, :n]; return n. `extent` is the level's row
    of `foreground_extents`; column_buffer (int32, >= H * W), fg_runs (2 x >= H * (W + 1) // 2) and
    runs (3 x >= H * (W + 1) // 2) are reused workspace (fresh large arrays cost page faults)."""
    height, width = gray.shape
    count, r0, r1, c0, c1 = extent[0], extent[1], extent[2], extent[3], extent[4]
    if count == 0:
        return 0
    if count < height * width:  # window: the foreground's box grown by one pixel (background or edge)
        r0, r1, c0, c1 = max(r0 - 1, 0), min(r1 + 1, height - 1), max(c0 - 1, 0), min(c1 + 1, width - 1)
    rows, cols = r1 - r0 + 1, c1 - c0 + 1
    if count == height * width:
        keep = 1
    else:
        column = column_buffer[: rows * cols].reshape((rows, cols))
        block_background = np.empty(((rows + _BLOCK - 1) // _BLOCK, (cols + _BLOCK - 1) // _BLOCK), dtype=np.bool_)
        _column_distances(gray, level, r0, c0, column, block_background)
        keep = keep_level(_max_squared_distance(column, block_background))
    reach = _reach_table(keep)
    starts = np.empty(rows + 1, dtype=np.int64)
    _foreground_runs(gray, level, r0, r1, c0, c1, starts, fg_runs)
    kept = np.empty((2, (cols + 1) // 2 + 1), dtype=np.int64)
    scratch = np.empty_like(kept)
    n = 0
    for y in range(max(r0, 1), min(r1, height - 2) + 1):
        for k in range(_kept_row_runs(y, r0, height, width, reach, starts, fg_runs, kept, scratch)):
            first, last = max(kept[0, k], 1), min(kept[1, k], width - 2)
            if first <= last:
                runs[0, n], runs[1, n], runs[2, n] = y, first, last
                n += 1
    return n
