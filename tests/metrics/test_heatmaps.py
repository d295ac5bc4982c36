"""Heat-map helpers against OpenCV's bilinear resize and hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest

from gwapbench.metrics.heatmaps import minmax_normalize, multiscale_average, resize_heatmap


@pytest.mark.parametrize("shape, size", [((14, 14), (375, 500)), ((7, 9), (20, 13)), ((28, 28), (224, 224))])
def test_resize_matches_opencv_bilinear(shape, size):
    cv2 = pytest.importorskip("cv2")
    heatmap = np.random.default_rng(0).random(shape, dtype=np.float32)
    ours = resize_heatmap(heatmap, *size)
    reference = cv2.resize(heatmap, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    assert ours.shape == size
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_resize_one_pixel_map_is_constant():
    assert np.all(resize_heatmap(np.array([[0.25]]), 3, 4) == 0.25)


def test_minmax_normalize_hand_case_and_constant():
    np.testing.assert_allclose(minmax_normalize(np.array([[2.0, 4.0], [6.0, 10.0]])), [[0, 0.25], [0.5, 1.0]])
    assert np.all(minmax_normalize(np.full((3, 3), 7.0)) == 0)


def test_multiscale_average_of_constant_maps_and_shape():
    maps = [np.full((7, 7), 1.0), np.full((14, 14), 2.0), np.full((21, 21), 6.0)]
    np.testing.assert_allclose(multiscale_average(maps, 5, 8), np.full((5, 8), 3.0))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: resize_heatmap(np.zeros((2, 2, 2)), 4, 4), "2-D"),
        (lambda: resize_heatmap(np.array([[np.nan]]), 4, 4), "NaN"),
        (lambda: resize_heatmap(np.zeros((2, 2)), 0, 4), "positive"),
        (lambda: multiscale_average([], 4, 4), "empty"),
        (lambda: minmax_normalize(np.zeros((0, 3))), "empty"),
    ],
)
def test_bad_input_raises(call, message):
    with pytest.raises(ValueError, match=message):
        call()
