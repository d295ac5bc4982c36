"""cam_legacy (the CAM release's dt_box) against an independent port written here that calls OpenCV:
cv2.threshold, cv2.distanceTransform (exact L2), cv2.findContours(RETR_CCOMP) on the mask with its
1-pixel frame zeroed (what OpenCV 2.x did before tracing), cv2.boundingRect, dt_box's clamps, sort
and merge loop as plain Python, and ILSVRC_evaluate_bbox.m's box formula. Plus hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gwapbench.metrics.cam_legacy import (
    NO_CONTOUR_BOX,
    cam_legacy_box,
    cam_legacy_box_batch,
    cam_legacy_boxes,
    contour_rects,
    imwrite_gray,
    jpeg_round_trip,
    merge_rects,
)
from gwapbench.metrics._kernels.legacy_dt import keep_level
from gwapbench.metrics.box_methods import BOX_METHODS
from gwapbench.metrics.heatmaps import resize_heatmap
from gwapbench.metrics.localization import heatmap_to_box, heatmaps_to_boxes

cv2 = pytest.importorskip("cv2")

THRESHOLDS = (20, 100, 110)


# ------------------------------------------------------------------ the OpenCV port


def port_kept_mask(gray: np.ndarray, level: int) -> np.ndarray:
    """dt_box's fromDT for one threshold: binary > level, dt.c's scaled distance, > 10 (0/255 uint8)."""
    _, binary = cv2.threshold(gray, level, 255, cv2.THRESH_BINARY)
    if binary.all() or not binary.any():
        return binary  # dt.c: constant distances -> double_to_image returns without writing
    distance = cv2.distanceTransform(binary, cv2.DIST_L2, cv2.DIST_MASK_PRECISE).astype(np.float64)
    squared = np.rint(distance * distance)  # exact integer squared distances
    scaled = np.sqrt(squared) * (255.0 / np.sqrt(squared.max()))
    levels = np.clip((scaled + 0.5).astype(np.int64), 0, 255).astype(np.uint8)
    _, kept = cv2.threshold(levels, 10, 255, cv2.THRESH_BINARY)
    return kept


def port_raw_rects(gray: np.ndarray, level: int) -> list[tuple[int, int, int, int]]:
    kept = port_kept_mask(gray, level).copy()
    kept[0, :] = 0
    kept[-1, :] = 0
    kept[:, 0] = 0
    kept[:, -1] = 0
    contours, _ = cv2.findContours(kept, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return [tuple(int(v) for v in cv2.boundingRect(c)) for c in contours]


def limit(v: int, low: int, high: int) -> int:
    return low if v < low else (high if v > high else v)


def port_boxes(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """dt_box main + ILSVRC_evaluate_bbox.m's formula, as plain Python lists."""
    height, width = gray.shape
    rects = []
    for level in THRESHOLDS:
        for x, y, w, h in port_raw_rects(gray, level):
            rects.append((limit(x, 0, width - 5), limit(y, 0, height - 5),
                          limit(w, 0, width - x - 5), limit(h, 0, height - y - 5)))
    rects.sort(key=lambda r: (-r[2] * r[3], r[1], r[0], r[2], r[3]))  # same tie rule, stable sort
    i = 0
    while i < len(rects):
        j = i + 1
        while j < len(rects):
            a, b = rects[i], rects[j]
            t = int(max(a[2] * a[3], b[2] * b[3]) * 0.5)
            xo = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
            yo = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
            if xo * yo > t:
                rects.pop(j)
            j += 1
        i += 1
    boxes = []
    for x, y, w, h in rects:
        boxes.append((min(x, x + w), min(y, y + h), max(x, x + w), max(y, y + h)))
    return boxes


def port_gray(heatmap: np.ndarray) -> np.ndarray:
    """MATLAB im2uint8 of h / max(h): clip to [0, 1], 255 x rounded half away from zero, NaN -> 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        x = heatmap.astype(np.float64) / heatmap.max()
    x = np.where(np.isnan(x), 0.0, np.clip(x, 0.0, 1.0))
    return np.floor(x * 255 + 0.5).astype(np.uint8)


# ------------------------------------------------------------------ maps


def smooth_map(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """CAM-like: a coarse random field (peaky, cubed) upsampled bilinearly to (height, width)."""
    coarse = rng.random((1, 1, int(rng.integers(2, 15)), int(rng.integers(2, 15))), dtype=np.float32)
    field = torch.from_numpy(coarse ** float(rng.choice([1.0, 3.0, 6.0])))
    up = torch.nn.functional.interpolate(field, size=(height, width), mode="bilinear", align_corners=False)
    return up[0, 0].numpy() - float(rng.random()) * 0.1


def random_map(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    kind = i % 5
    height, width = (int(v) for v in rng.integers(1, 90 if kind < 2 else 36, 2))  # noise: <= ~300 contours
    if kind in (0, 1):
        return smooth_map(rng, height, width)
    if kind == 2:  # smooth plus noise
        return smooth_map(rng, height, width) + rng.normal(0, float(rng.choice([0.02, 0.1, 0.3])), (height, width))
    if kind == 3:  # binary structures: thin lines, diagonals, holes, border contact
        return (rng.random((height, width)) < rng.random()).astype(np.float64)
    return rng.random((height, width)) ** 4  # noise


def edge_maps() -> list[np.ndarray]:
    maps = [np.ones((30, 40)), np.zeros((30, 40)), -np.ones((10, 10)), np.ones((1, 1)), np.ones((3, 3)),
            np.ones((5, 5)), np.ones((6, 7)), np.arange(12.0).reshape(3, 4), -np.arange(20.0).reshape(4, 5)]
    for y, x in [(0, 0), (0, 5), (5, 0), (29, 39), (15, 20), (1, 1), (28, 38), (1, 20)]:
        hot = np.zeros((30, 40))
        hot[y, x] = 1.0
        maps.append(hot)
    ring = np.zeros((40, 40))
    ring[5:35, 5:35] = 1.0
    ring[8:32, 8:32] = 0.0
    ring[15:25, 15:25] = 1.0  # island inside the hole
    ring[18:22, 18:22] = 0.0  # hole in the island
    maps.append(ring)
    border = np.zeros((30, 40))
    border[:, :12] = 1.0  # touches three sides
    border[10:20, 12:39] = 0.6
    maps.append(border)
    lines = np.zeros((30, 40))
    lines[::3, :] = 1.0  # 1-pixel-wide rows crossing the frame
    lines[:, 20] = 1.0
    maps.append(lines)
    checker = (np.indices((25, 25)).sum(axis=0) % 2).astype(float)  # diagonal-only connectivity
    maps.append(checker)
    return maps


def image_size_maps() -> list[np.ndarray]:
    """Maps at ILSVRC-like image sizes, where distance maxima exceed 589 (keep levels > 1, so the kept
    mask erodes over several rows): CAM-like fields, broad blobs touching the image edges, and a
    large blob with holes and a ring."""
    rng = np.random.default_rng(7)
    maps = []
    for _ in range(24):
        height, width = (int(v) for v in rng.integers(120, 420, 2))
        maps.append(smooth_map(rng, height, width))
    y, x = np.mgrid[0:300, 0:400]
    blob = np.exp(-(((y - 120) / 110.0) ** 2 + ((x - 250) / 160.0) ** 2))  # t = 20 region reaches the edges
    maps.append(blob)
    holed = blob.copy()
    holed[100:140, 200:260] = 0.0
    holed[60:64, 40:300] = 0.0
    maps.append(holed)
    maps.append(np.maximum(blob, np.exp(-(((y - 250) / 30.0) ** 2 + ((x - 60) / 90.0) ** 2))))
    return maps


def all_maps() -> list[np.ndarray]:
    return edge_maps() + [random_map(i) for i in range(2000)]


# ------------------------------------------------------------------ tests


def test_gray_matches_matlab_rounding():
    heatmap = np.array([[0.0, 0.5 / 255, 1.5 / 255, 2.5 / 255, -1.0, 1.0]])
    assert imwrite_gray(heatmap).tolist() == [[0, 1, 2, 3, 0, 255]]  # half away from zero, negatives clipped
    assert imwrite_gray(np.array([[0.0, -1.0]])).tolist() == [[0, 0]]  # 0 / 0 -> NaN -> 0, -1 / 0 -> -inf
    assert imwrite_gray(np.array([[-0.0, -1.0]])).tolist() == [[0, 255]]  # -1 / -0 -> +inf -> 255
    assert imwrite_gray(-np.ones((1, 2))).tolist() == [[255, 255]]  # -1 / -1 = 1
    rng = np.random.default_rng(0)
    for _ in range(50):
        heatmap = rng.normal(size=(7, 9))
        np.testing.assert_array_equal(imwrite_gray(heatmap), port_gray(heatmap))


def test_keep_level_is_the_first_distance_dt_c_keeps():
    for max_squared in [1, 2, 4, 5, 100, 101, 589, 590, 4096, 10_000, 31_250, 90_000]:
        scale = 255.0 / np.sqrt(max_squared)
        kept = [d for d in range(1, max_squared + 1) if int(np.sqrt(d) * scale + 0.5) > 10]
        assert keep_level(max_squared) == kept[0]
    assert keep_level(589) == 1  # 255 / sqrt(589) = 10.507: (int)(10.507 + 0.5) = 11 > 10 at d = 1
    assert keep_level(590) == 2  # 255 / sqrt(590) = 10.498: (int)(10.998) = 10, so d = 1 is dropped


def test_hand_worked_ring_with_hole():
    heatmap = np.zeros((20, 30))
    heatmap[5:15, 8:25] = 1.0  # rows 5..14, cols 8..24: distance max 5, keep level 1 -> the block itself
    heatmap[9:11, 14:17] = 0.0  # hole rows 9..10, cols 14..16
    outer, hole = (8, 5, 17, 10), (13, 8, 5, 4)  # hole border runs one pixel around the hole
    assert [tuple(r) for r in contour_rects(imwrite_gray(heatmap))] == [outer, hole] * 3
    # ranked: outer x3 (area 170), hole x3 (area 20); the merge erases the 2nd outer, skips the 3rd
    # (it moved into the erased slot), and likewise keeps hole 1 and hole 3
    expected = [(8, 5, 25, 15), (8, 5, 25, 15), (13, 8, 18, 12), (13, 8, 18, 12)]
    assert [tuple(b) for b in cam_legacy_boxes(heatmap)] == expected
    assert cam_legacy_box(heatmap) == (8, 5, 25, 15)


def test_clamps_near_the_right_and_bottom_edges():
    heatmap = np.zeros((12, 12))
    heatmap[3:11, 9:11] = 1.0  # rows 3..10, cols 9..10: x = 9 > W - 5 = 7, w = min(2, 12 - 9 - 5) = -2
    # rect (9, 3, 2, 8) -> (7, 3, -2, min(8, 12 - 3 - 5) = 4) -> devkit (5, 3, 7, 7)
    assert cam_legacy_box(heatmap) == (5, 3, 7, 7)


def test_merge_skips_the_box_after_an_erased_one():
    big, same, other = [0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 9, 9]
    merged = merge_rects(np.array([big, same, other]))
    assert merged.tolist() == [big, other]  # `other` overlaps `big` but moved into the erased slot


def test_no_contour_gives_the_documented_box():
    hot = np.zeros((30, 40))
    hot[0, 7] = 1.0  # only on the frame, which OpenCV 2.x zeroes
    assert cam_legacy_box(hot) == NO_CONTOUR_BOX
    assert cam_legacy_box(np.zeros((5, 5))) == NO_CONTOUR_BOX
    assert port_boxes(port_gray(hot)) == []


def _mismatches_with_the_port(maps) -> list[tuple]:
    """Per map: the gray levels, every threshold's raw rectangles, all boxes and the first box against the
    OpenCV port of dt_box; the (map, what) pairs that differ."""
    mismatches = []
    for i, heatmap in enumerate(maps):
        gray = imwrite_gray(heatmap)
        np.testing.assert_array_equal(gray, port_gray(heatmap))
        for level in THRESHOLDS:
            ours = sorted(tuple(int(v) for v in r) for r in contour_rects(gray, (level,)))
            if ours != sorted(port_raw_rects(gray, level)):
                mismatches.append((i, level, "raw rects"))
        expected = port_boxes(gray)
        if [tuple(b) for b in cam_legacy_boxes(heatmap)] != expected:
            mismatches.append((i, "boxes"))
        if cam_legacy_box(heatmap) != (expected[0] if expected else NO_CONTOUR_BOX):
            mismatches.append((i, "first box"))
    return mismatches


def test_matches_the_opencv_port_on_2000_maps():
    maps = all_maps()
    assert len(maps) >= 2000
    mismatches = _mismatches_with_the_port(maps)
    assert not mismatches, mismatches[:10]


def test_matches_the_opencv_port_on_image_size_maps():
    mismatches = _mismatches_with_the_port(image_size_maps())
    assert not mismatches, mismatches[:10]


def test_contour_rects_rejects_bad_thresholds():
    gray = np.zeros((4, 4), dtype=np.uint8)
    for thresholds in [(), (256,), (-1,), (20.5,), tuple(range(9))]:
        with pytest.raises(ValueError, match="thresholds"):
            contour_rects(gray, thresholds)


def test_batch_and_dispatch_agree_with_single_maps():
    maps = [random_map(i) for i in range(40)] + edge_maps()
    expected = [port_boxes(port_gray(m)) for m in maps]
    first = [e[0] if e else NO_CONTOUR_BOX for e in expected]
    assert cam_legacy_box_batch(maps).tolist() == [list(b) for b in first]
    assert cam_legacy_box_batch(maps, workers=1).tolist() == [list(b) for b in first]
    assert [heatmap_to_box(m, method="cam_legacy") for m in maps[:10]] == first[:10]
    assert cam_legacy_box_batch([]).shape == (0, 4)


def test_heatmaps_to_boxes_runs_every_registered_method_at_image_size():
    """`heatmaps_to_boxes(..., method="cam_legacy", image_sizes=...)` equals the OpenCV port on each map
    resized to its image (torch's bilinear interpolate, called here), map by map; every name of the
    registry is accepted by both entry points, any other is refused."""
    assert "cam_legacy" in BOX_METHODS
    rng = np.random.default_rng(7)
    maps = [random_map(i).astype(np.float32)[:7, :9] for i in range(12)]
    sizes = np.array([[int(rng.integers(40, 90)), int(rng.integers(40, 90))] for _ in maps])
    expected = []
    for m, (height, width) in zip(maps, sizes):
        resized = torch.nn.functional.interpolate(torch.from_numpy(m)[None, None], size=(int(height), int(width)),
                                                  mode="bilinear", align_corners=False)[0, 0].numpy()
        ported = port_boxes(port_gray(resized))
        expected.append(list(ported[0]) if ported else list(NO_CONTOUR_BOX))
    assert heatmaps_to_boxes(maps, 0.2, "cam_legacy", sizes).tolist() == expected
    for method in BOX_METHODS:
        one = heatmap_to_box(resize_heatmap(maps[0], int(sizes[0, 0]), int(sizes[0, 1])), 0.2, method)
        assert list(one) == heatmaps_to_boxes(maps[:1], 0.2, method, sizes[:1])[0].tolist()
    with pytest.raises(ValueError, match="method must be one of"):
        heatmaps_to_boxes(maps, 0.2, "opencv")


def test_jpeg_round_trip_matches_opencv_decoding():
    rng = np.random.default_rng(3)
    heatmap = smooth_map(rng, 60, 80)
    gray = imwrite_gray(heatmap)
    ok, encoded = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, 75])
    assert ok
    decoded = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(jpeg_round_trip(gray), decoded)
    expected = port_boxes(decoded)
    assert cam_legacy_box(heatmap, jpeg=True) == (expected[0] if expected else NO_CONTOUR_BOX)
