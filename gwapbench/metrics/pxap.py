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
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from gwapbench.compiled import get_num_threads, njit
from gwapbench.metrics._validation import as_array, as_bool, check_map_mask_pairs
from gwapbench.metrics.accumulator import Accumulator

DEFAULT_CAM_CURVE_INTERVAL = 0.01
MIN_IMAGES_PER_THREAD = 16  # fewer images per thread: one thread (a pool costs more than it saves)


def pxap_bin_edges(cam_curve_interval: float = DEFAULT_CAM_CURVE_INTERVAL) -> np.ndarray:
    """Histogram bin edges: np.arange(0, 1, interval) followed by 1, 2, 3 (as wsolevaluation)."""
    if not np.isfinite(cam_curve_interval) or not 1e-4 <= cam_curve_interval <= 1:
        raise ValueError(f"cam_curve_interval must be in [1e-4, 1], got {cam_curve_interval!r}")
    return np.append(np.arange(0.0, 1.0, cam_curve_interval), [1.0, 2.0, 3.0])


LANES = 4  # interleaved sub-histograms: consecutive pixels of a smooth map share a bin, and one counter
# incremented pixel after pixel waits on its own previous store; four counters in turn do not


@njit(cache=True, nogil=True)
def _bin_slots(scores: np.ndarray, positive: np.ndarray, ignored: np.ndarray, edges: np.ndarray,
               interval: float, arithmetic_edges: bool, slots: np.ndarray) -> bool:
    """slots[p] = bin + B x positive, or 2B for an ignored pixel outside the mask; False if a score lies
    outside [0, 1] or is NaN (its slot is then that of 0, and the caller raises).

    bin = the j with edges[j] <= s < edges[j + 1], compared in float64 as np.histogram compares
    (float32 scores are widened exactly). The guess j0 = floor(s x (1 / interval)(1 - 2^-18)), clamped
    to J - 1, is j or j - 1: the edges are fl(j x interval) (np.arange's fill) and j <= 10^4 < 2^18,
    so the margin moves the quotient by less than one bin and rounding (2^-52 relative) never undoes
    it; one comparison with edges[j0 + 1] fixes it (j = J, the bin [1, 2), only for s = 1). With
    `arithmetic_edges` (the caller checked edges[j] == fl(j x interval) for j < J) that edge is
    recomputed instead of looked up, which lets the loop run in SIMD lanes (no gather).
    """
    num_bins = edges.size - 1
    last_guess = num_bins - 3  # J - 1: the bins are the J CAM thresholds' plus [1, 2) and [2, 3]
    shrunk = (1.0 / interval) * (1.0 - 2.0**-18)
    valid = True
    for p in range(scores.size):
        score = np.float64(scores[p])
        in_range = (score >= 0.0) & (score <= 1.0)
        valid &= in_range
        score = score if in_range else 0.0
        guess = min(np.int64(score * shrunk), last_guess)
        if arithmetic_edges:
            upper = 1.0 if guess == last_guess else np.float64(guess + 1) * interval
        else:
            upper = edges[guess + 1]
        inside = np.int64(positive[p])
        index = guess + np.int64(score >= upper) + num_bins * inside
        slots[p] = np.uint16(2 * num_bins if ignored[p] > inside else index)
    return valid


@njit(cache=True, nogil=True)
def _add_slots(slots: np.ndarray, size: int, counts: np.ndarray) -> None:
    """counts[lane, slots[p]] += 1 for p < size, lane = p mod LANES."""
    whole = size - size % LANES
    for p in range(0, whole, LANES):
        for lane in range(LANES):
            counts[lane, slots[p + lane]] += 1
    for p in range(whole, size):
        counts[0, slots[p]] += 1


@njit(cache=True, nogil=True)
def _count_pixels(scores: np.ndarray, positive: np.ndarray, ignored: np.ndarray, edges: np.ndarray,
                  interval: float, arithmetic_edges: bool, slots: np.ndarray, counts: np.ndarray) -> bool:
    """One image into counts (LANES, 2B + 1) in two passes (`_bin_slots`, then `_add_slots`), using
    `slots` (uint16, at least scores.size) as scratch; False, counting nothing, for a score outside [0, 1]."""
    if not _bin_slots(scores, positive, ignored, edges, interval, arithmetic_edges, slots):
        return False
    _add_slots(slots, scores.size, counts)
    return True


def _as_bytes(mask: np.ndarray) -> np.ndarray:
    """A flat uint8 view of a contiguous bool mask (no copy)."""
    return mask.reshape(-1).view(np.uint8)


def _flat_image(heatmap: np.ndarray, mask: np.ndarray, ignore: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernels' arguments of one checked image: flat map, mask bytes, ignore bytes (the mask's if None)."""
    return heatmap.reshape(-1), _as_bytes(mask), _as_bytes(mask if ignore is None else ignore)


_MAP_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_MASK_DTYPES = (np.dtype(bool),)


def _is_plain(array: object, dtypes: tuple[np.dtype, ...], shape: tuple[int, ...] | None = None) -> bool:
    """Whether the checks would return `array` itself: a C-contiguous, non-empty 2-D numpy array (no
    subclass) of one of `dtypes`, of `shape` when given."""
    return (type(array) is np.ndarray and array.ndim == 2 and array.dtype in dtypes and array.size > 0
            and array.flags.c_contiguous and (shape is None or array.shape == shape))


def _plain_images(heatmaps: Sequence[np.ndarray], gt_masks: Sequence[np.ndarray],
                  ignore_masks: Sequence[np.ndarray | None] | None
                  ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None:
    """The flat (map, mask bytes, ignore bytes) of each image when every input is already plain (see
    `_is_plain`; what the per-image checks would pass unchanged), else None: one quick pass over the
    batch instead of the conversions of `check_map_mask_pairs`."""
    ignores = [None] * len(heatmaps) if ignore_masks is None else ignore_masks
    if not 0 < len(heatmaps) == len(gt_masks) == len(ignores):
        return None
    images = []
    for heatmap, mask, ignore in zip(heatmaps, gt_masks, ignores):
        if not (_is_plain(heatmap, _MAP_DTYPES) and _is_plain(mask, _MASK_DTYPES, heatmap.shape)
                and (ignore is None or _is_plain(ignore, _MASK_DTYPES, heatmap.shape))):
            return None
        images.append(_flat_image(heatmap, mask, ignore))
    return images


def _checked_images(heatmaps: Sequence[np.ndarray], gt_masks: Sequence[np.ndarray],
                    ignore_masks: Sequence[np.ndarray | None] | None
                    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The flat (map, mask bytes, ignore bytes) of each image, after the checks and conversions of
    `check_map_mask_pairs` and `_ignore_masks` (which raise ValueError naming the bad argument)."""
    plain = _plain_images(heatmaps, gt_masks, ignore_masks)
    if plain is not None:
        return plain
    pairs = check_map_mask_pairs(heatmaps, gt_masks, maps_name="heatmaps")
    ignores = _ignore_masks(ignore_masks, [heatmap.shape for heatmap, _ in pairs])
    return [_flat_image(heatmap, mask, ignore) for (heatmap, mask), ignore in zip(pairs, ignores)]


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
    images = _checked_images(heatmaps, gt_masks, ignore_masks)
    num_bins = len(edges) - 1
    thresholds = num_bins - 2
    arithmetic_edges = bool(np.array_equal(edges[:thresholds], np.arange(thresholds) * cam_curve_interval))

    def count(part: range) -> tuple[np.ndarray, int]:
        """(LANES, 2B + 1) counts of the images in `part` (the last slot: ignored pixels), and the first
        image with a score outside [0, 1] (-1: none)."""
        counts = np.zeros((LANES, 2 * num_bins + 1), dtype=np.int64)
        slots = np.empty(max((images[i][0].size for i in part), default=0), dtype=np.uint16)
        for i in part:
            if not _count_pixels(*images[i], edges, cam_curve_interval, arithmetic_edges, slots, counts):
                return counts, i
        return counts, -1

    workers = max(1, min(get_num_threads(), len(images) // MIN_IMAGES_PER_THREAD))
    parts = [range(k * len(images) // workers, (k + 1) * len(images) // workers) for k in range(workers)]
    if workers == 1:
        results = [count(parts[0])]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(count, parts))
    bad = [i for _, i in results if i >= 0]
    if bad:
        heatmap = images[min(bad)][0]
        if not np.isfinite(heatmap).all():
            raise ValueError(f"heatmaps[{min(bad)}] contains NaN or infinite values")
        raise ValueError(f"heatmaps[{min(bad)}] must lie in [0, 1], got values in [{heatmap.min()}, {heatmap.max()}]")
    return sum(counts for counts, _ in results).sum(axis=0)[:-1].reshape(2, num_bins)


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
