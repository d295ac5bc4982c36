"""PxAP: pixel average precision of heat maps against masks (Choe et al., CVPR 2020).

Definition (wsolevaluation's `MaskEvaluator`): all pixels of all images are pooled. The CAM
thresholds are t_j = `np.arange(0, 1, cam_curve_interval)` (j = 0..J-1, default interval 0.01 so
J = 100); with the extra edges 1, 2, 3 they form histogram bins [t_0, t_1), ..., [t_{J-1}, 1),
[1, 2), [2, 3]. Operating point i = 0..J+1 predicts "foreground" for scores >= tau_i with
tau = (2, 1, t_{J-1}, ..., t_0); TP_i, FP_i are the pooled counts inside / outside the masks,
P_i = TP_i / (TP_i + FP_i), R_i = TP_i / |positives|, and

    PxAP = sum_{i >= 1, TP_i + FP_i > 0} P_i (R_i - R_{i-1})

(wsolevaluation reports 100 x this; we return the fraction in [0, 1]). An optional ignore mask per
image leaves its pixels out of both counts, except pixels inside the ground-truth mask, which stay
positives (wsolevaluation's `get_mask`: ignore = ignore region minus the foreground). Where every pixel score
is one of the tau_i, this is exactly sklearn's non-interpolated `average_precision_score` on the
pooled pixels. The state is two histograms of counts, so batches and processes add up exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from gwapbench.metrics._validation import as_array, as_bool, check_map_mask_pairs, map_range
from gwapbench.metrics.accumulator import Accumulator

DEFAULT_CAM_CURVE_INTERVAL = 0.01


def pxap_bin_edges(cam_curve_interval: float = DEFAULT_CAM_CURVE_INTERVAL) -> np.ndarray:
    """Histogram bin edges: np.arange(0, 1, interval) followed by 1, 2, 3 (as wsolevaluation)."""
    if not np.isfinite(cam_curve_interval) or not 1e-4 <= cam_curve_interval <= 1:
        raise ValueError(f"cam_curve_interval must be in [1e-4, 1], got {cam_curve_interval!r}")
    return np.append(np.arange(0.0, 1.0, cam_curve_interval), [1.0, 2.0, 3.0])


def _float32_edges(edges: np.ndarray) -> np.ndarray:
    """Smallest float32 >= each float64 edge: for float32 s, s >= e <=> s >= that value."""
    rounded = edges.astype(np.float32)
    below = rounded.astype(np.float64) < edges
    rounded[below] = np.nextafter(rounded[below], np.float32(np.inf))
    return rounded


def _score_bins(scores: torch.Tensor, edges: torch.Tensor, inverse_interval: float) -> torch.Tensor:
    """Bin j with edges[j] <= s < edges[j + 1] of each score s in [0, 1], as int32.

    `edges` holds the comparison values in the scores' dtype. The guess
    j0 = trunc(s / interval x (1 - 2^-18)), clamped to J - 1, is the true bin or the one below:
    rounding in s / interval and in the edges is below 2^-21 relative, under the 2^-18 margin,
    and with J <= 10^4 the margin moves the quotient by less than one bin. So
    j = j0 + [s >= edges[j0 + 1]] is exact (j = J, the bin [1, 2), only for s = 1).
    """
    shrunk = inverse_interval * (1.0 - 2.0**-18)
    guess = torch.mul(scores, shrunk).to(torch.int32).clamp_(max=len(edges) - 4)
    return guess.add_(torch.ge(scores, torch.index_select(edges[1:], 0, guess)))


def _ignore_masks(ignore_masks: Sequence[np.ndarray | None] | None, shapes: list[tuple[int, ...]]
                  ) -> list[np.ndarray | None]:
    """Each image's ignore mask as a contiguous bool array of its map's shape, or None (nothing ignored)."""
    if ignore_masks is None:
        return [None] * len(shapes)
    if len(ignore_masks) != len(shapes):
        raise ValueError(f"length mismatch: heatmaps={len(shapes)}, ignore_masks={len(ignore_masks)}")
    out: list[np.ndarray | None] = []
    for i, (raw, shape) in enumerate(zip(ignore_masks, shapes)):
        if raw is None:
            out.append(None)
            continue
        mask = as_bool(as_array(raw, f"ignore_masks[{i}]", ndim=2, dtype=None), f"ignore_masks[{i}]")
        if mask.shape != shape:
            raise ValueError(f"ignore_masks[{i}] has shape {mask.shape} but heatmaps[{i}] has {shape}")
        out.append(np.ascontiguousarray(mask))
    return out


def pxap_histograms(
    heatmaps: Sequence[np.ndarray],
    gt_masks: Sequence[np.ndarray],
    cam_curve_interval: float = DEFAULT_CAM_CURVE_INTERVAL,
    ignore_masks: Sequence[np.ndarray | None] | None = None,
) -> np.ndarray:
    """(2, B) int64 pooled pixel counts per score bin: row 0 outside the masks, row 1 inside.

    Heat maps must already lie in [0, 1] (normalize them first, e.g. min-max per image as
    wsolevaluation does); bin of score s = the j with edge_j <= s < edge_{j+1}. Pixels of an
    image's ignore mask (None: none) that are outside its gt mask are not counted.
    """
    edges = pxap_bin_edges(cam_curve_interval)
    pairs = check_map_mask_pairs(heatmaps, gt_masks, maps_name="heatmaps")
    ignores = _ignore_masks(ignore_masks, [heatmap.shape for heatmap, _ in pairs])
    num_bins = len(edges) - 1
    comparison_edges = {np.float32: torch.from_numpy(_float32_edges(edges)), np.float64: torch.from_numpy(edges)}
    counts = torch.zeros(2 * num_bins + 1, dtype=torch.int64)  # the last slot collects ignored pixels
    for i, ((heatmap, mask), ignore) in enumerate(zip(pairs, ignores)):
        scores = torch.from_numpy(heatmap).reshape(-1)
        low, high = map_range(scores, f"heatmaps[{i}]")
        if low < 0 or high > 1:
            raise ValueError(f"heatmaps[{i}] must lie in [0, 1], got values in [{low}, {high}]")
        index = _score_bins(scores, comparison_edges[heatmap.dtype.type], 1.0 / cam_curve_interval)
        positive = torch.from_numpy(mask).reshape(-1)
        index.add_(positive, alpha=num_bins)
        if ignore is not None:
            index.masked_fill_(torch.from_numpy(ignore).reshape(-1) & ~positive, 2 * num_bins)
        counts += torch.bincount(index, minlength=2 * num_bins + 1)
    return counts[:-1].reshape(2, num_bins).numpy()


def pxap_from_histograms(histograms: np.ndarray) -> float:
    """PxAP from the (2, B) outside/inside histograms (see the module docstring)."""
    histograms = np.asarray(histograms, dtype=np.float64)
    if histograms.ndim != 2 or histograms.shape[0] != 2:
        raise ValueError(f"histograms must have shape (2, B), got {histograms.shape}")
    true_positives = np.cumsum(histograms[1, ::-1])  # scores >= 2, >= 1, >= t_{J-1}, ..., >= t_0
    false_positives = np.cumsum(histograms[0, ::-1])
    positives = true_positives[-1]
    if positives == 0:
        raise ValueError("PxAP is undefined: no pixel lies inside the ground-truth masks")
    predicted = true_positives + false_positives
    precision = np.divide(true_positives, predicted, out=np.zeros_like(predicted), where=predicted > 0)
    recall = true_positives / positives
    return float(np.sum(precision[1:] * np.diff(recall)))


def pxap_curve(histograms: np.ndarray, cam_curve_interval: float = DEFAULT_CAM_CURVE_INTERVAL) -> dict[str, list]:
    """Precision and recall at each CAM threshold t_0 < ... < t_{J-1} (pixels with score >= t_j predicted
    foreground; precision 0 where none is), from the (2, B) histograms: the points PxAP sums over."""
    histograms = np.asarray(histograms, dtype=np.float64)
    true_positives = np.cumsum(histograms[1, ::-1])[::-1][: len(histograms[1]) - 2]  # scores >= t_j
    predicted = true_positives + np.cumsum(histograms[0, ::-1])[::-1][: len(histograms[0]) - 2]
    precision = np.divide(true_positives, predicted, out=np.zeros_like(predicted), where=predicted > 0)
    positives = histograms[1].sum()
    recall = true_positives / positives if positives > 0 else np.zeros_like(true_positives)
    thresholds = pxap_bin_edges(cam_curve_interval)[:-3]
    return {"cam_thresholds": thresholds.tolist(), "precision": precision.tolist(), "recall": recall.tolist()}


def pxap(
    heatmaps: Sequence[np.ndarray],
    gt_masks: Sequence[np.ndarray],
    cam_curve_interval: float = DEFAULT_CAM_CURVE_INTERVAL,
    ignore_masks: Sequence[np.ndarray | None] | None = None,
) -> float:
    """Pixel average precision in [0, 1] of heat maps in [0, 1] against boolean masks, leaving out the
    pixels of `ignore_masks` (one bool mask or None per image) that lie outside the gt mask.

    Raises ValueError for empty input or when no pixel is inside any mask.
    """
    return pxap_from_histograms(pxap_histograms(heatmaps, gt_masks, cam_curve_interval, ignore_masks))


class PxAP(Accumulator):
    """Keeps the running sum of the two pooled score histograms (constant memory, never the maps).

    `compute()` -> PxAP, exactly `pxap` over all images added (the histograms are integer counts).
    """

    def __init__(self, cam_curve_interval: float = DEFAULT_CAM_CURVE_INTERVAL) -> None:
        super().__init__()
        pxap_bin_edges(cam_curve_interval)  # validates the interval up front
        self.cam_curve_interval = cam_curve_interval

    def update(self, heatmaps: Sequence[np.ndarray], gt_masks: Sequence[np.ndarray],
               ignore_masks: Sequence[np.ndarray | None] | None = None) -> None:
        self._add(images=len(heatmaps),
                  histograms=pxap_histograms(heatmaps, gt_masks, self.cam_curve_interval, ignore_masks))

    def compute(self) -> float:
        self._require_data(self._total("images"))
        return pxap_from_histograms(self._total("histograms"))

    def curve(self) -> dict[str, list]:
        """`pxap_curve` of the pooled histograms: precision and recall at each CAM threshold."""
        self._require_data(self._total("images"))
        return pxap_curve(self._total("histograms"), self.cam_curve_interval)
