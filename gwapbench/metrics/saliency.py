"""Saliency metrics of Table II: box-union ground-truth masks and the Otsu F-measure.

Sources: the GWAP paper (Qiu 2018, section IV-B) evaluates each weight map against the union of
the image's object boxes with an Otsu-binarized map and F-beta, beta^2 = 0.3 (Achanta et al.,
CVPR 2009). The threshold is Otsu's (1979) between-class-variance maximizer computed exactly as
`skimage.filters.threshold_otsu` (256 bins over [min, max]).

Exactness: a map normalized to x in [0, 1] is scaled by 512 = 2 * 256, which is exact in binary
floating point, so with v = 512 x the Otsu bin of a pixel is min(floor(v) // 2, 255) (numpy's
histogram bins with edges k/256, the last one closed) and "x > bin centre (2k+1)/512" is
"v > 2k+1". One integer key per pixel, key = round_half_even(v - 0.5) in [0, 512], carries
both: it is 2k on [2k, 2k+1] and 2k+1 on (2k+1, 2k+2) (the ties at v = 2k and v = 2k+1 go to the
even neighbour; v - 0.5 is exact for v >= 1/4 and rounds to 0 below), so Otsu bin =
min(key // 2, 255) and x > centre(k) <=> key >= 2k+1. A joint histogram of (key, in GT) per
image then gives the Otsu threshold and |M|, |M & G| exactly, without a per-pixel loop.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from gwapbench.metrics._validation import (
    check_boxes,
    check_heatmap,
    check_map_mask_pairs,
    check_positive,
    check_size,
    map_range,
)
from gwapbench.metrics.accumulator import Accumulator, exact_mean, exact_scaled_sum

OTSU_BINS = 256
_KEYS = 2 * OTSU_BINS + 1  # key = round_half_even(v - 0.5) for v = 512 x in [0, 512]


def boxes_to_mask(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W) bool union of inclusive-corner boxes in VOC 1-based pixel coordinates.

    A box (x1, y1, x2, y2) covers the pixels whose 1-based column c and row r satisfy
    x1 <= c <= x2 and y1 <= r <= y2; in 0-based array indices that is
    mask[ceil(y1) - 1 : floor(y2), ceil(x1) - 1 : floor(x2)] (for VOC's integer corners:
    mask[y1 - 1 : y2, x1 - 1 : x2]). Parts outside the image are clipped away.
    """
    boxes = check_boxes(boxes, "boxes")
    height, width = check_size(height, "height"), check_size(width, "width")
    starts = np.clip(np.ceil(boxes[:, :2]) - 1, 0, None).astype(np.int64)  # 0-based first column, row
    stops = np.floor(boxes[:, 2:]).astype(np.int64)  # 0-based exclusive last column, row
    stops = np.minimum(stops, [width, height])
    # Difference array: +1 at each box's top-left, -1 past its corners; the 2-D cumulative sum
    # counts the boxes covering each pixel (no loop over pixels, one scatter per box corner).
    diff = np.zeros((height + 1, width + 1), dtype=np.int32)
    keep = (stops[:, 0] > starts[:, 0]) & (stops[:, 1] > starts[:, 1])
    x0, y0 = starts[keep, 0], starts[keep, 1]
    x1, y1 = stops[keep, 0], stops[keep, 1]
    np.add.at(diff, (y0, x0), 1)
    np.add.at(diff, (y0, x1), -1)
    np.add.at(diff, (y1, x0), -1)
    np.add.at(diff, (y1, x1), 1)
    return diff.cumsum(axis=0).cumsum(axis=1)[:height, :width] > 0


def _pixel_keys(image_map: np.ndarray, name: str) -> torch.Tensor:
    """(H*W,) int16 key = round_half_even(v - 0.5) of each pixel, v = 512 (m - min) / (max - min).

    A constant map puts every pixel at key 0 (v = 0). The normalization runs in the map's dtype,
    as numpy would evaluate it (min, max and the span are values of that dtype). Dividing by
    (max - min) / 512 equals dividing by (max - min) then multiplying by 512 (scaling by a power
    of two is exact), saving one pass, unless the scaled divisor is subnormal.
    """
    values = torch.from_numpy(image_map).reshape(-1)
    low, high = map_range(values, name)
    dtype = image_map.dtype.type
    span = dtype(high) - dtype(low)
    v = torch.sub(values, low)
    if span > 0:
        scaled_span = span / dtype(2 * OTSU_BINS)
        if scaled_span >= np.finfo(dtype).tiny:
            v.div_(float(scaled_span))
        else:
            v.div_(float(span)).mul_(2 * OTSU_BINS)
    return v.sub_(0.5).round_().to(torch.int16)  # torch.round rounds half to even


def _key_histogram(image_map: np.ndarray, mask: np.ndarray, name: str) -> np.ndarray:
    """(2, 513) counts of the pixel keys (`_pixel_keys`) outside / inside GT."""
    key = _pixel_keys(image_map, name)
    key.add_(torch.from_numpy(mask).reshape(-1), alpha=_KEYS)
    return torch.bincount(key, minlength=2 * _KEYS).reshape(2, _KEYS).numpy()


def otsu_bins(counts: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Index of the Otsu threshold bin for each row of an (N, 256) histogram of maps of `dtype`.

    As `skimage.filters.threshold_otsu` (same dtypes, same operation order, first maximum):
    w1 = cumsum(c), w2 = reverse cumsum(c) (float32 counts); mu1 = cumsum(c t) / w1,
    mu2 = reverse cumsum(c t) / w2 with bin centres t (in the map's dtype, as numpy's bin edges
    are); argmax over k of w1[k] w2[k+1] (mu1[k] - mu2[k+1])^2. Each row must have non-zero
    first and last bins.
    """
    counts = counts.astype(np.float32)
    edges = np.linspace(0.0, 1.0, OTSU_BINS + 1, dtype=dtype)
    centres = (edges[:-1] + edges[1:]) / 2.0
    weight1 = np.cumsum(counts, axis=1)
    weight2 = np.cumsum(counts[:, ::-1], axis=1)[:, ::-1]
    weighted = counts * centres
    mean1 = np.cumsum(weighted, axis=1) / weight1
    mean2 = (np.cumsum(weighted[:, ::-1], axis=1) / weight2[:, ::-1])[:, ::-1]
    variance12 = weight1[:, :-1] * weight2[:, 1:] * (mean1[:, :-1] - mean2[:, 1:]) ** 2
    return np.argmax(variance12, axis=1)


def _first_foreground_keys(by_key: np.ndarray, is_float32: np.ndarray) -> np.ndarray:
    """(N,) the lowest key counted as foreground for each row of an (N, 513) key histogram: 2k + 1 for
    Otsu bin k (key >= 2k+1 <=> x > centre(k)), or 513 (no pixel) for a constant map (every pixel at key 0)."""
    first = np.full(len(by_key), _KEYS, dtype=np.int64)
    varying = np.flatnonzero(by_key[:, 0] < by_key.sum(axis=1))
    otsu_hist = by_key[varying, :-1].reshape(-1, OTSU_BINS, 2).sum(axis=2)
    otsu_hist[:, -1] += by_key[varying, -1]  # x = 1 falls in the last, closed bin
    for dtype, rows in ((np.float32, is_float32[varying]), (np.float64, ~is_float32[varying])):
        first[varying[rows]] = 2 * otsu_bins(otsu_hist[rows], dtype) + 1
    return first


def otsu_counts(maps: Sequence[np.ndarray], gt_masks: Sequence[np.ndarray]) -> np.ndarray:
    """(N, 3) int64 per image: |M| (pixels above the Otsu threshold), |M & G|, |G|.

    Each map is min-max normalized to [0, 1] (in its own dtype) and thresholded at Otsu's
    threshold with foreground = x > threshold; a constant map has M empty.
    """
    pairs = check_map_mask_pairs(maps, gt_masks)
    keys = np.stack([_key_histogram(m, g, f"maps[{i}]") for i, (m, g) in enumerate(pairs)]).astype(np.int64)
    by_key = keys.sum(axis=1)  # (N, 513), both mask rows together
    is_float32 = np.array([m.dtype == np.float32 for m, _ in pairs], dtype=bool)
    above = np.arange(_KEYS) >= _first_foreground_keys(by_key, is_float32)[:, None]
    return np.stack([(by_key * above).sum(axis=1), (keys[:, 1] * above).sum(axis=1), keys[:, 1].sum(axis=1)], axis=1)


def otsu_mask(heatmap: object) -> np.ndarray:
    """(H, W) bool: the pixels `otsu_counts` counts in M for this map (x > Otsu threshold of the min-max
    normalized map, as `skimage.filters.threshold_otsu`; all False for a constant map)."""
    image_map = np.ascontiguousarray(check_heatmap(heatmap))
    keys = _pixel_keys(image_map, "heatmap")
    by_key = torch.bincount(keys, minlength=_KEYS).numpy()[None].astype(np.int64)
    first = _first_foreground_keys(by_key, np.array([image_map.dtype == np.float32]))[0]
    return (keys.numpy() >= first).reshape(image_map.shape)


def fbeta_from_counts(predicted: np.ndarray, hits: np.ndarray, positives: np.ndarray, beta2: float) -> np.ndarray:
    """F = (1 + b2) P R / (b2 P + R), P = hits / predicted, R = hits / positives; 0 where undefined."""
    predicted, hits, positives = (np.asarray(a, dtype=np.float64) for a in (predicted, hits, positives))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, hits / predicted, 0.0)
        recall = np.where(positives > 0, hits / positives, 0.0)
        denominator = beta2 * precision + recall
        return np.where(denominator > 0, (1 + beta2) * precision * recall / denominator, 0.0)


def otsu_fmeasure(maps: Sequence[np.ndarray], gt_masks: Sequence[np.ndarray], beta2: float = 0.3) -> np.ndarray:
    """(N,) per-image F-beta of the Otsu-binarized map against the mask (Table II; mean = the score).

    maps: 2-D float arrays already at mask size (sizes may differ between images); gt_masks: bool
    arrays of the same shapes. F = 0 for a constant map or where P + R = 0. Empty input raises
    ValueError (a mean over no images is undefined).
    """
    check_positive(beta2, "beta2")
    counts = otsu_counts(maps, gt_masks)
    return fbeta_from_counts(counts[:, 0], counts[:, 1], counts[:, 2], beta2)


class OtsuFMeasure(Accumulator):
    """Mean Otsu F-measure over batches in constant memory; `compute()` -> mean F (the Table II number).

    The state is the image count and the exact sum of the per-image F values (an integer multiple
    of 2^-1074), so the mean is the correctly rounded mean of `otsu_fmeasure` over all images,
    whatever the batches and merge order. Per-image values: call `otsu_fmeasure` itself.
    """

    def __init__(self, beta2: float = 0.3) -> None:
        super().__init__()
        self.beta2 = check_positive(beta2, "beta2")

    def update(self, maps: Sequence[np.ndarray], gt_masks: Sequence[np.ndarray]) -> None:
        per_image = otsu_fmeasure(maps, gt_masks, self.beta2)
        self._add(images=len(per_image), scaled_f_sum=exact_scaled_sum(per_image))

    def compute(self) -> float:
        self._require_data(self._total("images"))
        return exact_mean(self._total("scaled_f_sum"), self._total("images"))
