"""The CAM release's ILSVRC box generator (`bboxgenerator/dt_box` of github metalbubble/CAM), without OpenCV.

Per map: gray = round(255 * clip(h / max h, 0, 1)) (MATLAB `imwrite` of the map as an 8-bit image),
optionally through a JPEG round trip; for each threshold t in (20, 100, 110): foreground = gray > t,
its Euclidean distance transform (dt.c: distance to the nearest background pixel, image edge not
background) scaled to 0..255 by its maximum and rounded, kept where > 10; the bounding rectangles of
every contour OpenCV 2.x `findContours(RETR_CCOMP)` traces (1-pixel frame zeroed first), clamped as
dt_box does; all rectangles ranked by area, merged by dt_box's loop, the first one is the prediction,
reported as the devkit box (x, y, x + w, y + h) that `ILSVRC_evaluate_bbox.m` forms.
Definitions, tie rule and edge cases: docs/metrics.md ("cam_legacy").
"""

from __future__ import annotations

import io
import os
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache

import numba
import numpy as np
from PIL import Image

from gwapbench.metrics.heatmaps import check_heatmap

CAM_THRESHOLDS = (20, 100, 110)  # bbox_threshold in generate_bbox.m / ILSVRC_evaluate_bbox.m
DT_KEEP_LEVEL = 10  # dt_box's second cvThreshold: scaled distance > 10 is kept
FRAME_MARGIN = 5  # dt_box's LIMIT(...) clamps: x <= W - 5, x + w <= W - 5
MATLAB_JPEG_QUALITY = 75  # MATLAB imwrite's documented default JPEG quality
NO_CONTOUR_BOX = (0, 0, 0, 0)  # our result where no threshold leaves a contour (the release has none)
_RECT_COLUMNS = 4  # x, y, width, height as cv::boundingRect
_INFINITE = np.int64(1) << np.int64(40)  # column distance of a column without background


# ---------------------------------------------------------------- 8-bit map as the release wrote it


def imwrite_gray(heatmap: object) -> np.ndarray:
    """uint8 map floor(255 x + 0.5), x = clip(h / max h, 0, 1): ILSVRC_generate_heatmap.m's
    `alignImgMean./max(alignImgMean(:))` written by MATLAB `imwrite` (round half away from zero).

    Division is literal: max h = 0 gives NaN / -inf (written as 0), max h < 0 gives values >= 1 (255).
    """
    arr = check_heatmap(heatmap).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = arr / arr.max()
    scaled = np.clip(np.nan_to_num(scaled, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    return np.floor(scaled * 255.0 + 0.5).astype(np.uint8)


def jpeg_round_trip(gray: np.ndarray, quality: int = MATLAB_JPEG_QUALITY) -> np.ndarray:
    """The uint8 map after a grayscale JPEG encode (PIL/libjpeg at `quality`) and decode, as the
    release's heat maps went through `imwrite(..., '.jpg')` and dt_box's `cvLoadImage(file, 0)`."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(gray, dtype=np.uint8), mode="L").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("L"), dtype=np.uint8)


# ---------------------------------------------------------------- distance transform (dt.c)


@numba.njit(cache=True, nogil=True)
def _foreground_extent(gray: np.ndarray, level: int) -> tuple[int, int, int, int, int]:
    """Pixel count and inclusive bounding rows/cols (r0, r1, c0, c1) of gray > level."""
    height, width = gray.shape
    count, r0, r1, c0, c1 = 0, height, -1, width, -1
    for y in range(height):
        for x in range(width):
            if gray[y, x] > level:
                count += 1
                r0, r1 = min(r0, y), max(r1, y)
                c0, c1 = min(c0, x), max(c1, x)
    return count, r0, r1, c0, c1


@numba.njit(cache=True, nogil=True)
def _squared_distances(gray: np.ndarray, level: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Squared Euclidean distance of each pixel of the window rows r0..r1, cols c0..c1 to the nearest
    pixel with gray <= level (0 on those), for a map that has such a pixel.

    Exact in integers: column distances g, then per row the lower envelope of the parabolas
    (x - x')^2 + g(x')^2 (Felzenszwalb & Huttenlocher 2012, the algorithm of dt.c), intersections
    compared as fractions. The window is the foreground's bounding box grown by one pixel (clipped to
    the image): every nearest background pixel of a foreground pixel lies in it.
    """
    rows, cols = r1 - r0 + 1, c1 - c0 + 1
    column = np.empty((rows, cols), dtype=np.int64)
    for y in range(rows):
        for x in range(cols):
            if gray[r0 + y, c0 + x] <= level:
                column[y, x] = 0
            elif y == 0 or column[y - 1, x] >= _INFINITE:
                column[y, x] = _INFINITE
            else:
                column[y, x] = column[y - 1, x] + 1
    for y in range(rows - 2, -1, -1):
        for x in range(cols):
            column[y, x] = min(column[y, x], column[y + 1, x] + 1)
    squared = np.empty((rows, cols), dtype=np.int64)
    apex = np.empty(cols, dtype=np.int64)  # positions of the envelope's parabolas
    start_num = np.empty(cols + 1, dtype=np.int64)  # envelope piece k starts at start_num[k] / start_den[k]
    start_den = np.empty(cols + 1, dtype=np.int64)
    for y in range(rows):
        k = -1
        for q in range(cols):
            if column[y, q] >= _INFINITE:
                continue
            fq = column[y, q] * column[y, q] + q * q
            while k >= 0:
                v = apex[k]
                num, den = fq - (column[y, v] * column[y, v] + v * v), 2 * (q - v)
                if k > 0 and num * start_den[k] <= start_num[k] * den:
                    k -= 1  # the new parabola is below apex[k] wherever apex[k] was lowest
                    continue
                break
            k += 1
            apex[k] = q
            if k > 0:
                v = apex[k - 1]
                start_num[k] = fq - (column[y, v] * column[y, v] + v * v)
                start_den[k] = 2 * (q - v)
        pieces, k = k + 1, 0
        for q in range(cols):
            while k + 1 < pieces and start_num[k + 1] < q * start_den[k + 1]:
                k += 1
            v = apex[k]
            squared[y, q] = (q - v) * (q - v) + column[y, v] * column[y, v]
    return squared


@lru_cache(maxsize=4096)
def keep_level(max_squared: int) -> int:
    """Smallest squared distance d that dt.c and dt_box keep: (int)(sqrt(d) * (255 / sqrt(max)) + 0.5) > 10.

    dt.c's `double_to_image` scales sqrt(d) by 255 / (max - min) (min = 0 where background exists),
    rounds with (int)(s + 0.5); dt_box keeps bytes > 10. The test is monotone in d, so the kept
    pixels are those with d >= keep_level(max): found by bisection with the same double operations.
    """
    scale = 255.0 / math.sqrt(max_squared)
    low, high = 1, max_squared
    while low < high:
        middle = (low + high) // 2
        if int(math.sqrt(middle) * scale + 0.5) > DT_KEEP_LEVEL:
            high = middle
        else:
            low = middle + 1
    return low


# ---------------------------------------------------------------- contours (OpenCV 2.x findContours, RETR_CCOMP)


@numba.njit(cache=True, nogil=True)
def _root(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@numba.njit(cache=True, nogil=True)
def _union(parent: np.ndarray, i: int, j: int) -> None:
    i, j = _root(parent, i), _root(parent, j)
    if i != j:
        parent[max(i, j)] = min(i, j)


@numba.njit(cache=True, nogil=True)
def _component_boxes(parent: np.ndarray, run_y: np.ndarray, run_a: np.ndarray, run_b: np.ndarray,
                     excluded: np.ndarray) -> np.ndarray:
    """(K, 4) inclusive (x1, y1, x2, y2) of each union-find component of runs, components with an
    `excluded` run left out, in the order of their first run."""
    count = len(parent)
    boxes = np.empty((count, 4), dtype=np.int64)
    drop = np.zeros(count, dtype=np.bool_)
    for i in range(count):
        r = _root(parent, i)
        if r == i:
            boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3] = run_a[i], run_y[i], run_b[i], run_y[i]
        else:
            boxes[r, 0], boxes[r, 2] = min(boxes[r, 0], run_a[i]), max(boxes[r, 2], run_b[i])
            boxes[r, 1], boxes[r, 3] = min(boxes[r, 1], run_y[i]), max(boxes[r, 3], run_y[i])
        drop[r] |= excluded[i]
    kept = np.zeros(count, dtype=np.bool_)
    for i in range(count):
        kept[i] = parent[i] == i and not drop[i]
    return boxes[kept]


@numba.njit(cache=True, nogil=True)
def _contour_rects(squared: np.ndarray, keep: int, r0: int, c0: int, height: int, width: int) -> np.ndarray:
    """(K, 4) cv::boundingRect (x, y, w, h) of every contour RETR_CCOMP traces in the mask
    squared >= keep (window at rows r0.., cols c0.. of a height x width image), frame zeroed first.

    Outer borders are those of the 8-connected foreground components: their rectangles are the
    components' boxes. Hole borders are those of 4-connected background components that do not
    reach the zeroed frame; a hole border runs through the foreground pixels 4-adjacent to the hole,
    so its rectangle is the hole's box grown by one pixel on each side.
    """
    rows, cols = squared.shape
    y_lo, y_hi = max(r0, 1), min(r0 + rows - 1, height - 2)
    x_lo, x_hi = max(c0, 1), min(c0 + cols - 1, width - 2)
    span_rows, span_cols = max(0, y_hi - y_lo + 1), max(0, x_hi - x_lo + 1)
    capacity = span_rows * ((span_cols + 1) // 2) + 1
    run_y = np.empty(capacity, dtype=np.int64)
    run_a = np.empty(capacity, dtype=np.int64)
    run_b = np.empty(capacity, dtype=np.int64)
    first = np.zeros(span_rows + 2, dtype=np.int64)  # runs of row y_lo + i - 1: first[i]..first[i + 1]
    n = 0
    for i in range(span_rows):
        y = y_lo + i
        first[i + 1] = n
        x = x_lo
        while x <= x_hi:
            if squared[y - r0, x - c0] >= keep:
                run_y[n], run_a[n] = y, x
                while x <= x_hi and squared[y - r0, x - c0] >= keep:
                    x += 1
                run_b[n] = x - 1
                n += 1
            x += 1
    first[span_rows + 1] = n
    parent = np.arange(n)
    for i in range(2, span_rows + 1):
        j = first[i - 1]
        for r in range(first[i], first[i + 1]):  # 8-connectivity: runs touch when columns overlap +-1
            while j < first[i] and run_b[j] < run_a[r] - 1:
                j += 1
            k = j
            while k < first[i] and run_a[k] <= run_b[r] + 1:
                _union(parent, r, k)
                k += 1
    outer = _component_boxes(parent, run_y[:n], run_a[:n], run_b[:n], np.zeros(n, dtype=np.bool_))
    # holes: background gaps between consecutive runs of a row, joined with 4-connectivity; a gap
    # touching any other background pixel of the rows above or below belongs to the frame's component
    gap_y = np.empty(n, dtype=np.int64)
    gap_a = np.empty(n, dtype=np.int64)
    gap_b = np.empty(n, dtype=np.int64)
    gap_first = np.zeros(span_rows + 2, dtype=np.int64)
    g = 0
    for i in range(1, span_rows + 1):
        gap_first[i] = g
        for r in range(first[i], first[i + 1] - 1):
            gap_y[g], gap_a[g], gap_b[g] = run_y[r], run_b[r] + 1, run_a[r + 1] - 1
            g += 1
    gap_first[span_rows + 1] = g
    gap_parent = np.arange(g)
    on_frame = np.zeros(g, dtype=np.bool_)
    for i in range(1, span_rows + 1):
        for side in (i - 1, i + 1):
            has_runs = 1 <= side <= span_rows and first[side + 1] > first[side]
            lo = run_a[first[side]] if has_runs else 0
            hi = run_b[first[side + 1] - 1] if has_runs else 0
            j = gap_first[side] if has_runs else 0
            end = gap_first[side + 1] if has_runs else 0
            for q in range(gap_first[i], gap_first[i + 1]):
                if not has_runs or gap_a[q] < lo or gap_b[q] > hi:
                    on_frame[q] = True
                while j < end and gap_b[j] < gap_a[q]:
                    j += 1
                k = j
                while k < end and gap_a[k] <= gap_b[q]:  # 4-connectivity: columns overlap
                    _union(gap_parent, q, k)
                    k += 1
    holes = _component_boxes(gap_parent, gap_y[:g], gap_a[:g], gap_b[:g], on_frame)
    rects = np.empty((len(outer) + len(holes), _RECT_COLUMNS), dtype=np.int64)
    for out, boxes, grow in ((0, outer, 0), (len(outer), holes, 1)):
        for m in range(len(boxes)):
            rects[out + m, 0], rects[out + m, 1] = boxes[m, 0] - grow, boxes[m, 1] - grow
            rects[out + m, 2] = boxes[m, 2] - boxes[m, 0] + 1 + 2 * grow
            rects[out + m, 3] = boxes[m, 3] - boxes[m, 1] + 1 + 2 * grow
    return rects


def contour_rects(gray: np.ndarray, thresholds: Sequence[int] = CAM_THRESHOLDS) -> np.ndarray:
    """(K, 4) int64 raw cv::boundingRect (x, y, w, h) of all contours dt_box finds in a uint8 map,
    threshold by threshold (outer borders, then hole borders)."""
    height, width = gray.shape
    found = [np.zeros((0, _RECT_COLUMNS), dtype=np.int64)]
    for level in thresholds:
        count, r0, r1, c0, c1 = _foreground_extent(gray, level)
        if count == 0:
            continue  # dt.c: a constant map is left as it is (all background)
        if count == gray.size:  # dt.c leaves an all-foreground binary as it is (its distances are constant)
            squared, keep = np.ones(gray.shape, dtype=np.int64), 1
        else:
            r0, r1, c0, c1 = max(r0 - 1, 0), min(r1 + 1, height - 1), max(c0 - 1, 0), min(c1 + 1, width - 1)
            squared = _squared_distances(gray, level, r0, r1, c0, c1)
            keep = keep_level(int(squared.max()))
        found.append(_contour_rects(squared, keep, r0, c0, height, width))
    return np.concatenate(found)


def clamp_rects(rects: np.ndarray, height: int, width: int) -> np.ndarray:
    """dt_box's LIMIT clamps: x' = min(x, W - 5), y' = min(y, H - 5), w' = min(w, W - x - 5),
    h' = min(h, H - y - 5) (LIMIT(v, 0, R) = min(v, R) for v >= 0; w', h' may be negative)."""
    x, y, w, h = rects.T
    return np.stack([np.minimum(x, width - FRAME_MARGIN), np.minimum(y, height - FRAME_MARGIN),
                     np.minimum(w, width - x - FRAME_MARGIN), np.minimum(h, height - y - FRAME_MARGIN)], axis=1)


def rank_rects(rects: np.ndarray) -> np.ndarray:
    """Rectangles by decreasing area w * h (dt_box's std::sort); equal areas: smaller y, then x,
    then w, then h first (our tie rule: std::sort leaves their order unspecified)."""
    x, y, w, h = rects.T
    return rects[np.lexsort((h, w, x, y, -(w * h)))]


@numba.njit(cache=True, nogil=True)
def _big_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """dt_box's big_overlap: overlap (no +1) > (int)(max(area a, area b) * 0.5)."""
    limit = int(max(a[2] * a[3], b[2] * b[3]) * 0.5)
    x_overlap = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    y_overlap = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return x_overlap * y_overlap > limit


@numba.njit(cache=True, nogil=True)
def merge_rects(ranked: np.ndarray) -> np.ndarray:
    """dt_box's mergeBBox on ranked (K, 4) rectangles, literally: for each i, for j = i + 1, i + 2, ...:
    when big_overlap(i, j), erase j; the loop then still steps j, so the box moved into j is skipped."""
    kept = ranked.copy()
    size = len(kept)
    i = 0
    while i < size:
        j = i + 1
        while j < size:
            if _big_overlap(kept[i], kept[j]):
                kept[j : size - 1] = kept[j + 1 : size].copy()  # vector::erase
                size -= 1
            j += 1
        i += 1
    return kept[:size]


def devkit_boxes(rects: np.ndarray) -> np.ndarray:
    """ILSVRC_evaluate_bbox.m's boxes from dt_box's (x, y, w, h): (x, y, x + w, y + h), then per axis
    (min, max) of the two corners (w or h can be negative after clamping)."""
    x, y, w, h = rects.T
    return np.stack([np.minimum(x, x + w), np.minimum(y, y + h), np.maximum(x, x + w), np.maximum(y, y + h)], axis=1)


def _legacy_gray(heatmap: object, jpeg: bool) -> np.ndarray:
    gray = imwrite_gray(heatmap)
    return jpeg_round_trip(gray) if jpeg else gray


def cam_legacy_boxes(heatmap: object, jpeg: bool = False) -> np.ndarray:
    """(M, 4) int64 devkit boxes of every rectangle dt_box writes for `heatmap` (ranked, merged),
    as ILSVRC_evaluate_bbox.m forms them; row 0 is the prediction (`cam_legacy_box`), row 1 the
    release's "bbox2". `jpeg` adds the release's JPEG round trip (quality 75)."""
    gray = _legacy_gray(heatmap, jpeg)
    rects = clamp_rects(contour_rects(gray), *gray.shape)
    return devkit_boxes(merge_rects(rank_rects(rects)))


def _first_box(gray: np.ndarray) -> tuple[int, int, int, int]:
    rects = clamp_rects(contour_rects(gray), *gray.shape)
    if len(rects) == 0:
        return NO_CONTOUR_BOX
    return tuple(int(v) for v in devkit_boxes(rank_rects(rects)[:1])[0])


def cam_legacy_box(heatmap: object, jpeg: bool = False) -> tuple[int, int, int, int]:
    """The CAM release's ILSVRC box for `heatmap` (a map at image size): the first rectangle dt_box
    writes, as the devkit box (x, y, x + w, y + h) ILSVRC_evaluate_bbox.m compares with the XML
    ground truth. The merge never removes the first rectangle, so it is the largest by area (ties:
    `rank_rects`). No contour at any threshold (the release then fails): `NO_CONTOUR_BOX`."""
    return _first_box(_legacy_gray(heatmap, jpeg))


def cam_legacy_box_batch(heatmaps: Sequence[object], jpeg: bool = False, workers: int | None = None) -> np.ndarray:
    """(N, 4) int64 `cam_legacy_box` of N maps (any sizes), computed in `workers` threads (the
    compiled kernels release the GIL; default: up to 4, the CPU count)."""
    maps = [check_heatmap(h, f"heatmaps[{i}]") for i, h in enumerate(heatmaps)]
    count = workers if workers is not None else min(len(maps), 4, os.cpu_count() or 1)
    boxes = np.zeros((len(maps), 4), dtype=np.int64)
    if not maps:
        return boxes
    with ThreadPoolExecutor(max_workers=max(1, count)) as pool:
        for i, box in enumerate(pool.map(lambda h: _first_box(_legacy_gray(h, jpeg)), maps)):
            boxes[i] = box
    return boxes
