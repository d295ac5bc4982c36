"""VOC detection AP (Table V) with the VOC devkit's `VOCevaldet` semantics, fully vectorized.

Per class, detections are ranked by descending score (stable sort: ties keep input order, i.e.
image order, then order within the image). Each detection is compared with the GT box of that
class in its image with the highest IoU (the first such box on IoU ties), difficult boxes
included. IoU uses the +1 pixel convention of inclusive corners:
iw = min(x2) - max(x1) + 1, ih = min(y2) - max(y1) + 1, IoU = iw ih / (area_d + area_g - iw ih)
with area = (x2 - x1 + 1)(y2 - y1 + 1), and 0 unless iw > 0 and ih > 0. If IoU >= threshold
(> with ap_rule "py_faster_rcnn", as its `voc_eval`): a difficult GT -> ignored (neither TP
nor FP); a GT not yet claimed by a higher-ranked detection -> TP; a claimed one -> FP
(duplicate). Otherwise FP. npos counts the non-difficult GT boxes of the class.

The matched GT of a detection does not depend on other detections, so matching is one pass
over all (detection, GT of its image and class) pairs, and "first claim wins" is the first
occurrence of each GT in ranked order: no Python loop per image or per detection.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from gwapbench.metrics._validation import (
    as_array,
    as_bool,
    check_boxes,
    check_class_labels,
    check_not_empty,
    check_positive_int,
    check_same_length,
    check_unit_interval,
)
from gwapbench.metrics.accumulator import Accumulator
from gwapbench.metrics.ap import average_precision, check_ap_rule, check_metric, descending_order
from gwapbench.metrics.boxes import rowwise_iou_plus_one


class FlatDetections(NamedTuple):
    """All images' detections concatenated; `image[i]` is the image index of detection i."""

    image: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray


class FlatGroundTruth(NamedTuple):
    """All images' GT boxes concatenated; `image[i]` is the image index of box i."""

    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    difficult: np.ndarray


def stack_per_image(per_image: Sequence[Sequence[object]], argument: str, fields: tuple[str, ...]) -> list[np.ndarray]:
    """Concatenate one tuple (boxes (M, 4), then (M,) arrays) per image; return [image index, field arrays...]."""
    for i, item in enumerate(per_image):
        if len(item) != len(fields):
            raise ValueError(f"{argument}[{i}] must be a tuple ({', '.join(fields)}), got {len(item)} items")
    columns = [[np.asarray(value) for value in column] for column in zip(*per_image)] or [[] for _ in fields]
    columns[0] = [boxes.reshape(0, 4) if boxes.size == 0 else boxes for boxes in columns[0]]
    for i, boxes in enumerate(columns[0]):
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"{argument}[{i}] {fields[0]} must have shape (M, 4), got {boxes.shape}")
    box_counts = [[len(boxes) for boxes in columns[0]]]
    lengths = np.array(box_counts + [[part.size for part in column] for column in columns[1:]], dtype=np.int64)
    mismatched = np.flatnonzero((lengths != lengths[0]).any(axis=0))
    if mismatched.size:
        i = mismatched[0]
        raise ValueError(f"{argument}[{i}]: {', '.join(f'{n}={m}' for n, m in zip(fields, lengths[:, i]))} differ")
    image = np.repeat(np.arange(len(per_image), dtype=np.int64), lengths[0])
    # images without boxes add nothing (and their empty arrays, often float, must not change the dtype)
    flat = [np.concatenate([part.reshape(-1) for part in column if part.size] or [np.zeros(0)]) for column in columns]
    return [image, flat[0].reshape(-1, 4)] + flat[1:]


def flatten_detections(detections: Sequence[Sequence[object]], num_classes: int) -> FlatDetections:
    """Validate and concatenate one (boxes (M, 4), scores (M,), labels (M,)) tuple per image."""
    image, boxes, scores, labels = stack_per_image(detections, "detections", ("boxes", "scores", "labels"))
    return FlatDetections(
        image,
        check_boxes(boxes, "detection boxes"),
        as_array(scores, "detection scores", ndim=1),
        check_class_labels(labels, "detection labels", num_classes),
    )


def flatten_ground_truth(ground_truth: Sequence[Sequence[object]], num_classes: int) -> FlatGroundTruth:
    """Validate and concatenate one (boxes (G, 4), labels (G,), difficult (G,) bool) tuple per image."""
    image, boxes, labels, difficult = stack_per_image(ground_truth, "ground_truth", ("boxes", "labels", "difficult"))
    return FlatGroundTruth(
        image,
        check_boxes(boxes, "ground_truth boxes"),
        check_class_labels(labels, "ground_truth labels", num_classes),
        as_bool(difficult, "ground_truth difficult flags"),
    )


def ranked_order(scores: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Detections grouped by class (ascending), each class by descending score, ties in input order."""
    by_score = descending_order(scores)
    small_labels = labels.astype(np.int16 if num_classes <= np.iinfo(np.int16).max else np.int64)
    return by_score[np.argsort(small_labels[by_score], kind="stable")]  # radix sort for int16


def segment_bounds(sorted_keys: np.ndarray, query_keys: np.ndarray, key_space: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each query key's run in `sorted_keys` (keys in 0..key_space-1).

    A lookup table over the whole key space when it is small (one gather per query), else two
    binary searches per query.
    """
    if key_space <= 4 * (len(sorted_keys) + len(query_keys)) + 1024:
        run_start = np.searchsorted(sorted_keys, np.arange(key_space + 1))
        start = run_start[query_keys]
        return start, run_start[query_keys + 1] - start
    start = np.searchsorted(sorted_keys, query_keys, side="left")
    return start, np.searchsorted(sorted_keys, query_keys, side="right") - start


def best_gt_match(dets: FlatDetections, gt: FlatGroundTruth, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """For each detection: the index of the highest-IoU GT of its image and class (-1 if none) and that IoU.

    IoU ties go to the GT listed first in the image (the devkit keeps the first maximum).
    """
    gt_key = gt.image * num_classes + gt.labels
    gt_order = np.argsort(gt_key, kind="stable")
    num_images = int(max(dets.image.max(initial=-1), gt.image.max(initial=-1))) + 1
    start, counts = segment_bounds(gt_key[gt_order], dets.image * num_classes + dets.labels, num_images * num_classes)
    with_gt = np.flatnonzero(counts)
    counts, start = counts[with_gt], start[with_gt]
    pair_owner = np.repeat(np.arange(len(with_gt)), counts)  # index into with_gt of each pair
    pair_start = np.cumsum(counts) - counts
    pair_gt = gt_order[np.arange(len(pair_owner)) + np.repeat(start - pair_start, counts)]
    iou = rowwise_iou_plus_one(dets.boxes[with_gt][pair_owner], gt.boxes[pair_gt])

    best_iou = np.zeros(len(dets.image))
    best_gt = np.full(len(dets.image), -1, dtype=np.int64)
    if iou.size:
        segment_max = np.maximum.reduceat(iou, pair_start)
        at_max = np.flatnonzero(iou == segment_max[pair_owner])
        first_at_max = at_max[np.append(True, pair_owner[at_max[1:]] != pair_owner[at_max[:-1]])]
        best_iou[with_gt] = segment_max
        best_gt[with_gt] = pair_gt[first_at_max]
    return best_gt, best_iou


def detection_outcomes(
    dets: FlatDetections, gt: FlatGroundTruth, num_classes: int, iou_threshold: float, strict_iou: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranked order of the detections and, in that order, their TP and ignored flags (the rest are FP).

    A detection matches its best GT when IoU >= iou_threshold (IoU > iou_threshold if `strict_iou`).
    """
    best_gt, best_iou = best_gt_match(dets, gt, num_classes)
    matched = (best_iou > iou_threshold) if strict_iou else (best_iou >= iou_threshold)
    matched &= best_gt >= 0
    ignored = np.zeros_like(matched)
    ignored[matched] = gt.difficult[best_gt[matched]]
    order = ranked_order(dets.scores, dets.labels, num_classes)
    claims = np.flatnonzero((matched & ~ignored)[order])  # ranks of detections claiming a GT
    _, first_claim = np.unique(best_gt[order[claims]], return_index=True)
    tp = np.zeros(len(order), dtype=bool)
    tp[claims[first_claim]] = True
    return order, tp, ignored[order]


def detection_ap_flat(
    dets: FlatDetections,
    gt: FlatGroundTruth,
    num_classes: int,
    iou_threshold: float = 0.5,
    metric: str = "voc07",
    ap_rule: str = "exact",
) -> np.ndarray:
    """(C,) per-class AP from flattened, validated detections and GT, options checked (see `voc_detection_ap`)."""
    strict_iou = ap_rule == "py_faster_rcnn"
    order, tp, ignored = detection_outcomes(dets, gt, num_classes, iou_threshold, strict_iou)
    ranked_labels = dets.labels[order]
    ranked_scores = dets.scores[order] if metric == "noninterp" else None
    bounds = np.searchsorted(ranked_labels, np.arange(num_classes + 1))
    npos = np.bincount(gt.labels[~gt.difficult], minlength=num_classes)
    ap = np.empty(num_classes)
    for cls in range(num_classes):
        ranks = slice(bounds[cls], bounds[cls + 1])
        counted = ~ignored[ranks]
        class_scores = None if ranked_scores is None else ranked_scores[ranks][counted]
        ap[cls] = average_precision(tp[ranks][counted], int(npos[cls]), metric, class_scores, ap_rule)
    return ap


def voc_detection_ap(
    detections: Sequence[Sequence[object]],
    ground_truth: Sequence[Sequence[object]],
    num_classes: int,
    iou_threshold: float = 0.5,
    metric: str = "voc07",
    ap_rule: str = "exact",
) -> np.ndarray:
    """(C,) per-class VOC detection AP; NaN for a class without non-difficult GT, 0 for one without detections.

    detections: per image (boxes (M, 4), scores (M,), labels (M,)); ground_truth: per image
    (boxes (G, 4), labels (G,), difficult (G,) bool); boxes x1, y1, x2, y2 inclusive pixel corners;
    at least one image. metric: "voc07" (11-point), "area" (VOC2010+) or "noninterp".
    ap_rule: "exact" (VOC devkit matching, IoU >= threshold, integer 11-point thresholds),
    "matlab_devkit" (the same with MATLAB's float thresholds) or "py_faster_rcnn" (IoU > threshold
    and np.arange's float thresholds); see `gwapbench.metrics.ap`.
    """
    check_positive_int(num_classes, "num_classes")
    check_unit_interval(iou_threshold, "iou_threshold")
    check_metric(metric)
    check_ap_rule(ap_rule)
    check_not_empty(check_same_length(detections=detections, ground_truth=ground_truth), "detections")
    dets = flatten_detections(detections, num_classes)
    gt = flatten_ground_truth(ground_truth, num_classes)
    return detection_ap_flat(dets, gt, num_classes, iou_threshold, metric, ap_rule)


class VOCDetectionAP(Accumulator):
    """Collects per-image detections and GT batch by batch; `compute()` -> (C,) AP as `voc_detection_ap`."""

    def __init__(
        self, num_classes: int, iou_threshold: float = 0.5, metric: str = "voc07", ap_rule: str = "exact"
    ) -> None:
        super().__init__()
        self.num_classes = check_positive_int(num_classes, "num_classes")
        self.iou_threshold = check_unit_interval(iou_threshold, "iou_threshold")
        self.metric = check_metric(metric)
        self.ap_rule = check_ap_rule(ap_rule)

    def update(self, detections: Sequence[Sequence[object]], ground_truth: Sequence[Sequence[object]]) -> None:
        """Add one batch of images: one detection tuple and one GT tuple per image."""
        num_images = check_same_length(detections=detections, ground_truth=ground_truth)
        self._append(
            num_images=num_images,
            detections=flatten_detections(detections, self.num_classes),
            ground_truth=flatten_ground_truth(ground_truth, self.num_classes),
        )

    def compute(self) -> np.ndarray:
        self._require_data(sum(self._items("num_images")))
        offsets = np.cumsum([0] + self._items("num_images"))[:-1]
        dets = [d._replace(image=d.image + offset) for d, offset in zip(self._items("detections"), offsets)]
        gts = [g._replace(image=g.image + offset) for g, offset in zip(self._items("ground_truth"), offsets)]
        dets_all = FlatDetections(*(np.concatenate(column) for column in zip(*dets)))
        gt_all = FlatGroundTruth(*(np.concatenate(column) for column in zip(*gts)))
        return detection_ap_flat(dets_all, gt_all, self.num_classes, self.iou_threshold, self.metric, self.ap_rule)
