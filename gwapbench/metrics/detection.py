"""VOC detection AP (Table V) with the VOC devkit's `VOCevaldet` semantics, fully vectorized.

Per class, detections are ranked by descending score (stable sort: ties keep input order, i.e.
image order, then order within the image). Each detection is compared with the GT box of that
class in its image with the highest IoU (the first such box on IoU ties), difficult boxes
included. IoU uses the +1 pixel convention of inclusive corners:
iw = min(x2) - max(x1) + 1, ih = min(y2) - max(y1) + 1, IoU = iw ih / (area_d + area_g - iw ih)
with area = (x2 - x1 + 1)(y2 - y1 + 1), and 0 unless iw > 0 and ih > 0. If IoU >= threshold
(> with `strict_gt`, as py-faster-rcnn's `voc_eval`): a difficult GT -> ignored (neither TP
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

from gwapbench.metrics._validation import as_array, check_boxes, check_same_length
from gwapbench.metrics.accumulator import Accumulator
from gwapbench.metrics.ap import average_precision, check_metric


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
    """Concatenate one tuple of arrays per image; return [image index, field arrays...]."""
    columns: list[list[np.ndarray]] = [[] for _ in fields]
    counts = np.zeros(len(per_image), dtype=np.int64)
    for i, item in enumerate(per_image):
        if len(item) != len(fields):
            raise ValueError(f"{argument}[{i}] must be a tuple ({', '.join(fields)}), got {len(item)} items")
        parts = [np.asarray(value) for value in item]
        if parts[0].size == 0:
            parts[0] = parts[0].reshape(0, 4)
        if parts[0].ndim != 2 or parts[0].shape[1] != 4:
            raise ValueError(f"{argument}[{i}] {fields[0]} must have shape (M, 4), got {parts[0].shape}")
        lengths = [len(parts[0])] + [part.size for part in parts[1:]]
        if len(set(lengths)) > 1:
            raise ValueError(f"{argument}[{i}]: {', '.join(f'{n}={m}' for n, m in zip(fields, lengths))} differ")
        counts[i] = lengths[0]
        columns[0].append(parts[0])
        for column, part in zip(columns[1:], parts[1:]):
            column.append(part.reshape(-1))
    image = np.repeat(np.arange(len(per_image), dtype=np.int64), counts)
    return [image] + [np.concatenate(column) if column else np.zeros(0) for column in columns]


def check_class_labels(labels: np.ndarray, name: str, num_classes: int) -> np.ndarray:
    """Integer labels in 0..num_classes-1, returned as int64."""
    if labels.size and labels.dtype.kind not in "iu":
        if labels.dtype.kind != "f" or not np.all(labels == np.round(labels)):
            raise ValueError(f"{name} must be integer class indices, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{name} must lie in 0..{num_classes - 1}, got range {labels.min()}..{labels.max()}")
    return labels.astype(np.int64)


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
    if difficult.size and difficult.dtype != bool and not np.isin(difficult, (0, 1)).all():
        raise ValueError(f"ground_truth difficult flags must be bool or 0/1, got dtype {difficult.dtype}")
    return FlatGroundTruth(
        image,
        check_boxes(boxes, "ground_truth boxes"),
        check_class_labels(labels, "ground_truth labels", num_classes),
        difficult.astype(bool),
    )


def pairwise_iou_plus_one(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of (P, 4) boxes a[i] and b[i] with the +1 convention; 0 where they do not overlap."""
    iw = np.maximum(np.minimum(boxes_a[:, 2], boxes_b[:, 2]) - np.maximum(boxes_a[:, 0], boxes_b[:, 0]) + 1, 0)
    ih = np.maximum(np.minimum(boxes_a[:, 3], boxes_b[:, 3]) - np.maximum(boxes_a[:, 1], boxes_b[:, 1]) + 1, 0)
    intersection = iw * ih
    union = (
        (boxes_a[:, 2] - boxes_a[:, 0] + 1) * (boxes_a[:, 3] - boxes_a[:, 1] + 1)
        + (boxes_b[:, 2] - boxes_b[:, 0] + 1) * (boxes_b[:, 3] - boxes_b[:, 1] + 1)
        - intersection
    )
    return intersection / union


def ranked_order(scores: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Detections grouped by class (ascending), each class by descending score, ties in input order."""
    by_score = np.argsort(-scores, kind="stable")
    small_labels = labels.astype(np.int16 if num_classes <= np.iinfo(np.int16).max else np.int64)
    return by_score[np.argsort(small_labels[by_score], kind="stable")]


def best_gt_match(dets: FlatDetections, gt: FlatGroundTruth, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """For each detection: the index of the highest-IoU GT of its image and class (-1 if none) and that IoU."""
    gt_key = gt.image * num_classes + gt.labels
    gt_order = np.argsort(gt_key, kind="stable")
    sorted_keys = gt_key[gt_order]
    det_key = dets.image * num_classes + dets.labels
    start = np.searchsorted(sorted_keys, det_key, side="left")
    counts = np.searchsorted(sorted_keys, det_key, side="right") - start
    pair_det = np.repeat(np.arange(len(det_key)), counts)
    pair_start = np.cumsum(counts) - counts
    pair_gt = gt_order[np.arange(len(pair_det)) - pair_start[pair_det] + start[pair_det]]
    iou = pairwise_iou_plus_one(dets.boxes[pair_det], gt.boxes[pair_gt])

    best_iou = np.zeros(len(det_key))
    best_gt = np.full(len(det_key), -1, dtype=np.int64)
    has_gt = counts > 0
    if iou.size:
        best_iou[has_gt] = np.maximum.reduceat(iou, pair_start[has_gt])
        at_max = np.flatnonzero(iou == best_iou[pair_det])
        first_at_max = at_max[np.append(True, pair_det[at_max[1:]] != pair_det[at_max[:-1]])]
        best_gt[pair_det[first_at_max]] = pair_gt[first_at_max]
    return best_gt, best_iou


def detection_outcomes(
    dets: FlatDetections, gt: FlatGroundTruth, num_classes: int, iou_threshold: float, strict_gt: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranked order of the detections and, in that order, their TP and ignored flags (rest are FP)."""
    order = ranked_order(dets.scores, dets.labels, num_classes)
    ranked = FlatDetections(*(column[order] for column in dets))
    best_gt, best_iou = best_gt_match(ranked, gt, num_classes)
    matched = (best_iou > iou_threshold) if strict_gt else (best_iou >= iou_threshold)
    matched &= best_gt >= 0
    ignored = np.zeros_like(matched)
    ignored[matched] = gt.difficult[best_gt[matched]]
    claims = np.flatnonzero(matched & ~ignored)
    _, first_claim = np.unique(best_gt[claims], return_index=True)
    tp = np.zeros(len(order), dtype=bool)
    tp[claims[first_claim]] = True
    return order, tp, ignored


def detection_ap_flat(
    dets: FlatDetections,
    gt: FlatGroundTruth,
    num_classes: int,
    iou_threshold: float = 0.5,
    metric: str = "voc07",
    strict_gt: bool = False,
) -> np.ndarray:
    """(C,) per-class AP from flattened, validated detections and GT (see `voc_detection_ap`)."""
    check_metric(metric)
    if not 0 < iou_threshold <= 1:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    order, tp, ignored = detection_outcomes(dets, gt, num_classes, iou_threshold, strict_gt)
    ranked_labels = dets.labels[order]
    ranked_scores = dets.scores[order]
    bounds = np.searchsorted(ranked_labels, np.arange(num_classes + 1))
    npos = np.bincount(gt.labels[~gt.difficult], minlength=num_classes)
    ap = np.empty(num_classes)
    for cls in range(num_classes):
        ranks = slice(bounds[cls], bounds[cls + 1])
        counted = ~ignored[ranks]
        ap[cls] = average_precision(tp[ranks][counted], int(npos[cls]), metric, ranked_scores[ranks][counted])
    return ap


def voc_detection_ap(
    detections: Sequence[Sequence[object]],
    ground_truth: Sequence[Sequence[object]],
    num_classes: int,
    iou_threshold: float = 0.5,
    metric: str = "voc07",
    strict_gt: bool = False,
) -> np.ndarray:
    """(C,) per-class VOC detection AP; NaN for a class without non-difficult GT, 0 for one without detections.

    detections: per image (boxes (M, 4), scores (M,), labels (M,)); ground_truth: per image
    (boxes (G, 4), labels (G,), difficult (G,) bool); boxes x1, y1, x2, y2 inclusive pixel corners.
    metric: "voc07" (11-point), "area" (VOC2010+) or "noninterp"; strict_gt: IoU > threshold.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    check_same_length(detections=detections, ground_truth=ground_truth)
    dets = flatten_detections(detections, num_classes)
    gt = flatten_ground_truth(ground_truth, num_classes)
    return detection_ap_flat(dets, gt, num_classes, iou_threshold, metric, strict_gt)


class VOCDetectionAP(Accumulator):
    """Collects per-image detections and GT batch by batch; `compute()` -> (C,) AP as `voc_detection_ap`."""

    def __init__(
        self, num_classes: int, iou_threshold: float = 0.5, metric: str = "voc07", strict_gt: bool = False
    ) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
        if not 0 < iou_threshold <= 1:
            raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
        self.num_classes = int(num_classes)
        self.iou_threshold = iou_threshold
        self.metric = check_metric(metric)
        self.strict_gt = strict_gt

    def update(self, detections: Sequence[Sequence[object]], ground_truth: Sequence[Sequence[object]]) -> None:
        """Add one batch of images: one detection tuple and one GT tuple per image."""
        num_images = check_same_length(detections=detections, ground_truth=ground_truth)
        self._append(
            num_images=num_images,
            detections=flatten_detections(detections, self.num_classes),
            ground_truth=flatten_ground_truth(ground_truth, self.num_classes),
        )

    def compute(self) -> np.ndarray:
        offsets = np.cumsum([0] + self._items("num_images"))[:-1]
        dets = [d._replace(image=d.image + offset) for d, offset in zip(self._items("detections"), offsets)]
        gts = [g._replace(image=g.image + offset) for g, offset in zip(self._items("ground_truth"), offsets)]
        if not dets:
            raise ValueError("VOCDetectionAP.compute() called before any update: no images")
        dets_all = FlatDetections(*(np.concatenate(column) for column in zip(*dets)))
        gt_all = FlatGroundTruth(*(np.concatenate(column) for column in zip(*gts)))
        return detection_ap_flat(dets_all, gt_all, self.num_classes, self.iou_threshold, self.metric, self.strict_gt)
