"""Box localization metrics against independent references written here: a scipy.ndimage.label
literal loop for the largest component and a literal per-image loop of the ILSVRC devkit's
eval_clsloc (MaxBoxAcc: test_max_box_acc.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from gwapbench.data.ilsvrc import read_wsol_metadata
from gwapbench.metrics.localization import (
    LocalizationError,
    gt_known_accuracy,
    heatmap_to_box,
    heatmaps_to_boxes,
    localization_error,
)

EIGHT = np.ones((3, 3), dtype=int)


def reference_box(heatmap: np.ndarray, threshold: float) -> tuple[int, int, int, int]:
    """Literal: label pixels > threshold * max, count each label's pixels, first largest label wins."""
    labels, count = ndimage.label(heatmap > threshold * heatmap.max(), structure=EIGHT)
    if count == 0:
        return (0, 0, 0, 0)
    sizes = [int(np.sum(labels == lab)) for lab in range(1, count + 1)]
    best = 1 + sizes.index(max(sizes))
    rows, cols = np.nonzero(labels == best)
    return (cols.min(), rows.min(), cols.max(), rows.max())


def smooth_maps(count: int, size: int, seed: int, coarse: int = 7) -> np.ndarray:
    """Realistic CAM-like maps: a coarse random field upsampled bilinearly, min-max normalized."""
    rng = np.random.default_rng(seed)
    field = torch.from_numpy(rng.random((count, 1, coarse, coarse), dtype=np.float32) ** 3)
    maps = torch.nn.functional.interpolate(field, size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    maps = maps.numpy()
    low, high = maps.min(axis=(1, 2), keepdims=True), maps.max(axis=(1, 2), keepdims=True)
    return (maps - low) / (high - low)


# ------------------------------------------------------------------ heat map -> box


def test_heatmap_to_box_matches_scipy_literal_reference():
    rng = np.random.default_rng(1)
    for i in range(60):
        heatmap = rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 30))))
        if i % 2:
            heatmap = smooth_maps(1, 40, seed=i)[0]
        threshold = float(rng.choice([0.0, 0.2, 0.5, 0.8]))
        assert heatmap_to_box(heatmap, threshold) == reference_box(heatmap, threshold)


def test_diagonal_touch_is_one_8_component():
    heatmap = np.zeros((4, 4))
    heatmap[0, 0] = heatmap[1, 1] = heatmap[2, 2] = 1.0
    heatmap[3, 0] = 1.0  # isolated single pixel
    assert heatmap_to_box(heatmap) == (0, 0, 2, 2)


def test_equal_size_components_first_in_row_major_order_wins():
    heatmap = np.zeros((6, 8))
    heatmap[4:6, 0:2] = 1.0  # 4 pixels, first pixel at row 4
    heatmap[1:3, 5:7] = 1.0  # 4 pixels, first pixel at row 1: wins
    assert heatmap_to_box(heatmap) == (5, 1, 6, 2)


def test_strictly_above_threshold_times_max():
    heatmap = np.array([[1.0, 0.2, 0.0, 0.0, 0.5]])
    assert heatmap_to_box(heatmap, 0.2) == (0, 0, 0, 0)  # 0.2 is not > 0.2; 0.5 is a separate 1-pixel blob
    heatmap[0, 2] = 0.3
    assert heatmap_to_box(np.array([[0.0, 0.3, 0.3, 1.0]]), 0.2) == (1, 0, 3, 0)


def test_constant_zero_and_one_pixel_maps():
    assert heatmap_to_box(np.full((5, 7), 3.0)) == (0, 0, 6, 4)  # every pixel > 0.2 * 3
    assert heatmap_to_box(np.zeros((5, 7))) == (0, 0, 0, 0)  # nothing above: wsolevaluation's empty box
    assert heatmap_to_box(np.array([[0.7]])) == (0, 0, 0, 0)
    single = np.zeros((9, 9))
    single[4, 6] = 1.0
    assert heatmap_to_box(single) == (6, 4, 6, 4)


def test_heatmaps_to_boxes_mixed_sizes_and_stack():
    rng = np.random.default_rng(2)
    maps = [rng.random((int(rng.integers(5, 40)), int(rng.integers(5, 40)))) for _ in range(30)]
    maps += list(smooth_maps(20, 33, seed=3))
    expected = np.array([reference_box(m, 0.5) for m in maps])
    np.testing.assert_array_equal(heatmaps_to_boxes(maps, 0.5), expected)
    np.testing.assert_array_equal(heatmaps_to_boxes(np.stack(maps[30:]), 0.5), expected[30:])
    assert heatmaps_to_boxes([], 0.2).shape == (0, 4)


def test_heatmaps_to_boxes_resized_to_image_sizes_matches_opencv_resize_then_reference():
    cv2 = pytest.importorskip("cv2")
    maps = list(np.random.default_rng(11).random((40, 14, 14), dtype=np.float32) ** 3)
    sizes = np.random.default_rng(12).integers(20, 120, size=(40, 2))
    ours = heatmaps_to_boxes(maps, 0.2, image_sizes=sizes)
    for heatmap, (height, width), box in zip(maps, sizes, ours):
        resized = cv2.resize(heatmap, (int(width), int(height)), interpolation=cv2.INTER_LINEAR)
        assert tuple(box) == reference_box(resized, 0.2)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: heatmap_to_box(np.zeros(4)), "2-D"),
        (lambda: heatmap_to_box(np.array([[np.nan, 1.0]])), "NaN"),
        (lambda: heatmap_to_box(np.ones((2, 2)), 1.5), "threshold"),
        (lambda: heatmap_to_box(np.ones((2, 2)), method="bogus"), "method"),
        (lambda: heatmaps_to_boxes([np.ones((2, 2)), np.ones(3)]), r"heatmaps\[1\]"),
        (lambda: heatmaps_to_boxes([np.ones((2, 2))], image_sizes=[[3, 3], [4, 4]]), "length mismatch"),
        (lambda: heatmaps_to_boxes([np.ones((2, 2))], image_sizes=[[0, 3]]), "positive"),
        (lambda: heatmaps_to_boxes([np.ones((2, 2))], image_sizes=[[3, 3, 3]]), r"shape \(N, 2\)"),
        (lambda: heatmaps_to_boxes([np.ones((2, 2))], image_sizes=[[100_000, 100_000]]), "at most 67,108,864"),
    ],
)
def test_heatmap_to_box_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------------ localization error


def literal_iou(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    union = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - iw * ih
    return iw * ih / union


def literal_eval_clsloc(pred_labels, pred_boxes, gt_labels, gt_boxes, k, exclude=()):
    """Per image: error 0 if some guess j < k has the GT class and IoU >= 0.5 with some GT box."""
    errors = []
    for i in range(len(gt_labels)):
        if i in exclude:
            continue
        ok = any(
            pred_labels[i][j] == gt_labels[i] and any(literal_iou(pred_boxes[i][j], g) >= 0.5 for g in gt_boxes[i])
            for j in range(k)
        )
        errors.append(0.0 if ok else 1.0)
    return sum(errors) / len(errors)


def random_guesses(gt_labels, gt_boxes, num_guesses, seed):
    """Guesses that are often right: the GT class at a random rank, boxes jittered around a GT box."""
    rng = np.random.default_rng(seed)
    n = len(gt_labels)
    labels = rng.integers(0, 1000, size=(n, num_guesses))
    hit_rank = rng.integers(0, num_guesses + 2, size=n)
    rows = np.flatnonzero(hit_rank < num_guesses)
    labels[rows, hit_rank[rows]] = np.asarray(gt_labels)[rows]
    anchor = np.array([g[int(rng.integers(len(g)))] for g in gt_boxes])
    size = np.maximum(anchor[:, 2:] - anchor[:, :2], 1)
    jitter = rng.normal(0, 0.2, size=(n, num_guesses, 4)) * np.concatenate([size, size], axis=1)[:, None]
    boxes = np.round(anchor[:, None] + jitter)
    boxes[..., 2:] = np.maximum(boxes[..., 2:], boxes[..., :2])
    return labels, boxes


def test_iou_exactly_half_counts_as_correct():
    gt = [np.array([[0.0, 0.0, 9.0, 9.0]])]  # area 100 with the +1 convention
    half = np.array([[[0.0, 0.0, 9.0, 4.0]]])  # area 50 inside it: IoU = 50 / 100
    assert localization_error([[3]], half, [3], gt) == 0.0
    below = np.array([[[0.0, 0.0, 9.0, 3.0]]])  # IoU 0.4
    assert localization_error([[3]], below, [3], gt) == 1.0


def test_wrong_class_with_perfect_box_is_an_error():
    gt = [np.array([[5.0, 5.0, 20.0, 30.0]])]
    assert localization_error([[7]], gt[0][None], [3], gt) == 1.0


def test_right_class_in_top5_but_not_top1():
    gt = [np.array([[0.0, 0.0, 9.0, 9.0]])]
    boxes = np.tile(gt[0], (1, 5, 1))
    labels = [[1, 2, 3, 4, 5]]
    assert localization_error(labels, boxes, [4], gt, k=1) == 1.0
    assert localization_error(labels, boxes, [4], gt, k=5) == 0.0


def test_any_gt_box_of_the_image_counts():
    gt = [np.array([[0.0, 0.0, 9.0, 9.0], [50.0, 50.0, 59.0, 59.0]])]
    assert localization_error([[1]], np.array([[[50.0, 50.0, 59.0, 59.0]]]), [1], gt) == 0.0


def test_localization_error_matches_literal_loop_random():
    rng = np.random.default_rng(4)
    n = 300
    gt_boxes = []
    for _ in range(n):
        xy = rng.integers(0, 100, size=(int(rng.integers(1, 4)), 2))
        wh = rng.integers(0, 60, size=xy.shape)
        gt_boxes.append(np.concatenate([xy, xy + wh], axis=1).astype(float))
    gt_labels = rng.integers(0, 1000, size=n)
    labels, boxes = random_guesses(gt_labels, gt_boxes, 5, seed=5)
    exclude = [3, 17, 250]
    for k in (1, 3, 5):
        expected = literal_eval_clsloc(labels, boxes, gt_labels, gt_boxes, k)
        assert localization_error(labels, boxes, gt_labels, gt_boxes, k=k) == pytest.approx(expected, abs=1e-12)
    expected = literal_eval_clsloc(labels, boxes, gt_labels, gt_boxes, 1, exclude=exclude)
    mask = np.zeros(n, dtype=bool)
    mask[exclude] = True
    assert localization_error(labels, boxes, gt_labels, gt_boxes, exclude=exclude) == pytest.approx(expected)
    assert localization_error(labels, boxes, gt_labels, gt_boxes, exclude=mask) == pytest.approx(expected)
    accumulator = LocalizationError(k=1)
    accumulator.update(labels[:100], boxes[:100], gt_labels[:100], gt_boxes[:100], exclude=[3, 17])
    other = LocalizationError(k=1)
    other.update(labels[100:], boxes[100:], gt_labels[100:], gt_boxes[100:], exclude=[150])
    assert accumulator.merge(other).compute() == pytest.approx(expected)


def test_gt_known_accuracy_hand_case():
    gt = [np.array([[0.0, 0.0, 9.0, 9.0]]), np.array([[0.0, 0.0, 9.0, 9.0]])]
    assert gt_known_accuracy(np.array([[0.0, 0.0, 9.0, 4.0], [0.0, 0.0, 9.0, 3.0]]), gt) == 0.5


@pytest.mark.parametrize(
    "pred_boxes, gt_boxes, message",
    [
        ([], [], r"^no images: pred_boxes and gt_boxes are empty$"),
        (np.zeros((2, 4)), [np.zeros((1, 4))], "length mismatch: pred_boxes=2, gt_boxes=1"),
        (np.zeros((1, 3)), [np.zeros((1, 4))], r"pred_boxes must have shape \(N, 4\)"),
    ],
)
def test_gt_known_accuracy_errors_name_its_own_arguments(pred_boxes, gt_boxes, message):
    with pytest.raises(ValueError, match=message) as error:
        gt_known_accuracy(pred_boxes, gt_boxes)
    assert "pred_labels" not in str(error.value) and "gt_labels" not in str(error.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pred_labels": [[1, 2]]}, "pred_boxes must have shape"),
        ({"gt_labels": [1, 2]}, "length mismatch"),
        ({"pred_boxes": np.array([[[np.nan, 0, 1, 1]]])}, "pred_boxes contains NaN"),
        ({"pred_boxes": np.array([[[5.0, 0, 1, 1]]])}, "pred_boxes has a box of negative size"),
        ({"gt_boxes": [np.array([[5.0, 0, 1, 1]])]}, r"gt_boxes\[0\] has a box of negative size"),
        ({"k": 2}, "k must be in 1..1"),
        ({"k": 0}, "k must be in 1..1"),
        ({"exclude": [0]}, "removes every image"),
        ({"exclude": [4]}, "exclude must be"),
        ({"gt_labels": [1.0]}, "gt_labels must be integer class indices"),
        ({"gt_labels": [1.5]}, "gt_labels must be integer class indices"),
        ({"gt_labels": [-1]}, "gt_labels must be non-negative"),
        ({"gt_labels": [3], "num_classes": 3}, r"gt_labels must be in 0\.\.2"),
        ({"pred_labels": [[3]], "num_classes": 3}, r"pred_labels must be in 0\.\.2"),
        ({"pred_labels": [[0.5]]}, "pred_labels must be integer"),
        ({"num_classes": 0}, "num_classes must be a positive integer"),
    ],
)
def test_localization_error_bad_input(kwargs, message):
    args = {
        "pred_labels": [[1]],
        "pred_boxes": np.array([[[0.0, 0, 1, 1]]]),
        "gt_labels": [1],
        "gt_boxes": [np.array([[0.0, 0, 1, 1]])],
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        localization_error(**args)


def test_localization_error_empty_input_raises():
    with pytest.raises(ValueError, match="no images"):
        localization_error(np.zeros((0, 1)), np.zeros((0, 1, 4)), np.zeros(0), [])


# ------------------------------------------------------------------ full scale: all ILSVRC val images


@pytest.fixture(scope="module")
def ilsvrc_val(shared_data):
    samples = read_wsol_metadata(shared_data("ilsvrc2012_val_gt"))
    assert len(samples) == 50_000 and sum(len(s.boxes) for s in samples) == 80_477
    return samples


def test_full_ilsvrc_val_localization_error_matches_literal_loop(ilsvrc_val):
    gt_boxes = [s.boxes for s in ilsvrc_val]
    gt_labels = np.array([int(np.flatnonzero(s.labels == 1)[0]) for s in ilsvrc_val])
    labels, boxes = random_guesses(gt_labels, gt_boxes, 5, seed=10)
    for k in (1, 5):
        expected = literal_eval_clsloc(labels, boxes, gt_labels, gt_boxes, k)
        assert localization_error(labels, boxes, gt_labels, gt_boxes, k=k) == pytest.approx(expected, abs=1e-12)


def test_full_ilsvrc_val_heatmap_boxes_known_by_construction(ilsvrc_val):
    """32x32 maps: a plateau over each image's first GT box scaled to the map, plus a smaller
    weaker blob elsewhere; the largest component above 0.2 * max is the plateau, so its box is known."""
    size = 32
    maps = np.zeros((len(ilsvrc_val), size, size), dtype=np.float32)
    expected = np.zeros((len(ilsvrc_val), 4), dtype=np.int64)
    for i, sample in enumerate(ilsvrc_val):
        x1, y1, x2, y2 = sample.boxes[0]
        box = np.array([x1 * size // sample.width, y1 * size // sample.height,
                        x2 * size // sample.width, y2 * size // sample.height], dtype=np.int64)
        box = np.minimum(box, size - 1)
        maps[i, box[1] : box[3] + 1, box[0] : box[2] + 1] = 1.0
        expected[i] = box
        for cx, cy in ((0, 0), (size - 1, size - 1)):  # a weaker one-pixel blob not 8-adjacent to the box
            if cx < box[0] - 1 or cx > box[2] + 1 or cy < box[1] - 1 or cy > box[3] + 1:
                maps[i, cy, cx] = 0.5
                break
    # a one-pixel plateau ties with the blob, which may come first in row-major order: not checked
    area = (expected[:, 2] - expected[:, 0] + 1) * (expected[:, 3] - expected[:, 1] + 1)
    ours = heatmaps_to_boxes(maps, 0.2)
    checked = area > 1
    np.testing.assert_array_equal(ours[checked], expected[checked])
    assert checked.sum() > 49_000
