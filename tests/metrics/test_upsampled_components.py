"""The run path (heat map upsampled to image size, foreground as runs) against the pixel path written
here: torch `interpolate` to the image size, then scipy.ndimage.label with a literal largest-label
count. Boxes must be identical, on random maps of many kinds and sizes and on hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from gwapbench.metrics.heatmaps import check_heatmap
from gwapbench.metrics.localization import heatmaps_to_boxes
from gwapbench.metrics.run_components import largest_run_component_boxes
from gwapbench.metrics.upsampled_components import (
    GENERIC_KERNEL_MIN_SUM,
    emulation_matches_torch,
    mask_runs,
    upsampled_largest_boxes,
    upsampled_runs,
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


def test_run_path_equals_pixel_path_on_random_maps():
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
        ours = upsampled_largest_boxes(maps, height, width, threshold)
        for heatmap, box in zip(maps, ours):
            assert tuple(box) == pixel_box(heatmap, height, width, threshold), (case, kind, height, width)


def test_realistic_maps_rarely_need_the_pixel_path():
    maps = np.random.default_rng(1).random((200, 14, 14), dtype=np.float32) ** 3
    *_, ambiguous = upsampled_runs(maps, 375, 500, 0.2)
    assert ambiguous.mean() < 0.1
    ours = upsampled_largest_boxes(maps[:40], 375, 500, 0.2)
    assert [tuple(b) for b in ours] == [pixel_box(m, 375, 500, 0.2) for m in maps[:40]]


def tent_peaks(columns: list[int], width_in: int) -> np.ndarray:
    heatmap = np.zeros((3, width_in), dtype=np.float32)
    heatmap[1, columns] = 1.0
    return heatmap


def test_single_peak_hand_worked():
    # 3x3 -> 99x99, scale 1/33: src(x) = (x + 0.5) / 33 - 0.5; the peak's tent 1 - |src - 1| is 1 at
    # x = 49 and > 0.2 iff 0.2 < src < 1.8 iff x in 23..75 (tent 0.212 at 23, 0.182 at 22); same in y
    box = upsampled_largest_boxes(tent_peaks([1], 3)[None], 99, 99, 0.2)
    assert tuple(box[0]) == (23, 23, 75, 75)


def test_two_equal_peaks_first_in_row_major_order_wins():
    # peaks at columns 1 and 5 of a 3x7 map -> 99x231: boxes x 23..75 and 155..207, same rows and size
    heatmap = tent_peaks([1, 5], 7)
    assert tuple(upsampled_largest_boxes(heatmap[None], 99, 231, 0.2)[0]) == (23, 23, 75, 75)
    heatmap[1, 1] = 0.5  # T = 0.24: the left tent must exceed 0.48, the right one 0.2: right is largest
    heatmap[1, 5] = 1.2
    assert tuple(upsampled_largest_boxes(heatmap[None], 99, 231, 0.2)[0]) == pixel_box(heatmap, 99, 231, 0.2)
    assert upsampled_largest_boxes(heatmap[None], 99, 231, 0.2)[0][0] > 100


def test_runs_touching_diagonally_are_one_component():
    # row 0: [0, 1]; row 1: [2, 2] touches it diagonally (2 <= 1 + 1); row 2: [4, 4] and [9, 9]
    # touch nothing (4 > 2 + 1): components of 3, 1 and 1 pixels
    image = np.zeros(4, dtype=np.int64)
    row, first, last = np.array([0, 1, 2, 2]), np.array([0, 2, 4, 9]), np.array([1, 2, 4, 9])
    boxes = largest_run_component_boxes(image, row, first, last, 1)
    assert tuple(boxes[0]) == (0, 0, 2, 1)  # 3 pixels beat 1 + 1


def test_run_components_match_scipy_label_on_random_masks():
    rng = np.random.default_rng(2)
    masks = rng.random((60, 23, 31)) > rng.random((60, 1, 1))
    parts = [mask_runs(mask) for mask in masks]
    image = np.concatenate([np.full(len(p[0]), i) for i, p in enumerate(parts)])
    row, first, last = (np.concatenate([p[k] for p in parts]) for k in range(3))
    boxes = largest_run_component_boxes(image, row, first, last, len(masks))
    for mask, box in zip(masks, boxes):
        labels, count = ndimage.label(mask, structure=EIGHT)
        if count == 0:
            assert tuple(box) == (0, 0, 0, 0)
            continue
        rows, cols = np.nonzero(labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:])))
        assert tuple(box) == (cols.min(), rows.min(), cols.max(), rows.max())


def test_heatmaps_to_boxes_mixes_run_and_pixel_paths():
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
    assert [tuple(b) for b in upsampled_largest_boxes(maps, 150, 90, threshold)] == expected
