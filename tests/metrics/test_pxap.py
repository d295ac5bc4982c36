"""PxAP against a literal threshold loop, sklearn's average_precision_score and hand-worked cases."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from gwapbench.data.voc_json import read_voc_coco_json
from gwapbench.metrics.pxap import PxAP, _bin_slots, _count_pixels, pxap, pxap_bin_edges, pxap_curve, pxap_histograms
from gwapbench.metrics.saliency import boxes_to_mask


def literal_pxap(heatmaps, masks, interval=0.01) -> float:
    """wsolevaluation's definition, one operating point at a time on the pooled pixels."""
    scores = np.concatenate([h.ravel().astype(np.float64) for h in heatmaps])
    truth = np.concatenate([m.ravel() for m in masks])
    operating_points = [2.0, 1.0] + list(np.arange(0.0, 1.0, interval)[::-1])
    total, previous_recall = 0.0, 0.0
    for index, tau in enumerate(operating_points):
        predicted = scores >= tau
        tp, fp = np.sum(predicted & truth), np.sum(predicted & ~truth)
        recall = tp / truth.sum()
        if index > 0 and tp + fp > 0:
            total += tp / (tp + fp) * (recall - previous_recall)
        previous_recall = recall
    return total


def random_heatmaps(rng, count, dtype=np.float64):
    shapes = [(int(rng.integers(4, 40)), int(rng.integers(4, 40))) for _ in range(count)]
    masks = [rng.random(shape) < 0.3 for shape in shapes]
    # scores correlated with the masks, clipped into [0, 1] so that both ends occur
    heatmaps = [np.clip(0.4 * m + rng.random(m.shape) * 0.8 - 0.1, 0, 1).astype(dtype) for m in masks]
    return heatmaps, masks


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("interval", [0.01, 0.05, 0.3])
def test_matches_literal_threshold_loop(dtype, interval):
    heatmaps, masks = random_heatmaps(np.random.default_rng(0), 60, dtype)
    assert pxap(heatmaps, masks, interval) == pytest.approx(literal_pxap(heatmaps, masks, interval), abs=1e-12)


def test_scores_exactly_on_thresholds_in_float32_fall_on_the_right_side():
    # float32(0.07) < 0.07000000000000001 = np.arange(0, 1, 0.01)[7]: such a pixel is below that threshold.
    thresholds = np.arange(0.0, 1.0, 0.01)
    values = np.concatenate([thresholds, [1.0]]).astype(np.float32)
    rng = np.random.default_rng(5)
    heatmaps = [rng.choice(values, size=(13, 17)) for _ in range(20)]
    masks = [rng.random(h.shape) < 0.4 for h in heatmaps]
    assert pxap(heatmaps, masks) == pytest.approx(literal_pxap(heatmaps, masks), abs=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("interval", [1e-4, 0.003, 0.01, 0.07, 0.3, 1.0])
def test_histograms_match_numpy_histogram_at_and_around_every_edge(dtype, interval):
    # Scores on, one ulp below and one ulp above every edge (in the scores' dtype) plus 0 and 1.
    edges = np.append(np.arange(0.0, 1.0, interval), [1.0, 2.0, 3.0])
    on_edges = np.append(edges[:-2], 0.0).astype(dtype)
    scores = np.concatenate([on_edges, np.nextafter(on_edges, dtype(-1)), np.nextafter(on_edges, dtype(2))])
    scores = np.clip(scores, 0, 1).astype(dtype)
    inside = np.arange(scores.size) % 3 == 0
    histograms = pxap_histograms([scores.reshape(1, -1)], [inside.reshape(1, -1)], interval)
    scores64 = scores.astype(np.float64)  # numpy compares float32 scores with float64 edges in float64
    np.testing.assert_array_equal(histograms[1], np.histogram(scores64[inside], bins=edges)[0])
    np.testing.assert_array_equal(histograms[0], np.histogram(scores64[~inside], bins=edges)[0])


def test_equals_sklearn_average_precision_when_scores_are_thresholds():
    rng = np.random.default_rng(1)
    grid = np.append(np.arange(0.0, 1.0, 0.01), 1.0)
    masks = [rng.random((int(rng.integers(5, 30)), 21)) < 0.35 for _ in range(40)]
    heatmaps = [np.clip(rng.choice(grid, size=m.shape) + 0.3 * m, 0, 1) for m in masks]
    heatmaps = [grid[np.searchsorted(grid, h, side="right") - 1] for h in heatmaps]  # snap down onto the grid
    pooled_truth = np.concatenate([m.ravel() for m in masks])
    expected = average_precision_score(pooled_truth, np.concatenate([h.ravel() for h in heatmaps]))
    assert pxap(heatmaps, masks) == pytest.approx(expected, abs=1e-12)


def test_hand_worked_case():
    # Pooled: positives at 0.9 and 0.5, negatives at 0.7 and 0.1 (interval 0.5: thresholds 0 and 0.5).
    # Operating points >= 2, >= 1, >= 0.5, >= 0: (TP, FP) = (0,0), (0,0), (2,1), (2,2).
    # PxAP = 2/3 * (1 - 0) + 2/4 * 0 = 2/3.
    heatmaps = [np.array([[0.9, 0.7]]), np.array([[0.5], [0.1]])]
    masks = [np.array([[True, False]]), np.array([[True], [False]])]
    assert pxap(heatmaps, masks, 0.5) == pytest.approx(2 / 3, abs=1e-15)
    perfect = [np.array([[1.0, 0.0]])]
    assert pxap(perfect, [np.array([[True, False]])]) == pytest.approx(1.0, abs=1e-15)


def test_hand_worked_case_with_ignore_pixels():
    """Interval 0.5 (thresholds 0 and 0.5). Image 1: 0.9 positive, 0.7 negative, 0.8 ignored. Image 2: 0.3 inside
    the mask and the ignore region (stays positive: ignore = region minus foreground), 0.6 ignored, 0.55
    positive. Pooled positives 0.9, 0.55, 0.3 and one negative 0.7. Points >= 0.5: TP 2, FP 1 (P 2/3, R 2/3);
    >= 0: TP 3, FP 1 (P 3/4, R 1). PxAP = 2/3 * 2/3 + 3/4 * 1/3 = 25/36; without the ignore masks the
    negatives 0.8 and 0.6 count: 2/5 * 2/3 + 3/6 * 1/3 = 13/30."""
    heatmaps = [np.array([[0.9, 0.7, 0.8]]), np.array([[0.3], [0.6], [0.55]])]
    masks = [np.array([[True, False, False]]), np.array([[True], [False], [True]])]
    ignores = [np.array([[False, False, True]]), np.array([[True], [True], [False]])]
    assert pxap(heatmaps, masks, 0.5, ignore_masks=ignores) == pytest.approx(25 / 36, abs=1e-15)
    assert pxap(heatmaps, masks, 0.5) == pytest.approx(13 / 30, abs=1e-15)
    assert pxap(heatmaps, masks, 0.5, ignore_masks=[None, None]) == pytest.approx(13 / 30, abs=1e-15)
    curve = pxap_curve(pxap_histograms(heatmaps, masks, 0.5, ignores), 0.5)
    assert curve["cam_thresholds"] == [0.0, 0.5]
    assert curve["precision"] == pytest.approx([3 / 4, 2 / 3], abs=1e-15)
    assert curve["recall"] == pytest.approx([1.0, 2 / 3], abs=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ignore_masks_match_literal_loop_without_the_ignored_pixels(dtype):
    rng = np.random.default_rng(7)
    heatmaps, masks = random_heatmaps(rng, 12, dtype)
    ignores = [rng.random(m.shape) < 0.4 for m in masks]
    kept = [~(ignore & ~mask) for ignore, mask in zip(ignores, masks)]
    expected = literal_pxap([h[k] for h, k in zip(heatmaps, kept)], [m[k] for m, k in zip(masks, kept)])
    assert pxap(heatmaps, masks, ignore_masks=ignores) == pytest.approx(expected, abs=1e-12)
    accumulator = PxAP()
    accumulator.update(heatmaps[:5], masks[:5], ignores[:5])
    accumulator.update(heatmaps[5:], masks[5:], ignores[5:])
    assert accumulator.compute() == pytest.approx(expected, abs=1e-12)


def test_ignore_mask_of_the_wrong_shape_or_count():
    with pytest.raises(ValueError, match=r"ignore_masks\[0\] has shape"):
        pxap([np.zeros((2, 2))], [np.ones((2, 2), bool)], ignore_masks=[np.zeros((2, 3), bool)])
    with pytest.raises(ValueError, match="ignore_masks=2"):
        pxap([np.zeros((2, 2))], [np.ones((2, 2), bool)], ignore_masks=[None, None])


def test_accumulator_keeps_one_histogram_sum_and_merges_exactly():
    heatmaps, masks = random_heatmaps(np.random.default_rng(2), 30)
    single = PxAP()
    single.update(heatmaps, masks)
    first, second = PxAP(), PxAP()
    for start in range(0, 15):  # one image per batch: the state must not grow
        first.update(heatmaps[start : start + 1], masks[start : start + 1])
    second.update(heatmaps[15:], masks[15:])
    assert first.state()["items"] == {} and first.state()["totals"]["histograms"].shape == (2, 102)
    expected = pxap(heatmaps, masks)  # the pure function on all images at once
    assert first.merge(second).compute() == single.compute() == expected
    assert expected == pytest.approx(literal_pxap(heatmaps, masks), abs=1e-12)
    with pytest.raises(ValueError, match=r"PxAP.compute\(\): no data: call update first"):
        PxAP().compute()


@pytest.mark.parametrize(
    ("heatmaps", "masks", "message"),
    [
        ([], [], "heatmaps is empty"),
        ([np.zeros((2, 2)), np.full((2, 2), 1.5)], [np.ones((2, 2), bool)] * 2, r"heatmaps\[1\] must lie in \[0, 1\]"),
        ([np.zeros((2, 2))], [np.ones((2, 3), bool)], r"gt_masks\[0\] has shape"),
        ([np.full((1, 2), np.nan)], [np.ones((1, 2), bool)], r"heatmaps\[0\] contains NaN"),
        ([np.zeros((2, 2))], [np.zeros((2, 2), bool)], "no pixel lies inside"),
    ],
)
def test_bad_input(heatmaps, masks, message):
    with pytest.raises(ValueError, match=message):
        pxap(heatmaps, masks)


def test_bad_interval():
    with pytest.raises(ValueError, match="cam_curve_interval"):
        pxap_histograms([np.zeros((1, 1))], [np.ones((1, 1), bool)], cam_curve_interval=0)


def test_voc2007_test_box_masks(shared_data):
    """All 4952 VOC07 test images (box-union masks at 1/8 size): accumulator vs sklearn on pooled pixels."""
    root = shared_data("voc2007_gt")
    samples, _ = read_voc_coco_json(
        root / "annotations_json/pascal_test2007.json", root / "annotations_json/pascal_test2007_difficult_flags.json"
    )
    rng = np.random.default_rng(7)
    masks = [boxes_to_mask(s.boxes / 8, -(-s.height // 8), -(-s.width // 8)) for s in samples]
    grid = np.append(np.arange(0.0, 1.0, 0.01), 1.0)
    index = [np.clip(rng.integers(0, 70, m.shape) + 30 * m, 0, 100) for m in masks]
    heatmaps = [grid[i] for i in index]  # float64 scores exactly on the threshold grid
    accumulator = PxAP()
    for start in range(0, len(samples), 1000):
        accumulator.update(heatmaps[start : start + 1000], masks[start : start + 1000])
    pooled_truth = np.concatenate([m.ravel() for m in masks])
    pooled_scores = np.concatenate([h.ravel() for h in heatmaps])
    expected = average_precision_score(pooled_truth, pooled_scores)
    assert accumulator.compute() == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("interval", [1e-4, 0.003, 0.01, 0.07, 0.3, 1.0])
def test_recomputed_and_looked_up_edges_bin_every_score_as_searchsorted(dtype, interval):
    """The SIMD path (edges recomputed as j x interval) and the table path put each score, on, just below
    and just above every edge, into np.histogram's bin (searchsorted on the float64 edges)."""
    edges = pxap_bin_edges(interval)
    on_edges = np.append(edges[:-2], 0.0).astype(dtype)
    scores = np.concatenate([on_edges, np.nextafter(on_edges, dtype(-1)), np.nextafter(on_edges, dtype(2))])
    scores = np.clip(scores, 0, 1).astype(dtype)
    positive = (np.arange(scores.size) % 3 == 0).astype(np.uint8)
    bins = np.searchsorted(edges, scores.astype(np.float64), side="right") - 1
    expected = bins + (len(edges) - 1) * positive.astype(np.int64)
    for arithmetic in (True, False):
        slots = np.zeros(scores.size, dtype=np.uint16)
        assert _bin_slots(scores, positive, positive, edges, interval, arithmetic, slots)
        np.testing.assert_array_equal(slots, expected)


def test_scores_outside_the_unit_interval_or_nan_are_reported_not_counted():
    edges = pxap_bin_edges(0.01)
    for bad in (np.nan, -1e-300, 1.0000001, np.inf):
        scores = np.array([0.5, bad, 0.25])
        slots = np.zeros(3, dtype=np.uint16)
        counts = np.zeros((4, 2 * (len(edges) - 1) + 1), dtype=np.int64)
        positive = np.zeros(3, dtype=np.uint8)
        assert not _count_pixels(scores, positive, positive, edges, 0.01, True, slots, counts)
        assert counts.sum() == 0 and slots.max() < len(edges)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_images_split_over_threads_count_as_numpy_histogram(monkeypatch, threads):
    monkeypatch.setattr(sys.modules["gwapbench.metrics.pxap"], "get_num_threads", lambda: threads)  # the package
    # exports a function of the same name as the module
    rng = np.random.default_rng(11)
    heatmaps, masks = random_heatmaps(rng, 70)
    ignores = [rng.random(m.shape) < 0.2 if k % 3 else None for k, m in enumerate(masks)]
    edges = pxap_bin_edges(0.01)
    kept = [~(ig & ~m) if ig is not None else np.ones_like(m) for ig, m in zip(ignores, masks)]
    inside = np.concatenate([h[m] for h, m in zip(heatmaps, masks)])
    outside = np.concatenate([h[~m & k] for h, m, k in zip(heatmaps, masks, kept)])
    histograms = pxap_histograms(heatmaps, masks, 0.01, ignores)
    np.testing.assert_array_equal(histograms[1], np.histogram(inside, bins=edges)[0])
    np.testing.assert_array_equal(histograms[0], np.histogram(outside, bins=edges)[0])
    heatmaps[60] = np.full_like(heatmaps[60], 2.0)
    heatmaps[45] = np.full_like(heatmaps[45], -0.5)
    with pytest.raises(ValueError, match=r"heatmaps\[45\] must lie in \[0, 1\], got values in \[-0.5, -0.5\]"):
        pxap_histograms(heatmaps, masks, 0.01, ignores)


def test_converted_inputs_count_as_plain_ones_and_as_numpy_histogram():
    """Plain inputs (C-contiguous 2-D float32/64 maps, bool masks) skip the per-image conversions; transposed
    views, 0/1 integer masks, nested lists and a float16 map go through them: same counts, np.histogram's."""
    rng = np.random.default_rng(5)
    heatmaps, masks = random_heatmaps(rng, 6)
    ignores = [rng.random(m.shape) < 0.3 for m in masks]
    ignores[2] = None
    edges = pxap_bin_edges(0.01)
    kept = [np.ones_like(m) if ig is None else ~(ig & ~m) for ig, m in zip(ignores, masks)]
    inside = np.concatenate([h[m] for h, m in zip(heatmaps, masks)])
    outside = np.concatenate([h[~m & k] for h, m, k in zip(heatmaps, masks, kept)])
    expected = np.stack([np.histogram(outside, bins=edges)[0], np.histogram(inside, bins=edges)[0]])
    np.testing.assert_array_equal(pxap_histograms(heatmaps, masks, 0.01, ignores), expected)
    converted_maps = [np.asfortranarray(heatmaps[0]), heatmaps[1].T.copy().T, heatmaps[2].tolist(), *heatmaps[3:]]
    converted_masks = [masks[0].astype(np.uint8), *masks[1:4], np.asfortranarray(masks[4]), masks[5].astype(int)]
    converted_ignores = [*ignores[:5], ignores[5].astype(np.int64)]
    np.testing.assert_array_equal(pxap_histograms(converted_maps, converted_masks, 0.01, converted_ignores), expected)
    small = [h.astype(np.float16) for h in heatmaps]  # not plain: widened to float64, binned as np.histogram does
    wide = np.concatenate([h.astype(np.float64)[m] for h, m in zip(small, masks)])
    np.testing.assert_array_equal(pxap_histograms(small, masks, 0.01)[1], np.histogram(wide, bins=edges)[0])


@pytest.mark.parametrize("bad_mask, message", [
    (np.ones((3, 4), bool), r"gt_masks\[1\] has shape \(3, 4\) but heatmaps\[1\] has \(4, 3\)"),
    (np.full((4, 3), 2), r"gt_masks\[1\] must be boolean"),
])
def test_a_batch_with_one_bad_mask_among_plain_ones_is_reported(bad_mask, message):
    heatmaps = [np.full((4, 3), 0.5), np.full((4, 3), 0.25)]
    with pytest.raises(ValueError, match=message):
        pxap_histograms(heatmaps, [np.ones((4, 3), bool), bad_mask])
