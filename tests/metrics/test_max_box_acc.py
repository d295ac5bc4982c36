"""MaxBoxAcc / MaxBoxAccV2 (compiled level sweep) against independent references:
- "components": gwapbench's earlier numpy sweep (reference_level_sweep.py), on every map and
  threshold, and a literal scipy.ndimage.label loop per map and threshold;
- "wsolevaluation": a port written here of wsolevaluation's `compute_bboxes_from_scoremaps` and
  `BoxEvaluator.accumulate` that calls OpenCV (findContours RETR_TREE, contourArea, boundingRect),
  on 2,500 maps; and wsolevaluation's own source (../shared/reference/wsolevaluation or $WSOLEVALUATION_DIR);
- hand-worked cases where the two conventions differ."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from reference_level_sweep import numpy_best_ious  # noqa: E402

from gwapbench.metrics.localization import (  # noqa: E402
    MaxBoxAcc,
    MaxBoxAccOptions,
    best_box_ious,
    box_hit_counts,
    max_box_acc,
    max_box_acc_v2,
)

EIGHT = np.ones((3, 3), dtype=int)
V2_IOUS = (0.3, 0.5, 0.7)


def literal_iou(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    return iw * ih / ((a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - iw * ih)


def smooth_maps(count: int, size: int, seed: int, coarse: int = 7) -> np.ndarray:
    """CAM-like maps: a coarse random field upsampled bilinearly, min-max normalized (float64)."""
    rng = np.random.default_rng(seed)
    field = torch.from_numpy(rng.random((count, 1, coarse, coarse)) ** 3)
    maps = torch.nn.functional.interpolate(field, size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    maps = maps.numpy()
    low, high = maps.min(axis=(1, 2), keepdims=True), maps.max(axis=(1, 2), keepdims=True)
    return (maps - low) / (high - low)


def mixed_maps(count: int, height: int, width: int, seed: int) -> np.ndarray:
    """Noise, sparse noise, few-level, binary and smooth maps: many components, holes, ties, merges."""
    rng = np.random.default_rng(seed)
    per = count // 5
    shape = (per, height, width)
    return np.concatenate([
        rng.random(shape),
        (rng.random(shape) > 0.5) * rng.random(shape),
        np.round(rng.random(shape) * 3) / 3,
        (rng.random(shape) > 0.4) * 1.0,
        smooth_maps(per, max(height, width), seed + 1, coarse=5)[:, :height, :width],
    ])


def simulated_gt(count: int, height: int, width: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    boxes = []
    for _ in range(count):
        n = int(rng.integers(1, 3))
        x1, y1 = rng.integers(0, width // 2, size=n), rng.integers(0, height // 2, size=n)
        x2 = np.minimum(x1 + rng.integers(width // 8, width // 2 + 1, size=n), width - 1)
        y2 = np.minimum(y1 + rng.integers(height // 8, height // 2 + 1, size=n), height - 1)
        boxes.append(np.stack([x1, y1, x2, y2], axis=1).astype(float))
    return boxes


def wsolevaluation_port(maps, gt_boxes, thresholds, multi_contour) -> np.ndarray:
    """(N, T) best IoU per map and threshold, wsolevaluation's logic re-stated with OpenCV:
    q = (s * 255).astype(uint8); cv2.threshold(q, int(t * max q)); findContours(RETR_TREE,
    CHAIN_APPROX_SIMPLE); the max by contourArea (or every contour); boundingRect -> (x, y,
    min(x + w, W - 1), min(y + h, H - 1)); no contour -> (0, 0, 0, 0)."""
    cv2 = pytest.importorskip("cv2")
    out = np.zeros((len(maps), len(thresholds)))
    for i, (scoremap, gt) in enumerate(zip(maps, gt_boxes)):
        image = (scoremap * 255).astype(np.uint8)
        height, width = scoremap.shape
        for j, t in enumerate(thresholds):
            _, binary = cv2.threshold(image, int(t * np.max(image)), 255, cv2.THRESH_BINARY)
            contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
            if not contours:
                boxes = [(0, 0, 0, 0)]
            else:
                if not multi_contour:
                    contours = [max(contours, key=cv2.contourArea)]
                boxes = []
                for contour in contours:
                    x, y, w, h = cv2.boundingRect(contour)
                    boxes.append((x, y, min(x + w, width - 1), min(y + h, height - 1)))
            out[i, j] = max(literal_iou(box, g) for box in boxes for g in gt)
    return out


def literal_best_ious(maps, gt_boxes, thresholds, multi_contour) -> np.ndarray:
    """Per map, per threshold: scipy 8-labeling of q > floor(t * max q), q = floor(255 s); the first
    largest component's inclusive box (or every component's); best IoU with a GT box."""
    out = np.zeros((len(maps), len(thresholds)))
    for i, (heatmap, gt) in enumerate(zip(maps, gt_boxes)):
        levels = (heatmap * heatmap.dtype.type(255)).astype(np.uint8)
        for j, t in enumerate(thresholds):
            labels, count = ndimage.label(levels > int(t * levels.max()), structure=EIGHT)
            boxes = []
            for lab in range(1, count + 1):
                rows, cols = np.nonzero(labels == lab)
                boxes.append((len(rows), (cols.min(), rows.min(), cols.max(), rows.max())))
            if not boxes:
                candidates = [(0, 0, 0, 0)]
            elif multi_contour:
                candidates = [box for _, box in boxes]
            else:
                largest = max(size for size, _ in boxes)
                candidates = [next(box for size, box in boxes if size == largest)]
            out[i, j] = max(literal_iou(b, g) for b in candidates for g in gt)
    return out


# ------------------------------------------------------------------ components convention


@pytest.mark.parametrize("multi_contour", [False, True])
def test_components_equal_the_numpy_sweep_on_every_map(multi_contour):
    maps = np.concatenate([mixed_maps(400, 20, 26, seed=1)])
    gt = simulated_gt(len(maps), 20, 26, seed=2)
    thresholds = np.arange(0, 1, 0.01)
    expected = numpy_best_ious(maps, gt, thresholds, multi_contour)
    options = MaxBoxAccOptions(thresholds, multi_contour=multi_contour)
    np.testing.assert_array_equal(best_box_ious(maps, gt, options), expected)
    big = np.concatenate([smooth_maps(6, 224, seed=3, coarse=14), np.random.default_rng(4).random((4, 224, 224))])
    big_gt = simulated_gt(len(big), 224, 224, seed=5)
    np.testing.assert_array_equal(best_box_ious(big, big_gt, options),
                                  numpy_best_ious(big, big_gt, thresholds, multi_contour))


@pytest.mark.parametrize("multi_contour", [False, True])
def test_components_equal_a_literal_scipy_loop(multi_contour):
    maps = mixed_maps(60, 12, 16, seed=13).astype(np.float32)
    gt = simulated_gt(len(maps), 12, 16, seed=15)
    thresholds = np.arange(0, 1, 0.05)
    options = MaxBoxAccOptions(thresholds, (0.1, 0.3, 0.5, 0.7), multi_contour)
    expected = literal_best_ious(maps, gt, thresholds, multi_contour)
    np.testing.assert_array_equal(best_box_ious(maps, gt, options), expected)
    hits = (expected[None] >= np.array(options.iou_thresholds)[:, None, None]).sum(axis=1)
    np.testing.assert_array_equal(box_hit_counts(maps, gt, options), hits)


# ------------------------------------------------------------------ wsolevaluation convention


@pytest.mark.parametrize("multi_contour", [False, True])
def test_wsolevaluation_equals_its_opencv_logic_on_2500_maps(multi_contour):
    maps = np.concatenate([mixed_maps(2000, 24, 20, seed=6), smooth_maps(500, 24, seed=7, coarse=4)[:, :, :20]])
    gt = simulated_gt(len(maps), 24, 20, seed=8)
    thresholds = np.arange(0, 1, 0.05)
    options = MaxBoxAccOptions(thresholds, V2_IOUS, multi_contour, "wsolevaluation")
    np.testing.assert_array_equal(best_box_ious(maps, gt, options),
                                  wsolevaluation_port(maps, gt, thresholds, multi_contour))


def test_wsolevaluation_on_cam_like_224_maps():
    maps = smooth_maps(12, 224, seed=9, coarse=14)
    gt = simulated_gt(len(maps), 224, 224, seed=10)
    thresholds = np.arange(0, 1, 0.01)
    for multi_contour in (False, True):
        options = MaxBoxAccOptions(thresholds, V2_IOUS, multi_contour, "wsolevaluation")
        np.testing.assert_array_equal(best_box_ious(maps, gt, options),
                                      wsolevaluation_port(maps, gt, thresholds, multi_contour))


def test_wsolevaluation_equals_its_own_source(wsolevaluation_dir):
    """Runs wsolevaluation's own functions from its source (the shared copy or $WSOLEVALUATION_DIR)."""
    import wsolevaluation_source

    functions = wsolevaluation_source.load(wsolevaluation_dir)
    maps = mixed_maps(500, 24, 20, seed=11)
    gt = [np.round(g) for g in simulated_gt(len(maps), 24, 20, seed=12)]
    thresholds = np.arange(0, 1, 0.05)
    for multi_contour in (False, True):
        options = MaxBoxAccOptions(thresholds, V2_IOUS, multi_contour, "wsolevaluation")
        np.testing.assert_array_equal(best_box_ious(maps, gt, options),
                                      wsolevaluation_source.best_ious(functions, maps, gt, thresholds, multi_contour))


def _box_at_zero_threshold(mask: np.ndarray, convention: str, multi_contour: bool = False) -> tuple:
    """The box a convention picks on a binary map at t = 0: the GT box with IoU 1 among probes."""
    height, width = mask.shape
    candidates = [(x1, y1, x2, y2) for y1 in range(height) for y2 in range(y1, height)
                  for x1 in range(width) for x2 in range(x1, width)]
    gt = [np.array([box], dtype=float) for box in candidates]
    maps = np.repeat(mask[None].astype(float), len(candidates), axis=0)
    best = best_box_ious(maps, gt, MaxBoxAccOptions((0.0,), (1.0,), multi_contour, convention))[:, 0]
    return [box for box, iou in zip(candidates, best) if iou == 1.0]


def test_hand_worked_ranking_by_contour_area_not_pixel_count():
    mask = np.zeros((6, 9))
    mask[0, 0:8] = 1  # a line of 8 pixels: contourArea 0
    mask[3:5, 2:4] = 1  # a 2x2 block of 4 pixels: contourArea 1
    assert _box_at_zero_threshold(mask, "components") == [(0, 0, 7, 0)]
    assert _box_at_zero_threshold(mask, "wsolevaluation") == [(2, 3, 4, 5)]  # x2 = x + w, y2 = y + h


def test_hand_worked_holes_count_in_the_contour_area():
    mask = np.zeros((7, 14))
    mask[1:6, 0:5] = 1
    mask[2:5, 1:4] = 0  # a 5x5 ring: 16 pixels, contourArea 16 (holes filled)
    mask[1:5, 7:12] = 1  # a solid 4x5 block: 20 pixels, contourArea 12
    assert _box_at_zero_threshold(mask, "components") == [(7, 1, 11, 4)]
    assert _box_at_zero_threshold(mask, "wsolevaluation") == [(0, 1, 5, 6)]  # y + h clipped to H - 1 = 6


def test_hand_worked_ties_go_to_the_last_component_in_raster_order():
    mask = np.zeros((8, 10))
    mask[1:3, 1:3] = 1
    mask[5:7, 6:8] = 1
    assert _box_at_zero_threshold(mask, "components") == [(1, 1, 2, 2)]
    assert _box_at_zero_threshold(mask, "wsolevaluation") == [(6, 5, 8, 7)]


def test_hand_worked_v2_scores_the_hole_contour():
    mask = np.zeros((9, 9))
    mask[1:8, 1:8] = 1
    mask[3:6, 3:6] = 0  # hole 3..5: its contour runs through 2..6, wsolevaluation box (2, 2, 7, 7)
    boxes = _box_at_zero_threshold(mask, "wsolevaluation", multi_contour=True)
    assert sorted(boxes) == [(1, 1, 8, 8), (2, 2, 7, 7)]
    assert _box_at_zero_threshold(mask, "components", multi_contour=True) == [(1, 1, 7, 7)]


# ------------------------------------------------------------------ API, accumulator, errors


def test_accumulator_keeps_constant_state_and_merges_to_the_single_pass():
    maps = smooth_maps(60, 32, seed=20)
    gt = simulated_gt(60, 32, 32, seed=21)
    options = MaxBoxAccOptions.v2(np.arange(0, 1, 0.05), "wsolevaluation")
    whole = max_box_acc(maps, gt, options)
    first, second = MaxBoxAcc(options), MaxBoxAcc(options)
    for start in range(0, 30, 5):
        first.update(maps[start : start + 5], gt[start : start + 5])
    second.update(maps[30:], gt[30:])
    assert first.state()["items"] == {} and set(first.state()["totals"]) == {"counts", "images"}
    merged = first.merge(second.state())
    assert merged.state()["items"] == {} and merged.state()["totals"]["images"] == 60
    np.testing.assert_array_equal(merged.compute()[1], whole[1])
    assert max_box_acc_v2(maps, gt, np.arange(0, 1, 0.05), "wsolevaluation") == pytest.approx(whole[0].mean())
    with pytest.raises(ValueError, match="cannot merge"):
        MaxBoxAcc(MaxBoxAccOptions.v2(np.arange(0, 1, 0.05))).merge(first)


def test_constant_map_gives_the_empty_box():
    gt = [np.array([[0.0, 0.0, 1.0, 1.0]])]  # IoU of (0, 0, 0, 0) with it: 1/4
    for convention in ("components", "wsolevaluation"):
        _, curves = max_box_acc(np.zeros((1, 8, 8)), gt, MaxBoxAccOptions((0.0, 0.5), (0.25, 0.3), False, convention))
        np.testing.assert_array_equal(curves, [[1.0, 1.0], [0.0, 0.0]])


def test_options_are_frozen_and_validated():
    options = MaxBoxAccOptions()
    with pytest.raises(AttributeError):
        options.box_convention = "wsolevaluation"
    assert MaxBoxAccOptions.v2().iou_thresholds == V2_IOUS and MaxBoxAccOptions.v2().multi_contour


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: max_box_acc(np.full((1, 4, 4), 2.0), [np.zeros((1, 4))]), r"\[0, 1\]"),
        (lambda: max_box_acc(np.full((1, 4, 4), np.inf), [np.zeros((1, 4))]), r"\[0, 1\]"),
        (lambda: max_box_acc(np.full((1, 4, 4), np.nan), [np.zeros((1, 4))]), "NaN"),
        (lambda: max_box_acc(np.zeros((4, 4)), [np.zeros((1, 4))]), "3-D"),
        (lambda: max_box_acc(np.zeros((2, 4, 4)), [np.zeros((1, 4))]), "length mismatch"),
        (lambda: MaxBoxAccOptions(cam_thresholds=(1.0,)), "cam_thresholds"),
        (lambda: MaxBoxAccOptions(cam_thresholds=()), "cam_thresholds is empty"),
        (lambda: MaxBoxAccOptions(iou_thresholds=(0.0,)), "iou_thresholds"),
        (lambda: MaxBoxAccOptions(box_convention="opencv"), "box_convention must be one of"),
        (lambda: max_box_acc(np.zeros((0, 4, 4)), []), "no images"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_outer_border_trace_equals_opencv_contour_area():
    """`_outer_border_area2` (Suzuki-Abe trace + shoelace) against cv2.contourArea of findContours'
    outer contour, for the component of the first foreground pixel of random blobs with holes."""
    cv2 = pytest.importorskip("cv2")
    from gwapbench.metrics._kernels.threshold_sweep import _outer_border_area2, _ring_offsets

    rng = np.random.default_rng(4)
    for _ in range(300):
        height, width = rng.integers(1, 14, size=2)
        binary = (rng.random((height, width)) > rng.uniform(0.2, 0.7)).astype(np.uint8)
        if not binary.any():
            continue
        labels, _ = ndimage.label(binary, structure=EIGHT)
        first = np.argmax(binary.ravel())
        component = (labels == labels.ravel()[first]).astype(np.uint8)
        contours = cv2.findContours(component, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0]
        member = np.pad(component, 1).ravel()
        offsets = _ring_offsets(width + 2)
        start = (first // width + 1) * (width + 2) + first % width + 1
        assert _outer_border_area2(member, start, offsets) == 2 * cv2.contourArea(contours[0])
