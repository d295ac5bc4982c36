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
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from gwapbench.compiled import njit
from gwapbench.metrics._kernels.contour_rects import RECT_COLUMNS, rects_of_runs
from gwapbench.metrics._kernels.gray_runs import MAX_LEVELS, gray_runs
from gwapbench.metrics._kernels.legacy_dt import imwrite_levels, kept_runs
from gwapbench.metrics.heatmaps import check_heatmap

CAM_THRESHOLDS = (20, 100, 110)  # bbox_threshold in generate_bbox.m / ILSVRC_evaluate_bbox.m
FRAME_MARGIN = 5  # dt_box's LIMIT(...) clamps: x <= W - 5, x + w <= W - 5
MATLAB_JPEG_QUALITY = 75  # MATLAB imwrite's documented default JPEG quality
NO_CONTOUR_BOX = (0, 0, 0, 0)  # our result where no threshold leaves a contour (the release has none)


# ---------------------------------------------------------------- 8-bit map as the release wrote it


class _Workspace(threading.local):
    """Per-thread buffers reused from map to map (fresh multi-megabyte arrays cost page faults
    that take longer than the kernels): the uint8 map, foreground and kept runs."""

    def __init__(self) -> None:
        self.gray = np.empty(0, dtype=np.uint8)
        self.fg_runs = np.empty((0, 2, 0), dtype=np.int32)
        self.runs = np.empty((3, 0), dtype=np.int32)

    def gray_map(self, height: int, width: int) -> np.ndarray:
        """The (height, width) uint8 map buffer."""
        if self.gray.size < height * width:
            self.gray = np.empty(height * width, dtype=np.uint8)
        return self.gray[: height * width].reshape(height, width)

    def run_buffers(self, height: int, width: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
        """(foreground runs per level, kept runs) buffers grown to fit a (height, width) map at `levels` levels."""
        most_runs = height * ((width + 1) // 2)
        if self.runs.shape[1] < most_runs:
            self.runs = np.empty((3, most_runs), dtype=np.int32)
        if self.fg_runs.shape[0] < levels or self.fg_runs.shape[2] < most_runs:
            self.fg_runs = np.empty((max(levels, self.fg_runs.shape[0]), 2, most_runs), dtype=np.int32)
        return self.fg_runs, self.runs


_WORKSPACE = _Workspace()


def imwrite_gray(heatmap: object) -> np.ndarray:
    """uint8 map floor(255 x + 0.5), x = clip(h / max h, 0, 1): ILSVRC_generate_heatmap.m's
    `alignImgMean./max(alignImgMean(:))` written by MATLAB `imwrite` (round half away from zero).
    Division is literal (IEEE): max h = +0 gives NaN or -inf (written as 0), max h = -0 gives +inf (255),
    max h < 0 gives values >= 1 (255)."""
    arr = check_heatmap(heatmap)
    gray = np.empty(arr.shape, dtype=np.uint8)
    imwrite_levels(arr, gray)
    return gray


def jpeg_round_trip(gray: np.ndarray, quality: int = MATLAB_JPEG_QUALITY) -> np.ndarray:
    """The uint8 map after a grayscale JPEG encode (PIL/libjpeg at `quality`) and decode, as the
    release's heat maps went through `imwrite(..., '.jpg')` and dt_box's `cvLoadImage(file, 0)`."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(gray, dtype=np.uint8), mode="L").save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("L"), dtype=np.uint8)


# ---------------------------------------------------------------- dt_box


@njit(cache=True, nogil=True)
def _level_rects(gray: np.ndarray, levels: np.ndarray, fg_runs: np.ndarray, runs: np.ndarray) -> np.ndarray:
    height, width = gray.shape
    starts = np.empty((len(levels), height + 1), dtype=np.int64)
    gray_runs(gray, levels, starts, fg_runs)
    found = []
    total = 0
    for t in range(len(levels)):
        n = kept_runs(starts[t], fg_runs[t], height, width, runs)
        rects = rects_of_runs(runs[0, :n], runs[1, :n], runs[2, :n])
        found.append(rects)
        total += len(rects)
    out = np.empty((total, RECT_COLUMNS), dtype=np.int64)
    n = 0
    for rects in found:
        out[n : n + len(rects)] = rects
        n += len(rects)
    return out


def _rects_of_gray(gray: np.ndarray, thresholds: Sequence[int]) -> np.ndarray:
    levels = np.asarray(thresholds, dtype=np.uint8)
    return _level_rects(gray, levels, *_WORKSPACE.run_buffers(gray.shape[0], gray.shape[1], len(levels)))


def contour_rects(gray: np.ndarray, thresholds: Sequence[int] = CAM_THRESHOLDS) -> np.ndarray:
    """(K, 4) int64 raw cv::boundingRect (x, y, w, h) of all contours dt_box finds in a uint8 map,
    threshold by threshold (outer borders, then hole borders); 1 to `MAX_LEVELS` thresholds in 0..255."""
    if not 0 < len(thresholds) <= MAX_LEVELS or any(int(t) != t or not 0 <= t <= 255 for t in thresholds):
        raise ValueError(f"thresholds must be 1 to {MAX_LEVELS} integers in 0..255, got {list(thresholds)}")
    return _rects_of_gray(np.ascontiguousarray(gray, dtype=np.uint8), thresholds)


def _legacy_rects(heatmap: object, jpeg: bool) -> tuple[np.ndarray, int, int]:
    """Raw rectangles of a map (gray levels built in the thread's workspace), and its height, width."""
    arr = check_heatmap(heatmap)
    gray = _WORKSPACE.gray_map(arr.shape[0], arr.shape[1])
    imwrite_levels(arr, gray)
    if jpeg:
        gray = jpeg_round_trip(gray)
    return _rects_of_gray(gray, CAM_THRESHOLDS), arr.shape[0], arr.shape[1]


@njit(cache=True, nogil=True)
def clamp_rects(rects: np.ndarray, height: int, width: int) -> np.ndarray:
    """dt_box's LIMIT clamps: x' = min(x, W - 5), y' = min(y, H - 5), w' = min(w, W - x - 5),
    h' = min(h, H - y - 5) (LIMIT(v, 0, R) = min(v, R) for v >= 0; w', h' may be negative)."""
    clamped = np.empty_like(rects)
    for i in range(len(rects)):
        x, y, w, h = rects[i, 0], rects[i, 1], rects[i, 2], rects[i, 3]
        clamped[i, 0], clamped[i, 1] = min(x, width - FRAME_MARGIN), min(y, height - FRAME_MARGIN)
        clamped[i, 2], clamped[i, 3] = min(w, width - x - FRAME_MARGIN), min(h, height - y - FRAME_MARGIN)
    return clamped


def rank_rects(rects: np.ndarray) -> np.ndarray:
    """Rectangles by decreasing area w * h (dt_box's std::sort); equal areas: smaller y, then x,
    then w, then h first (our tie rule: std::sort leaves their order unspecified)."""
    x, y, w, h = rects.T
    return rects[np.lexsort((h, w, x, y, -(w * h)))]


@njit(cache=True, nogil=True)
def _big_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """dt_box's big_overlap: overlap (no +1) > (int)(max(area a, area b) * 0.5)."""
    limit = int(max(a[2] * a[3], b[2] * b[3]) * 0.5)
    x_overlap = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    y_overlap = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return x_overlap * y_overlap > limit


@njit(cache=True, nogil=True)
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


@njit(cache=True, nogil=True)
def devkit_boxes(rects: np.ndarray) -> np.ndarray:
    """ILSVRC_evaluate_bbox.m's boxes from dt_box's (x, y, w, h): (x, y, x + w, y + h), then per axis
    (min, max) of the two corners (w or h can be negative after clamping)."""
    boxes = np.empty_like(rects)
    for i in range(len(rects)):
        x, y, right, bottom = rects[i, 0], rects[i, 1], rects[i, 0] + rects[i, 2], rects[i, 1] + rects[i, 3]
        boxes[i, 0], boxes[i, 1] = min(x, right), min(y, bottom)
        boxes[i, 2], boxes[i, 3] = max(x, right), max(y, bottom)
    return boxes


def cam_legacy_boxes(heatmap: object, jpeg: bool = False) -> np.ndarray:
    """(M, 4) int64 devkit boxes of every rectangle dt_box writes for `heatmap` (ranked, merged),
    as ILSVRC_evaluate_bbox.m forms them; row 0 is the prediction (`cam_legacy_box`), row 1 the
    release's "bbox2". `jpeg` adds the release's JPEG round trip (quality 75)."""
    rects, height, width = _legacy_rects(heatmap, jpeg)
    return devkit_boxes(merge_rects(rank_rects(clamp_rects(rects, height, width))))


def cam_legacy_box(heatmap: object, jpeg: bool = False) -> tuple[int, int, int, int]:
    """The CAM release's ILSVRC box for `heatmap` (a map at image size): the first rectangle dt_box
    writes, as the devkit box (x, y, x + w, y + h) ILSVRC_evaluate_bbox.m compares with the XML
    ground truth. The merge never removes the first rectangle, so it is the largest by area (ties:
    `rank_rects`). No contour at any threshold (the release then fails): `NO_CONTOUR_BOX`."""
    rects, height, width = _legacy_rects(heatmap, jpeg)
    if len(rects) == 0:
        return NO_CONTOUR_BOX
    return tuple(int(v) for v in devkit_boxes(rank_rects(clamp_rects(rects, height, width))[:1])[0])


def cam_legacy_box_batch(heatmaps: Sequence[object], jpeg: bool = False, workers: int | None = None) -> np.ndarray:
    """(N, 4) int64 `cam_legacy_box` of N maps (any sizes), computed in `workers` threads (the
    compiled kernels release the GIL; default: up to 4, the CPU count)."""
    maps = [check_heatmap(h, f"heatmaps[{i}]") for i, h in enumerate(heatmaps)]
    count = workers if workers is not None else min(len(maps), 4, os.cpu_count() or 1)
    boxes = np.zeros((len(maps), 4), dtype=np.int64)
    if not maps:
        return boxes
    with ThreadPoolExecutor(max_workers=max(1, count)) as pool:
        for i, box in enumerate(pool.map(lambda h: cam_legacy_box(h, jpeg), maps)):
            boxes[i] = box
    return boxes
