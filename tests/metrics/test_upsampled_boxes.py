"""The compiled path (heat map upsampled to image size without its pixels, runs, union-find) against
the pixel path written here: torch `interpolate` to the image size, then scipy.ndimage.label with a
literal largest-label count. Boxes must be identical, on random maps of many kinds and sizes, on
real ILSVRC image sizes and on hand-worked cases; the float32 fma emulation against exact rationals."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from scipy import ndimage

from gwapbench.data.ilsvrc import read_wsol_metadata
from gwapbench.metrics.heatmaps import check_heatmap
from gwapbench.metrics.localization import heatmaps_to_boxes
from gwapbench.metrics._kernels.component_boxes import largest_run_component_box
from gwapbench.metrics._kernels.upsampled_boxes import (
    GENERIC_KERNEL_MIN_SUM,
    _fma32,
    emulation_matches_torch,
    upsampled_largest_boxes,
)

EIGHT = np.ones((3, 3), dtype=int)


def pixel_box(heatmap: np.ndarray, height: int, width: int, threshold: float) -> tuple[int, int, int, int]:
    """Literal pixel path: torch bilinear (align_corners=False), > threshold * max, first largest label."""
    tensor = torch.from_numpy(np.ascontiguousarray(heatmap))[None, None]
    resized = torch.nn.functional.interpolate(tensor, size=(height, width), mode="bilinear", align_corners=False)
    resized = resized[0, 0].numpy()
    labels, count = ndimage.label(resized > threshold * resized.max(), structure=EIGHT)
    if count == 0:
        return (0, 0, 0, 0)
    sizes = np.bincount(labels.ravel())[1:]
    rows, cols = np.nonzero(labels == 1 + int(np.argmax(sizes)))
    return (int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max()))


def ours(maps: np.ndarray, height: int, width: int, threshold: float) -> np.ndarray:
    """The compiled path for maps (n, h, w) all upsampled to (height, width)."""
    return upsampled_largest_boxes(list(maps), np.tile([height, width], (len(maps), 1)), threshold)


def random_maps(rng: np.random.Generator, kind: int, count: int, height: int, width: int) -> np.ndarray:
    shape = (count, height, width)
    maps = [
        lambda: rng.random(shape) ** 3,  # peaky
        lambda: rng.random(shape),  # uniform
        lambda: np.round(rng.random(shape) * 3) / 3,  # ties
        lambda: (rng.random(shape) > 0.7) * 1.0,  # binary
        lambda: np.full(shape, 0.5),  # constant
        lambda: np.zeros(shape),  # all zero
        lambda: rng.random(shape) - 0.7,  # mostly negative
        lambda: torch.nn.functional.interpolate(  # smooth
            torch.from_numpy(rng.random((count, 1, 3, 3))), size=(height, width), mode="bilinear"
        )[:, 0].numpy(),
    ][kind]()
    return maps.astype(np.float32)


def test_emulation_matches_this_torch_build():
    assert emulation_matches_torch()


def test_compiled_path_equals_pixel_path_on_random_maps():
    rng = np.random.default_rng(0)
    for case in range(1000):
        kind = case % 8
        height_in, width_in = (int(v) for v in rng.integers(1, 17, size=2))
        if case % 10 == 9:  # image smaller than the map
            height_in, width_in = (int(v) for v in rng.integers(100, 200, size=2))
        height, width = (int(v) for v in rng.integers(20, 240, size=2))
        if height + width <= GENERIC_KERNEL_MIN_SUM:
            height += GENERIC_KERNEL_MIN_SUM
        threshold = float(rng.choice([0.0, 0.2, 0.5, 0.99, 1.0])) if case % 6 == 0 else 0.2
        maps = random_maps(rng, kind, 4, height_in, width_in)
        for heatmap, box in zip(maps, ours(maps, height, width, threshold)):
            assert tuple(box) == pixel_box(heatmap, height, width, threshold), (case, kind, height, width)


def test_real_ilsvrc_sizes_and_mixed_shapes_in_one_call(shared_data):
    """Maps of several shapes (CAM-like cubed noise, smooth fields, plateaus) upsampled to the sizes of
    real ILSVRC val images, all in one call: each box equals the pixel path's."""
    samples = read_wsol_metadata(shared_data("ilsvrc2012_val_gt"))[::250]
    rng = np.random.default_rng(1)
    maps = []
    for index in range(len(samples)):
        side = int(rng.choice([7, 14, 28]))
        heatmap = rng.random((side, side), dtype=np.float32) ** 3
        if index % 3 == 1:  # plateaus: equal maxima spread over several samples
            heatmap = np.minimum(heatmap, np.float32(0.3))
        if index % 3 == 2:  # smooth field
            heatmap = random_maps(rng, 7, 1, side, side)[0]
        maps.append(heatmap)
    sizes = np.array([(s.height, s.width) for s in samples])
    boxes = upsampled_largest_boxes(maps, sizes, 0.2)
    for heatmap, (height, width), box in zip(maps, sizes, boxes):
        assert tuple(box) == pixel_box(heatmap, int(height), int(width), 0.2), (heatmap.shape, height, width)


@pytest.mark.parametrize("height, width", [(1, 128), (128, 1), (2, 200), (3000, 2400)])
def test_tiny_and_huge_images(height, width):
    rng = np.random.default_rng(5)
    maps = np.concatenate([random_maps(rng, kind, 1, 14, 14) for kind in (0, 2, 3, 7)])
    assert [tuple(b) for b in ours(maps, height, width, 0.2)] == [pixel_box(m, height, width, 0.2) for m in maps]


def test_flat_top_larger_than_a_piece():
    # a 3x3 block of equal maxima: the maximum is reached on a whole rectangle of output pixels
    heatmap = np.zeros((8, 8), dtype=np.float32)
    heatmap[2:5, 3:6] = 0.7
    heatmap[6, 0] = 0.69  # a second, smaller blob just below the maximum
    assert tuple(ours(heatmap[None], 301, 257, 0.2)[0]) == pixel_box(heatmap, 301, 257, 0.2)
    assert tuple(ours(heatmap[None], 301, 257, 0.99)[0]) == pixel_box(heatmap, 301, 257, 0.99)


def float32_round(value: Fraction) -> float:
    """The float32 nearest to an exact rational (ties to even), by comparing exact distances."""
    guess = np.float32(float(value))
    below, above = np.nextafter(guess, np.float32(-np.inf)), np.nextafter(guess, np.float32(np.inf))
    candidates = sorted((abs(Fraction(float(c)) - value), int(np.float32(c).view(np.uint32)) & 1, float(c))
                        for c in (below, guess, above))
    return candidates[0][2]


def test_fma32_rounds_once_like_exact_rationals():
    rng = np.random.default_rng(6)
    triples = [tuple(float(v) for v in rng.standard_normal(3).astype(np.float32) * 2.0 ** rng.integers(-20, 20, 3))
               for _ in range(3000)]
    # halfway in float64 but not exactly: a b = +-(2^-24 - 2^-54), so a b + c rounds to the float32 midpoint
    # next to c; the naive float64-then-float32 rounding goes to the even neighbour, the wrong one here
    a, b = float(np.float32(2.0**-24 * (1 + 2.0**-15))), float(np.float32(1 - 2.0**-15))
    triples += [(a, b, 1 + 2.0**-23), (-a, b, 1 + 3 * 2.0**-23), (a, -b, -(1 + 2.0**-23))]
    for a, b, c in triples:
        assert _fma32(a, b, c) == float32_round(Fraction(a) * Fraction(b) + Fraction(c)), (a, b, c)
    assert _fma32(a, b, 1 + 2.0**-23) != float(np.float32(a * b + (1 + 2.0**-23)))  # the naive one differs


def tent_peaks(columns: list[int], width_in: int) -> np.ndarray:
    heatmap = np.zeros((3, width_in), dtype=np.float32)
    heatmap[1, columns] = 1.0
    return heatmap


def test_single_peak_hand_worked():
    # 3x3 -> 99x99, scale 1/33: src(x) = (x + 0.5) / 33 - 0.5; the peak's tent 1 - |src - 1| is 1 at
    # x = 49 and > 0.2 iff 0.2 < src < 1.8 iff x in 23..75 (tent 0.212 at 23, 0.182 at 22); same in y
    box = ours(tent_peaks([1], 3)[None], 99, 99, 0.2)
    assert tuple(box[0]) == (23, 23, 75, 75)


def test_two_equal_peaks_first_in_row_major_order_wins():
    # peaks at columns 1 and 5 of a 3x7 map -> 99x231: boxes x 23..75 and 155..207, same rows and size
    heatmap = tent_peaks([1, 5], 7)
    assert tuple(ours(heatmap[None], 99, 231, 0.2)[0]) == (23, 23, 75, 75)
    heatmap[1, 1] = 0.5  # T = 0.24: the left tent must exceed 0.48, the right one 0.2: right is largest
    heatmap[1, 5] = 1.2
    assert tuple(ours(heatmap[None], 99, 231, 0.2)[0]) == pixel_box(heatmap, 99, 231, 0.2)
    assert ours(heatmap[None], 99, 231, 0.2)[0][0] > 100


def mask_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first, last, row_start) of the runs of True in a 2-D mask, by a literal loop over pixels."""
    first, last, row_start = [], [], [0]
    for row in mask:
        for x, on in enumerate(row):
            if on and (x == 0 or not row[x - 1]):
                first.append(x)
            if on and (x == len(row) - 1 or not row[x + 1]):
                last.append(x)
        row_start.append(len(first))
    return np.array(first, dtype=np.int64), np.array(last, dtype=np.int64), np.array(row_start, dtype=np.int64)


def run_box(mask: np.ndarray) -> tuple[int, ...]:
    box = np.zeros(4, dtype=np.int64)
    largest_run_component_box(*mask_runs(mask), box)
    return tuple(int(v) for v in box)


def test_runs_touching_diagonally_are_one_component():
    # row 0: [0, 1]; row 1: [2, 2] touches it diagonally (2 <= 1 + 1); row 2: [4, 4] and [9, 9]
    # touch nothing (4 > 2 + 1): components of 3, 1 and 1 pixels
    mask = np.zeros((3, 10), dtype=bool)
    mask[0, 0:2] = mask[1, 2] = mask[2, 4] = mask[2, 9] = True
    assert run_box(mask) == (0, 0, 2, 1)  # 3 pixels beat 1 + 1


def test_run_component_box_tie_goes_to_the_first_pixel_in_raster_order():
    # two 4-pixel components; the right one starts in row 0, the left one in row 1
    mask = np.zeros((4, 9), dtype=bool)
    mask[1:3, 0:2] = True
    mask[0, 6:8] = mask[1, 5] = mask[1, 8] = True
    assert run_box(mask) == (5, 0, 8, 1)


def test_run_component_box_matches_scipy_label_on_random_masks():
    rng = np.random.default_rng(2)
    masks = rng.random((60, 23, 31)) > rng.random((60, 1, 1))
    for mask in masks:
        labels, count = ndimage.label(mask, structure=EIGHT)
        if count == 0:
            assert run_box(mask) == (0, 0, 0, 0)
            continue
        rows, cols = np.nonzero(labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:])))
        assert run_box(mask) == (cols.min(), rows.min(), cols.max(), rows.max())


def test_heatmaps_to_boxes_mixes_compiled_and_pixel_paths():
    rng = np.random.default_rng(3)
    maps = [rng.random((int(rng.integers(3, 20)), int(rng.integers(3, 20))), dtype=np.float32) ** 3 for _ in range(30)]
    maps += [rng.random((9, 9)) for _ in range(5)]  # float64: pixel path
    sizes = rng.integers(30, 300, size=(len(maps), 2))
    expected = [pixel_box(check_heatmap(m), int(h), int(w), 0.2) for m, (h, w) in zip(maps, sizes)]
    assert [tuple(b) for b in heatmaps_to_boxes(maps, 0.2, image_sizes=sizes)] == expected


@pytest.mark.parametrize("threshold", [0.0, 1.0])
def test_extreme_thresholds(threshold):
    maps = np.random.default_rng(4).random((5, 6, 7), dtype=np.float32)
    expected = [pixel_box(m, 150, 90, threshold) for m in maps]
    assert [tuple(b) for b in ours(maps, 150, 90, threshold)] == expected
