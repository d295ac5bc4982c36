"""Otsu F-measure and boxes_to_mask against independent references.

References written here: a per-map loop over `skimage.filters.threshold_otsu`, pysodmetrics'
FmeasureV2 binary F-measure on the Otsu-binarized maps, literal per-box slicing for masks, and
hand-worked cases.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from py_sod_metrics import FmeasureHandler, FmeasureV2
from skimage.filters import threshold_otsu

from gwapbench.data.voc_json import read_voc_coco_json
from gwapbench.metrics.saliency import OtsuFMeasure, boxes_to_mask, otsu_counts, otsu_fmeasure, otsu_mask

BETA2 = 0.3


def otsu_binarize(image_map: np.ndarray) -> np.ndarray:
    """Min-max normalize in the map's dtype, threshold with skimage's Otsu, foreground = x > t."""
    low, high = image_map.min(), image_map.max()
    if low == high:
        return np.zeros(image_map.shape, dtype=bool)
    normalized = (image_map - low) / (high - low)
    return normalized > threshold_otsu(normalized)


def reference_fmeasure(maps, masks, beta2=BETA2) -> np.ndarray:
    """Slow per-map loop of the Table II definition."""
    scores = []
    for image_map, mask in zip(maps, masks):
        binary = otsu_binarize(image_map)
        hits = np.count_nonzero(binary & mask)
        precision = hits / binary.sum() if binary.any() else 0.0
        recall = hits / mask.sum() if mask.any() else 0.0
        denominator = beta2 * precision + recall
        scores.append((1 + beta2) * precision * recall / denominator if denominator > 0 else 0.0)
    return np.array(scores)


def smooth_map(rng: np.random.Generator, shape: tuple[int, int], dtype=np.float32) -> np.ndarray:
    """A smooth random field (bilinear upsampling of a coarse grid) plus a little noise."""
    coarse = rng.random((shape[0] // 8 + 2, shape[1] // 8 + 2))
    rows = np.linspace(0, coarse.shape[0] - 1, shape[0])
    cols = np.linspace(0, coarse.shape[1] - 1, shape[1])
    r0 = np.floor(rows).astype(int).clip(max=coarse.shape[0] - 2)
    c0 = np.floor(cols).astype(int).clip(max=coarse.shape[1] - 2)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    field = (
        coarse[r0][:, c0] * (1 - fr) * (1 - fc)
        + coarse[r0 + 1][:, c0] * fr * (1 - fc)
        + coarse[r0][:, c0 + 1] * (1 - fr) * fc
        + coarse[r0 + 1][:, c0 + 1] * fr * fc
    )
    return (field + 0.05 * rng.standard_normal(shape)).astype(dtype)


def random_case(rng: np.random.Generator, count: int, dtype=np.float32):
    shapes = [(int(rng.integers(5, 60)), int(rng.integers(5, 60))) for _ in range(count)]
    maps = [smooth_map(rng, shape, dtype) for shape in shapes]
    masks = [rng.random(shape) < rng.random() for shape in shapes]
    return maps, masks


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_skimage_loop_on_maps_of_different_sizes(dtype):
    maps, masks = random_case(np.random.default_rng(0), 150, dtype)
    np.testing.assert_allclose(otsu_fmeasure(maps, masks), reference_fmeasure(maps, masks), rtol=0, atol=1e-12)


def test_matches_skimage_loop_on_quantized_maps_with_values_on_bin_centres():
    # Values k/512 put pixels exactly on Otsu bin centres and edges: the strict ">" must hold there.
    rng = np.random.default_rng(1)
    maps = [rng.integers(0, 513, size=(int(rng.integers(3, 30)), 17)).astype(np.float64) / 512 for _ in range(200)]
    maps += [rng.integers(0, 4, size=(9, 11)).astype(np.float32) for _ in range(50)]
    masks = [rng.random(m.shape) < 0.5 for m in maps]
    np.testing.assert_allclose(otsu_fmeasure(maps, masks), reference_fmeasure(maps, masks), rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_otsu_mask_is_skimages_binarization_and_the_pixels_otsu_counts_counts(dtype):
    """otsu_mask (drawn by fig7) is pixel for pixel skimage's x > threshold_otsu(x), and the M of otsu_counts."""
    maps, masks = random_case(np.random.default_rng(5), 60, dtype)
    rng = np.random.default_rng(6)
    maps += [rng.integers(0, 513, size=(13, 17)).astype(dtype) / 512 for _ in range(40)]  # on bin centres and edges
    masks += [rng.random((13, 17)) < 0.5 for _ in range(40)]
    counts = otsu_counts(maps, masks)
    for i, (image_map, mask) in enumerate(zip(maps, masks)):
        drawn = otsu_mask(image_map)
        np.testing.assert_array_equal(drawn, otsu_binarize(image_map), err_msg=f"map {i}")
        assert (drawn.sum(), (drawn & mask).sum()) == tuple(counts[i, :2])
    assert not otsu_mask(np.full((4, 6), 0.3, dtype)).any()  # a constant map has no foreground
    assert otsu_mask(np.eye(5, dtype=dtype)).sum() == 5  # two levels: the upper one


def test_matches_pysodmetrics_binary_fmeasure():
    maps, masks = random_case(np.random.default_rng(2), 80)
    evaluator = FmeasureV2({"f": FmeasureHandler(False, False, with_binary=True, beta=BETA2)})
    for image_map, mask in zip(maps, masks):
        evaluator.step(otsu_binarize(image_map).astype(np.float64), mask, normalize=False)
    expected = np.array(evaluator._metric_handlers["f"].binary_results, dtype=np.float64).ravel()
    np.testing.assert_allclose(otsu_fmeasure(maps, masks), expected, rtol=0, atol=1e-12)
    assert np.mean(otsu_fmeasure(maps, masks)) == pytest.approx(evaluator.get_results()["f"]["binary"], abs=1e-12)


def test_two_level_map_hand_worked():
    # Levels {0, 1}: Otsu puts the threshold in bin 0, so M = the 8 pixels at 1. G = 4 of them:
    # P = 4/8, R = 1, F = 1.3 * 0.5 / (0.3 * 0.5 + 1) = 0.65 / 1.15.
    image_map = np.zeros((4, 4))
    image_map[:, :2] = 1.0
    mask = np.zeros((4, 4), dtype=bool)
    mask[:2, :2] = True
    assert otsu_fmeasure([image_map], [mask])[0] == pytest.approx(0.65 / 1.15, abs=1e-15)
    assert otsu_fmeasure([image_map], [mask], beta2=1.0)[0] == pytest.approx(2 * 0.5 / 1.5, abs=1e-15)


def test_constant_map_and_disjoint_prediction_give_zero():
    mask = np.zeros((3, 5), dtype=bool)
    mask[0, 0] = True
    constant = np.full((3, 5), 0.7, dtype=np.float32)
    disjoint = np.zeros((3, 5))
    disjoint[2, 4] = 5.0  # M = {(2, 4)}, G = {(0, 0)}: P = R = 0
    empty_gt_map = np.arange(15.0).reshape(3, 5)
    result = otsu_fmeasure([constant, disjoint, empty_gt_map], [mask, mask, np.zeros((3, 5), dtype=bool)])
    np.testing.assert_array_equal(result, [0.0, 0.0, 0.0])


def test_accepts_zero_one_integer_masks_and_perfect_prediction():
    image_map = np.zeros((6, 7))
    image_map[1:4, 2:5] = 3.0
    assert otsu_fmeasure([image_map], [(image_map > 0).astype(np.uint8)])[0] == pytest.approx(1.0, abs=1e-15)


def test_accepts_torch_tensors_like_numpy_arrays():
    maps, masks = random_case(np.random.default_rng(4), 10)
    tensors = [torch.from_numpy(m) for m in maps]
    np.testing.assert_array_equal(otsu_fmeasure(tensors, [torch.from_numpy(g) for g in masks]), otsu_fmeasure(maps, masks))
    flipped = [m[::-1, ::-2] for m in maps]  # negative-stride views
    flipped_masks = [g[::-1, ::-2] for g in masks]
    np.testing.assert_allclose(
        otsu_fmeasure(flipped, flipped_masks), reference_fmeasure(flipped, flipped_masks), rtol=0, atol=1e-12
    )


def test_accumulator_keeps_two_numbers_and_merges_to_the_exact_mean():
    maps, masks = random_case(np.random.default_rng(3), 40)
    per_image = otsu_fmeasure(maps, masks)
    single = OtsuFMeasure()
    single.update(maps, masks)
    first, second = OtsuFMeasure(), OtsuFMeasure()
    for start in range(0, 20):  # one image per batch: the state must not grow
        first.update(maps[start : start + 1], masks[start : start + 1])
    second.update(maps[20:], masks[20:])
    assert first.state()["items"] == {} and sorted(first.state()["totals"]) == ["images", "scaled_f_sum"]
    # the correctly rounded mean of the pure function's per-image values, whatever the split or merge order
    exact_mean = float(sum(Fraction(f) for f in per_image) / len(per_image))
    assert OtsuFMeasure().merge(second).merge(first.state()).compute() == exact_mean  # other order
    assert first.merge(second).compute() == single.compute() == exact_mean
    assert exact_mean == pytest.approx(reference_fmeasure(maps, masks).mean(), abs=1e-12)
    with pytest.raises(ValueError, match=r"OtsuFMeasure.compute\(\): no data: call update first"):
        OtsuFMeasure().compute()


@pytest.mark.parametrize(
    ("maps", "masks", "message"),
    [
        ([], [], "maps is empty"),
        ([np.zeros((2, 2))], [], "length mismatch"),
        (
            [np.zeros((2, 2)), np.zeros((2, 3))],
            [np.zeros((2, 2), bool), np.zeros((3, 2), bool)],
            r"gt_masks\[1\] has shape",
        ),
        ([np.array([[0.0, np.nan]])], [np.zeros((1, 2), bool)], r"maps\[0\] contains NaN"),
        ([np.zeros((2, 2)), np.zeros(4)], [np.zeros((2, 2), bool), np.zeros(4, bool)], r"maps\[1\] must be 2-D"),
        ([np.zeros((0, 3))], [np.zeros((0, 3), bool)], r"maps\[0\] is empty"),
        ([np.zeros((1, 2))], [np.array([[0, 2]])], r"gt_masks\[0\] must be boolean"),
    ],
)
def test_bad_input_names_the_argument_and_image(maps, masks, message):
    with pytest.raises(ValueError, match=message):
        otsu_fmeasure(maps, masks)


def literal_box_mask(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Per-box slicing with VOC's 1-based inclusive integer corners: rows y1..y2, columns x1..x2."""
    mask = np.zeros((height, width), dtype=bool)
    for x1, y1, x2, y2 in boxes.astype(int):
        mask[max(y1 - 1, 0) : max(y2, 0), max(x1 - 1, 0) : max(x2, 0)] = True
    return mask


def test_boxes_to_mask_one_pixel_box_and_border_boxes():
    one_pixel = boxes_to_mask(np.array([[3, 2, 3, 2]]), 4, 5)
    assert one_pixel.sum() == 1 and one_pixel[1, 2]
    whole = boxes_to_mask(np.array([[1, 1, 5, 4]]), 4, 5)
    assert whole.all()
    clipped = boxes_to_mask(np.array([[-3, 0, 9, 1], [5, 4, 12, 12]]), 4, 5)
    expected = np.zeros((4, 5), dtype=bool)
    expected[0, :] = True  # rows 1..1 (1-based), every column
    expected[3, 4] = True  # the bottom-right pixel only
    np.testing.assert_array_equal(clipped, expected)
    assert not boxes_to_mask(np.zeros((0, 4)), 3, 3).any()
    assert not boxes_to_mask(np.array([[7, 7, 9, 9]]), 3, 3).any()  # wholly outside


def test_boxes_to_mask_fractional_corners_cover_pixels_inside_the_box():
    # 1-based pixel c is covered iff x1 <= c <= x2: columns 2..3 and rows 1..2 here.
    mask = boxes_to_mask(np.array([[1.5, 0.2, 3.9, 2.0]]), 3, 5)
    expected = np.zeros((3, 5), dtype=bool)
    expected[0:2, 1:3] = True
    np.testing.assert_array_equal(mask, expected)


def test_boxes_to_mask_bad_input():
    with pytest.raises(ValueError, match="negative size"):
        boxes_to_mask(np.array([[3, 3, 2, 4]]), 5, 5)
    with pytest.raises(ValueError, match="height must be a positive integer"):
        boxes_to_mask(np.array([[1, 1, 2, 2]]), 0, 5)


def test_full_voc2007_test_set(shared_data):
    """All 4952 VOC07 test images: masks vs literal slicing, F vs the skimage loop at 1/4 resolution."""
    root = shared_data("voc2007_gt")
    samples, _ = read_voc_coco_json(
        root / "annotations_json/pascal_test2007.json", root / "annotations_json/pascal_test2007_difficult_flags.json"
    )
    assert len(samples) == 4952
    for sample in samples[::10]:  # every tenth image at full size: union of all boxes, difficult included
        np.testing.assert_array_equal(
            boxes_to_mask(sample.boxes, sample.height, sample.width),
            literal_box_mask(sample.boxes, sample.height, sample.width),
            err_msg=sample.image_id,
        )
    scale = 4
    rng = np.random.default_rng(2007)
    masks = [boxes_to_mask(s.boxes / scale, -(-s.height // scale), -(-s.width // scale)) for s in samples]
    maps = [smooth_map(rng, mask.shape) for mask in masks]
    ours = otsu_fmeasure(maps, masks)
    np.testing.assert_allclose(ours, reference_fmeasure(maps, masks), rtol=0, atol=1e-12)
    assert 0.1 < ours.mean() < 0.9
