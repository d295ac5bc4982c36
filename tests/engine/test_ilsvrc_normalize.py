"""Boxes of Table IV / localize-error read each map as its source defines it: GWAP's class-agnostic alpha
min-max normalized to [0, 1] before the 0.2 x max threshold (the paper, IV-B / IV-C), CAM maps as stored
(the CAM release divides by the max). Checked on hand-built maps against a literal pipeline (numpy
normalization, OpenCV bilinear resize, scipy 8-connected labelling) and by invariance properties."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from gwapbench.data.sample import Sample
from gwapbench.engine.ilsvrc_evaluate import (
    LocalizationOptions,
    evaluate_ilsvrc_boxes,
    image_boxes,
    map_normalization,
    prediction_boxes,
)
from gwapbench.errors import InputError


def _sample(image_id: str, height: int, width: int, box=(0, 0, 1, 1), label: int = 0) -> Sample:
    return Sample(image_path=f"{image_id}.JPEG", image_id=image_id, width=width, height=height,
                  labels=np.eye(3, dtype=np.int8)[label], boxes=np.array([box], dtype=np.float64),
                  box_labels=np.array([label]), difficult=np.zeros(1, dtype=bool))


def alpha_like(z: np.ndarray) -> np.ndarray:
    """GWAP's weights (eqs. 3-5): alpha = exp(sigmoid(z)) / sum exp(sigmoid(z)); max / min <= e."""
    weights = np.exp(1 / (1 + np.exp(-z.astype(np.float64))))
    return (weights / weights.sum()).astype(np.float32)


def literal_box(heatmap: np.ndarray, height: int, width: int, threshold: float = 0.2) -> tuple[int, ...]:
    """The paper's words, literally: normalize to [0, 1], resize bilinearly (OpenCV), keep pixels above
    threshold x max, bounding box of the largest 8-connected component (scipy)."""
    unit = (heatmap - heatmap.min()) / (heatmap.max() - heatmap.min())
    resized = cv2.resize(unit.astype(np.float64), (width, height), interpolation=cv2.INTER_LINEAR)
    labels, count = ndimage.label(resized > threshold * resized.max(), structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())[1:]
    rows, cols = np.nonzero(labels == 1 + int(np.argmax(sizes)))
    return cols.min(), rows.min(), cols.max(), rows.max()


def _blob_logits(size: int = 8, top: int = 2, left: int = 3, extent: int = 3) -> np.ndarray:
    z = np.full((size, size), -2.0)
    z[top : top + extent, left : left + extent] = 2.0
    return z


def _predictions(maps: np.ndarray, names: list[str], samples: list[Sample]) -> dict[str, np.ndarray]:
    logits = np.zeros((len(samples), 3), dtype=np.float32)
    logits[:, 0] = 1.0
    return {"image_ids": np.array([s.image_id for s in samples]), "logits": logits, "maps": maps,
            "map_names": np.array(names)}


def test_an_alpha_like_map_is_not_one_whole_image_box():
    """The cause of table4's old 100 %: alpha's max / min < e, so every pixel exceeds 0.2 x max of the raw
    map and the box is the whole image. Normalized first, the box is the blob's (checked literally)."""
    alpha = alpha_like(_blob_logits())
    assert alpha.max() / alpha.min() < np.e  # every raw pixel is above 0.2 x max: the whole image
    samples = [_sample("a", 64, 64)]
    guesses, gt_known = prediction_boxes([_predictions(alpha[None, None], ["alpha"], samples)], samples,
                                         LocalizationOptions())
    box = guesses[0][0]
    assert (box[2] - box[0] + 1) * (box[3] - box[1] + 1) < 0.5 * 64 * 64
    np.testing.assert_allclose(box, literal_box(alpha, 64, 64), atol=1)  # kernels may round a border pixel
    np.testing.assert_array_equal(gt_known[0], box)
    raw = image_boxes(list(alpha[None]), samples, LocalizationOptions(normalize="none"))
    assert raw[0].tolist() == [0, 0, 63, 63]  # the old rule on the same map


def test_a_trained_like_alpha_set_gives_boxes_of_varying_size():
    """Degenerate check: 40 alpha maps with blobs of random place and size must not all give one box."""
    rng = np.random.default_rng(3)
    maps, samples = [], []
    for i in range(40):
        top, left, extent = int(rng.integers(0, 5)), int(rng.integers(0, 5)), int(rng.integers(1, 4))
        maps.append(alpha_like(_blob_logits(8, top, left, extent) + rng.normal(0, 0.2, (8, 8))))
        samples.append(_sample(f"i{i}", int(rng.integers(48, 96)), int(rng.integers(48, 96))))
    boxes = prediction_boxes([_predictions(np.stack(maps)[:, None], ["alpha"], samples)], samples,
                             LocalizationOptions())[0][0]
    whole = [[0, 0, s.width - 1, s.height - 1] for s in samples]
    assert sum(b.tolist() != w for b, w in zip(boxes, whole)) == len(samples)
    areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    assert len(np.unique(areas)) > 10


def test_multiscale_alpha_is_normalized_per_scale_and_after_the_mean():
    samples = [_sample("a", 96, 80)]
    small = alpha_like(_blob_logits(8, 2, 3, 3))
    large = alpha_like(np.kron(_blob_logits(8, 2, 3, 3), np.ones((2, 2))))  # the same blob at twice the size
    stored = [_predictions(m[None, None], ["alpha"], samples) for m in (small, large)]
    guess = prediction_boxes(stored, samples, LocalizationOptions())[0][0][0]
    # literal: each scale normalized and resized (OpenCV), averaged, normalized, thresholded, labelled
    def unit(m):
        resized = cv2.resize(((m - m.min()) / (m.max() - m.min())).astype(np.float64), (80, 96),
                             interpolation=cv2.INTER_LINEAR)
        return resized
    mean = (unit(small) + unit(large)) / 2
    mean = (mean - mean.min()) / (mean.max() - mean.min())
    labels, _ = ndimage.label(mean > 0.2 * mean.max(), structure=np.ones((3, 3)))
    rows, cols = np.nonzero(labels == 1 + int(np.argmax(np.bincount(labels.ravel())[1:])))
    np.testing.assert_allclose(guess, (cols.min(), rows.min(), cols.max(), rows.max()), atol=1)
    assert (guess[2] - guess[0] + 1) * (guess[3] - guess[1] + 1) < 0.5 * 96 * 80


def test_normalization_by_map_kind_and_override():
    assert map_normalization(["alpha"], LocalizationOptions()) == "minmax"
    assert map_normalization(["top1", "top2", "gt"], LocalizationOptions()) == "none"
    assert map_normalization(["alpha"], LocalizationOptions(normalize="none")) == "none"
    assert map_normalization(["top1", "gt"], LocalizationOptions(normalize="minmax")) == "minmax"
    with pytest.raises(ValueError, match="map_normalization"):
        image_boxes([np.ones((4, 4), np.float32)], [_sample("a", 8, 8)], LocalizationOptions())
    with pytest.raises(ValueError, match="normalize"):
        LocalizationOptions(normalize="max")
    with pytest.raises(ValueError, match="box_convention"):
        LocalizationOptions(box_convention="opencv")


def test_max_box_acc_of_several_scales_is_refused():
    samples = [_sample("a", 32, 32)]
    stored = [_predictions(np.ones((1, 1, 4, 4), np.float32), ["alpha"], samples)] * 2
    with pytest.raises(InputError, match="--max-box-acc"):
        evaluate_ilsvrc_boxes(stored, samples, LocalizationOptions(max_box_acc=True))


# ---------------------------------------------------------------- invariance: boxes(m) == boxes(a m + b)

_DYADIC = st.lists(st.integers(0, 64), min_size=36, max_size=36)  # values k / 64: a m + b stays exact


def _dyadic_map(values: list[int]) -> np.ndarray:
    return (np.array(values, dtype=np.float32) / 64).reshape(6, 6)


@settings(max_examples=40, deadline=None)
@given(values=_DYADIC, scale_exp=st.integers(-3, 4), shift=st.integers(-8, 8),
       size=st.tuples(st.integers(20, 90), st.integers(20, 90)))
def test_minmax_boxes_are_invariant_to_a_positive_affine_map(values, scale_exp, shift, size):
    """Where the rule normalizes (minmax): boxes(m) == boxes(a m + b) for a > 0; a a power of two and b an
    integer, so a m + b, its minimum and its range are exact in float32 and the normalized maps equal."""
    m = _dyadic_map(values)
    samples = [_sample("a", *size)]
    options = LocalizationOptions(normalize="minmax")
    moved = (m * np.float32(2.0 ** scale_exp) + np.float32(shift)).astype(np.float32)
    np.testing.assert_array_equal(image_boxes([m], samples, options), image_boxes([moved], samples, options))


@settings(max_examples=40, deadline=None)
@given(values=_DYADIC, scale_exp=st.integers(-3, 4), size=st.tuples(st.integers(20, 90), st.integers(20, 90)))
def test_raw_boxes_are_invariant_to_a_positive_scale(values, scale_exp, size):
    """CAM maps (none): the t x max rule divides by the max (the CAM release), so boxes(m) == boxes(a m)."""
    m = _dyadic_map(values)
    samples = [_sample("a", *size)]
    options = LocalizationOptions(normalize="none")
    scaled = (m * np.float32(2.0 ** scale_exp)).astype(np.float32)
    np.testing.assert_array_equal(image_boxes([m], samples, options), image_boxes([scaled], samples, options))


def test_normalizing_before_upsampling_stays_in_the_unit_interval():
    """Bilinear weights are a convex combination: a map normalized at feature resolution, upsampled, lies
    in [0, 1] (the order docs/ilsvrc.md gives, which keeps the compiled kernel)."""
    rng = np.random.default_rng(0)
    m = rng.random((7, 9)).astype(np.float32)
    unit = (m - m.min()) / (m.max() - m.min())
    up = torch.nn.functional.interpolate(torch.from_numpy(unit)[None, None], size=(101, 77), mode="bilinear",
                                         align_corners=False)[0, 0].numpy()
    assert up.min() >= 0 and up.max() <= 1
