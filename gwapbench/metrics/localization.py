"""Box localization metrics: heat map to box, ILSVRC localization error, MaxBoxAcc, GT-known accuracy.

Boxes are (x1, y1, x2, y2) with inclusive corners and IoU uses the +1 pixel convention of the
ILSVRC devkit (`eval_clsloc`) and of wsolevaluation:
area = (x2 - x1 + 1)(y2 - y1 + 1), intersection width = max(0, min(x2) - max(x1) + 1).
See docs/metrics.md ("Box localization") for definitions, sources and pitfalls.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from gwapbench.metrics._kernels.component_boxes import largest_component_box
from gwapbench.metrics._kernels.threshold_sweep import sweep_best_ious
from gwapbench.metrics._kernels.upsampled_boxes import (
    GENERIC_KERNEL_MIN_SUM,
    emulation_matches_torch,
    upsampled_largest_boxes,
)
from gwapbench.metrics._validation import as_array, check_boxes, check_positive_int, check_same_length
from gwapbench.metrics.accumulator import Accumulator
from gwapbench.metrics.box_methods import BOX_CONVENTIONS, BOX_METHODS, DEFAULT_BOX_METHOD
from gwapbench.metrics.boxes import rowwise_iou_plus_one
from gwapbench.metrics.cam_legacy import cam_legacy_box
from gwapbench.metrics.heatmaps import check_heatmap, resize_heatmap_tensor

MAX_IMAGE_PIXELS = 1 << 26  # upsampling bound of heatmaps_to_boxes: 256 MB per float32 map
DEFAULT_CAM_THRESHOLDS = np.arange(0.0, 1.0, 0.01)  # wsolevaluation's cam_curve_interval = 0.01
MAX_BOX_ACC_V2_IOUS = (0.3, 0.5, 0.7)
_BATCH_MAPS = 4096  # maps per compiled call


def _check_gt_boxes(gt_boxes: Sequence[object], name: str = "gt_boxes") -> list[np.ndarray]:
    return [check_boxes(boxes, f"{name}[{i}]") for i, boxes in enumerate(gt_boxes)]


def best_iou_with_image_gt(boxes: np.ndarray, image_of_box: np.ndarray, gt_boxes: list[np.ndarray]) -> np.ndarray:
    """(M,) max IoU of each box with the GT boxes of its image (0 where that image has none).

    All (box, GT box of the same image) pairs are formed at once with np.repeat.
    """
    gt_counts = np.array([len(g) for g in gt_boxes], dtype=np.int64)
    gt_all = np.concatenate(gt_boxes).reshape(-1, 4) if gt_boxes else np.zeros((0, 4))
    gt_start = np.cumsum(gt_counts) - gt_counts
    pairs_per_box = gt_counts[image_of_box]
    pair_box = np.repeat(np.arange(len(boxes)), pairs_per_box)
    pair_offset = np.arange(len(pair_box)) - np.repeat(np.cumsum(pairs_per_box) - pairs_per_box, pairs_per_box)
    pair_gt = gt_start[image_of_box][pair_box] + pair_offset
    best = np.zeros(len(boxes))
    np.maximum.at(best, pair_box, rowwise_iou_plus_one(boxes[pair_box].astype(np.float64), gt_all[pair_gt]))
    return best


# ---------------------------------------------------------------- heat map -> box


def _check_box_args(threshold: float, method: str) -> None:
    """`method` one of `BOX_METHODS`; `threshold` in [0, 1] (checked for "largest_component" only: cam_legacy
    has its own thresholds)."""
    if method not in BOX_METHODS:
        raise ValueError(f"method must be one of {BOX_METHODS}, got {method!r}")
    if method == DEFAULT_BOX_METHOD and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold!r}")


def _box_of(heatmap: torch.Tensor, threshold: float, method: str) -> tuple[int, int, int, int]:
    """The box of one map (already at the size the box is wanted in) by `method`."""
    if method == "cam_legacy":
        return cam_legacy_box(heatmap.numpy())
    return largest_component_box((heatmap > threshold * heatmap.max()).numpy())


def heatmap_to_box(heatmap: object, threshold: float = 0.2, method: str = DEFAULT_BOX_METHOD) -> tuple[int, ...]:
    """Bounding box (x1, y1, x2, y2), 0-based inclusive indices into `heatmap`, of its largest
    8-connected component of pixels strictly above `threshold * max(heatmap)` (CAM, Zhou et al. 2016).

    Equal-size components: the one whose first pixel in row-major order comes first wins.
    No pixel above the threshold (an all-zero map, or a map with max <= 0 where nothing exceeds
    threshold * max) gives the one-pixel box (0, 0, 0, 0), as wsolevaluation; a constant positive
    map gives the whole map.
    `method` (`box_methods.BOX_METHODS`): "cam_legacy" gives the CAM release's dt_box box
    (`cam_legacy_box`; `threshold` unused).
    """
    _check_box_args(threshold, method)
    return _box_of(torch.from_numpy(np.ascontiguousarray(check_heatmap(heatmap))), threshold, method)


def heatmaps_to_boxes(
    heatmaps: Sequence[object] | np.ndarray,
    threshold: float = 0.2,
    method: str = DEFAULT_BOX_METHOD,
    image_sizes: object | None = None,
) -> np.ndarray:
    """(N, 4) int64 boxes of `heatmap_to_box` for N maps (a (N, H, W) array or a list of any sizes).

    With `image_sizes` ((N, 2) heights and widths, at most `MAX_IMAGE_PIXELS` each), each map is
    first resized bilinearly to its image (`resize_heatmap`), so the boxes are inclusive pixel
    indices of the image (Table IV).
    Float32 maps take the compiled path (`_kernels.upsampled_boxes`), which never builds the resized map
    and gives the same boxes. "cam_legacy" boxes are computed map by map, each resized first.
    """
    _check_box_args(threshold, method)
    maps = [check_heatmap(h, f"heatmaps[{i}]") for i, h in enumerate(heatmaps)]
    if image_sizes is not None:
        sizes = as_array(image_sizes, "image_sizes", dtype=np.int64)
        sizes = sizes.reshape(0, 2) if sizes.size == 0 else sizes
        if sizes.ndim != 2 or sizes.shape[1] != 2:
            raise ValueError(f"image_sizes must have shape (N, 2) (height, width), got {sizes.shape}")
        check_same_length(heatmaps=maps, image_sizes=sizes)
        if sizes.size and sizes.min() < 1:
            raise ValueError("image_sizes must hold positive heights and widths")
        pixels = sizes.astype(np.float64).prod(axis=1)
        if pixels.size and pixels.max() > MAX_IMAGE_PIXELS:
            i = int(np.argmax(pixels))
            raise ValueError(f"image_sizes[{i}] = {sizes[i].tolist()} asks for {pixels[i]:.3g} pixels; at most "
                             f"{MAX_IMAGE_PIXELS:,} (8192 x 8192) per image")
    boxes = np.zeros((len(maps), 4), dtype=np.int64)
    pixel_path = np.ones(len(maps), dtype=bool)
    if image_sizes is not None and len(maps) and method == DEFAULT_BOX_METHOD:
        pixel_path = ~_upsampled_boxes(maps, sizes, threshold, boxes)
    for i in np.flatnonzero(pixel_path):
        heatmap = torch.from_numpy(np.ascontiguousarray(maps[i]))
        if image_sizes is not None:
            heatmap = resize_heatmap_tensor(heatmap, int(sizes[i, 0]), int(sizes[i, 1]))
        boxes[i] = _box_of(heatmap, threshold, method)
    return boxes


def _upsampled_boxes(maps: list[np.ndarray], sizes: np.ndarray, threshold: float, boxes: np.ndarray) -> np.ndarray:
    """Fill `boxes` for the maps the compiled path (`_kernels.upsampled_boxes`) handles: float32 maps whose
    upsampling torch does with its generic kernel; returns the mask of those maps."""
    eligible = np.array([m.dtype == np.float32 for m in maps]) & (sizes.sum(axis=1) > GENERIC_KERNEL_MIN_SUM)
    if not eligible.any() or not emulation_matches_torch():
        return np.zeros(len(maps), dtype=bool)
    chosen = np.flatnonzero(eligible)
    boxes[chosen] = upsampled_largest_boxes([maps[i] for i in chosen], sizes[chosen], threshold)
    return eligible


# ---------------------------------------------------------------- ILSVRC localization error


def _check_label_indices(values: object, name: str, ndim: int, num_classes: int | None) -> np.ndarray:
    """Integer class indices (an integer dtype; empty arrays of any dtype) in 0..num_classes-1, or >= 0
    when num_classes is None; returned as int64."""
    labels = as_array(values, name, ndim=ndim, dtype=None)
    if labels.size == 0:
        return labels.astype(np.int64)
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integer class indices, got dtype {labels.dtype}")
    if labels.min() < 0 or (num_classes is not None and labels.max() >= num_classes):
        allowed = "non-negative class indices" if num_classes is None else f"in 0..{num_classes - 1}"
        raise ValueError(f"{name} must be {allowed}, got range {labels.min()}..{labels.max()}")
    return labels.astype(np.int64)


def _check_guesses(
    pred_labels: object, pred_boxes: object, gt_labels: object, gt_boxes: Sequence[object], k: int,
    num_classes: int | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
    if num_classes is not None:
        check_positive_int(num_classes, "num_classes")
    labels = _check_label_indices(pred_labels, "pred_labels", 2, num_classes)
    boxes = as_array(pred_boxes, "pred_boxes", ndim=3)
    truth = _check_label_indices(gt_labels, "gt_labels", 1, num_classes)
    if boxes.shape[1:] != (labels.shape[1], 4):
        raise ValueError(f"pred_boxes must have shape (N, K, 4) = (N, {labels.shape[1]}, 4), got {boxes.shape}")
    num_images = check_same_length(pred_labels=labels, pred_boxes=boxes, gt_labels=truth, gt_boxes=gt_boxes)
    if num_images == 0:
        raise ValueError("no images: pred_labels, pred_boxes, gt_labels and gt_boxes are empty")
    if not 1 <= k <= labels.shape[1]:
        raise ValueError(f"k must be in 1..{labels.shape[1]} (the number of guesses), got {k!r}")
    check_boxes(boxes[:, :k].reshape(-1, 4), "pred_boxes")
    return labels, boxes, truth, _check_gt_boxes(gt_boxes)


def localization_correct(pred_labels: object, pred_boxes: object, gt_labels: object, gt_boxes: Sequence[object],
                         k: int = 1, iou_threshold: float = 0.5, num_classes: int | None = None) -> np.ndarray:
    """(N,) bool: some guess among the first k has class gt_labels[i] and IoU >= iou_threshold with
    any GT box of image i (ILSVRC devkit `eval_clsloc`; an image without GT boxes is never correct).
    Labels are integer class indices, checked against 0..num_classes-1 when num_classes is given."""
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    labels, boxes, truth, gt = _check_guesses(pred_labels, pred_boxes, gt_labels, gt_boxes, k, num_classes)
    num_images = len(truth)
    image_of_guess = np.repeat(np.arange(num_images), k)
    iou = best_iou_with_image_gt(boxes[:, :k].reshape(-1, 4), image_of_guess, gt).reshape(num_images, k)
    return np.any((labels[:, :k] == truth[:, None]) & (iou >= iou_threshold), axis=1)


def _keep_mask(exclude: object | None, num_images: int) -> np.ndarray:
    keep = np.ones(num_images, dtype=bool)
    if exclude is None:
        return keep
    arr = np.asarray(exclude)
    if arr.dtype == bool:
        if arr.shape != (num_images,):
            raise ValueError(f"exclude as a boolean mask must have shape ({num_images},), got {arr.shape}")
        return ~arr
    if arr.size and (arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() >= num_images):
        raise ValueError(f"exclude must be a boolean mask or image indices in 0..{num_images - 1}")
    keep[arr.astype(np.int64)] = False
    return keep


def localization_error(pred_labels: object, pred_boxes: object, gt_labels: object, gt_boxes: Sequence[object],
                       k: int = 1, iou_threshold: float = 0.5, exclude: object | None = None,
                       num_classes: int | None = None) -> float:
    """Top-k localization error: 1 - (correct images / counted images), ILSVRC `eval_clsloc`.

    pred_labels (N, K) ranked class guesses, pred_boxes (N, K, 4) their boxes, gt_labels (N,),
    gt_boxes one (G, 4) array per image in the same pixel frame. `exclude` (a boolean mask or
    index list, e.g. the devkit blacklist) removes images from the denominator. Labels must be
    integer class indices (in 0..num_classes-1 when num_classes is given, e.g. 1000 for ILSVRC).
    Raises ValueError when no image is left to count.
    """
    correct = localization_correct(pred_labels, pred_boxes, gt_labels, gt_boxes, k, iou_threshold, num_classes)
    keep = _keep_mask(exclude, len(correct))
    if not keep.any():
        raise ValueError("exclude removes every image: the localization error is undefined")
    return float(1.0 - correct[keep].mean())


def gt_known_accuracy(pred_boxes: object, gt_boxes: Sequence[object], iou_threshold: float = 0.5) -> float:
    """GT-known localization accuracy: fraction of images whose box (from the ground-truth class's
    heat map) has IoU >= iou_threshold with any GT box (Choe et al. 2020)."""
    boxes = as_array(pred_boxes, "pred_boxes")
    if check_same_length(pred_boxes=boxes, gt_boxes=gt_boxes) == 0:
        raise ValueError("no images: pred_boxes and gt_boxes are empty")
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"pred_boxes must have shape (N, 4), got {boxes.shape}")
    same_class = np.zeros(len(boxes), dtype=np.int64)  # GT-known: the box is always for the true class
    correct = localization_correct(same_class[:, None], boxes[:, None], same_class, gt_boxes, 1, iou_threshold)
    return float(correct.mean())


class LocalizationError(Accumulator):
    """Top-k localization error over batches: stores one bool per counted image."""

    def __init__(self, k: int = 1, iou_threshold: float = 0.5, num_classes: int | None = None) -> None:
        super().__init__()
        self.k, self.iou_threshold, self.num_classes = k, iou_threshold, num_classes

    def update(
        self,
        pred_labels: object,
        pred_boxes: object,
        gt_labels: object,
        gt_boxes: Sequence[object],
        exclude: object | None = None,
    ) -> None:
        correct = localization_correct(pred_labels, pred_boxes, gt_labels, gt_boxes, self.k, self.iou_threshold,
                                       self.num_classes)
        self._append(correct=correct[_keep_mask(exclude, len(correct))])

    def compute(self) -> float:
        correct = np.concatenate(self._items("correct")) if self._items("correct") else np.zeros(0, bool)
        if correct.size == 0:
            raise ValueError("LocalizationError has no images: call update() first")
        return float(1.0 - correct.mean())


# ---------------------------------------------------------------- MaxBoxAcc (Choe et al. 2020)


def _check_unit_maps(heatmaps: object) -> np.ndarray:
    arr = heatmaps.detach().cpu().numpy() if hasattr(heatmaps, "detach") else np.asarray(heatmaps)
    arr = as_array(arr, "heatmaps", ndim=3, dtype=np.float32 if arr.dtype == np.float32 else np.float64, finite=False)
    low, high = (arr.min(), arr.max()) if arr.size else (0.0, 0.0)  # two passes; NaN propagates, inf is out of range
    if np.isnan(low) or np.isnan(high):
        raise ValueError("heatmaps contains NaN values")
    if low < 0 or high > 1:
        raise ValueError(f"heatmaps must lie in [0, 1] (min-max normalize first), got [{low}, {high}]")
    return arr


def _check_thresholds(values: object, name: str, low_open: bool) -> tuple[float, ...]:
    arr = as_array(values, name, ndim=1)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    bad = (arr <= 0 if low_open else arr < 0) | (arr > 1 if low_open else arr >= 1)
    if bad.any():
        interval = "(0, 1]" if low_open else "[0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {arr[bad][0]!r}")
    return tuple(float(value) for value in arr)


@dataclass(frozen=True)
class MaxBoxAccOptions:
    """What MaxBoxAcc evaluates: CAM thresholds t in [0, 1), IoU thresholds delta in (0, 1], boxes of
    the largest component or of all (`multi_contour`), and the box convention (`BOX_CONVENTIONS`:
    "components" or "wsolevaluation", docs/metrics.md). Validated on construction."""

    cam_thresholds: tuple[float, ...] = tuple(float(t) for t in DEFAULT_CAM_THRESHOLDS)
    iou_thresholds: tuple[float, ...] = (0.5,)
    multi_contour: bool = False
    box_convention: str = "components"

    def __post_init__(self) -> None:
        object.__setattr__(self, "cam_thresholds", _check_thresholds(self.cam_thresholds, "cam_thresholds", False))
        object.__setattr__(self, "iou_thresholds", _check_thresholds(self.iou_thresholds, "iou_thresholds", True))
        if self.box_convention not in BOX_CONVENTIONS:
            raise ValueError(f"box_convention must be one of {BOX_CONVENTIONS}, got {self.box_convention!r}")

    @classmethod
    def v2(cls, cam_thresholds: object = DEFAULT_CAM_THRESHOLDS, box_convention: str = "components"
           ) -> MaxBoxAccOptions:
        """MaxBoxAccV2's options: IoU 0.3, 0.5 and 0.7, boxes of every contour."""
        return cls(tuple(np.asarray(cam_thresholds).reshape(-1)), MAX_BOX_ACC_V2_IOUS, True, box_convention)


def _best_ious_in_batches(heatmaps: object, gt_boxes: Sequence[object], options: MaxBoxAccOptions
                          ) -> Iterator[np.ndarray]:
    """(batch, T) best IoUs of consecutive batches of maps (memory: the (batch, T) result)."""
    maps = _check_unit_maps(heatmaps)
    gt = _check_gt_boxes(gt_boxes)
    check_same_length(heatmaps=maps, gt_boxes=gt)
    thresholds = np.array(options.cam_thresholds)
    order = np.argsort(thresholds, kind="stable")
    per_batch = max(1, _BATCH_MAPS)
    for start in range(0, len(maps), per_batch):
        batch_gt = gt[start : start + per_batch]
        gt_start = np.concatenate([[0], np.cumsum([len(g) for g in batch_gt])]).astype(np.int64)
        yield sweep_best_ious(np.ascontiguousarray(maps[start : start + per_batch]), maps.dtype.type(255), thresholds,
                              order, np.concatenate(batch_gt).reshape(-1, 4), gt_start, options.multi_contour,
                              BOX_CONVENTIONS.index(options.box_convention))


def best_box_ious(heatmaps: object, gt_boxes: Sequence[object], options: MaxBoxAccOptions = MaxBoxAccOptions()
                  ) -> np.ndarray:
    """(N, T) float64: per map and CAM threshold t_j, the best IoU of its box (or boxes, multi_contour)
    with its GT boxes (0 for a map without GT boxes).

    wsolevaluation semantics: maps in [0, 1] are quantized to q = floor(255 s); at threshold t a
    pixel is foreground when q > floor(t * max q); the box is that of the largest 8-connected
    component (or every component's box, multi_contour) under `options.box_convention`; no foreground
    gives the box (0, 0, 0, 0). gt_boxes are inclusive boxes in the heat-map frame. One compiled
    sweep per map covers every threshold (`_kernels.threshold_sweep.sweep_best_ious`).
    """
    batches = list(_best_ious_in_batches(heatmaps, gt_boxes, options))
    return np.concatenate(batches) if batches else np.zeros((0, len(options.cam_thresholds)))


def box_hit_counts(heatmaps: object, gt_boxes: Sequence[object], options: MaxBoxAccOptions = MaxBoxAccOptions()
                   ) -> np.ndarray:
    """(I, T) int64: images whose box at CAM threshold t_j has IoU >= delta_i with some GT box
    (`best_box_ious` >= delta_i), counted batch by batch."""
    ious = np.array(options.iou_thresholds)
    hits = np.zeros((len(ious), len(options.cam_thresholds)), dtype=np.int64)
    for best in _best_ious_in_batches(heatmaps, gt_boxes, options):
        hits += (best[None] >= ious[:, None, None]).sum(axis=1)
    return hits


def max_box_acc(heatmaps: object, gt_boxes: Sequence[object], options: MaxBoxAccOptions = MaxBoxAccOptions()
                ) -> tuple[np.ndarray, np.ndarray]:
    """MaxBoxAcc (Choe et al. 2020): per IoU threshold delta, max over one dataset-wide CAM threshold t
    of the GT-known box accuracy. Returns ((I,) maxima, (I, T) accuracy curves), fractions in [0, 1].

    MaxBoxAccV2 = mean of the maxima with `MaxBoxAccOptions.v2()`. Raises ValueError for no images.
    """
    counts = box_hit_counts(heatmaps, gt_boxes, options)
    if len(gt_boxes) == 0:
        raise ValueError("no images: heatmaps and gt_boxes are empty")
    curves = counts / len(gt_boxes)
    return curves.max(axis=1), curves


def max_box_acc_v2(heatmaps: object, gt_boxes: Sequence[object], cam_thresholds: object = DEFAULT_CAM_THRESHOLDS,
                   box_convention: str = "components") -> float:
    """MaxBoxAccV2: mean over IoU {0.3, 0.5, 0.7} of MaxBoxAcc with boxes from every contour."""
    maxima, _ = max_box_acc(heatmaps, gt_boxes, MaxBoxAccOptions.v2(cam_thresholds, box_convention))
    return float(maxima.mean())


class MaxBoxAcc(Accumulator):
    """MaxBoxAcc over batches in constant memory: the state is the summed (I, T) hit counts and the
    image count (merging adds them), never the maps."""

    def __init__(self, options: MaxBoxAccOptions = MaxBoxAccOptions()) -> None:
        super().__init__()
        self.options = options

    def update(self, heatmaps: object, gt_boxes: Sequence[object]) -> None:
        self._add(counts=box_hit_counts(heatmaps, gt_boxes, self.options), images=len(gt_boxes))

    def compute(self) -> tuple[np.ndarray, np.ndarray]:
        """((I,) MaxBoxAcc per IoU threshold, (I, T) accuracy curves)."""
        images = self._total("images")
        self._require_data(images)
        curves = self._total("counts") / images
        return curves.max(axis=1), curves
