"""Image classification metrics: VOC per-class AP (Table I) and ILSVRC top-k error (Table III).

VOC AP follows the devkit's `VOCevalcls`: per class, images ranked by descending score (stable
sort), labels 1 (positive), -1 (negative), 0 (difficult-only: excluded, neither TP nor FP); the
ranked-list kernels are in `gwapbench.metrics.ap`.

Top-k error follows the ILSVRC devkit (`eval_flat`): an image is an error when its class is not
among the k highest-scored classes. Ties are broken deterministically by class index: the true
class c ranks ahead of every class scored strictly below it and of every class with an equal
score and a larger index, i.e. rank(c) = #{j : s_j > s_c} + #{j < c : s_j = s_c}, and the image
is correct when rank(c) < k (the order of a stable descending sort of the scores).
"""

from __future__ import annotations

import numpy as np

from gwapbench.metrics._validation import (
    as_array,
    check_class_labels,
    check_not_empty,
    check_not_zero_one,
    check_positive_int,
    check_same_length,
    check_voc_labels,
)
from gwapbench.metrics.accumulator import Accumulator
from gwapbench.metrics.ap import average_precision, check_ap_rule, check_metric, descending_order


def check_classification_inputs(scores: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate (N, C) finite scores and (N, C) labels in {1, -1, 0}; return them as arrays."""
    scores = as_array(scores, "scores", ndim=2)
    check_same_length(scores=scores, labels=labels)
    return scores, check_voc_labels(labels, "labels", scores.shape)


def voc_classification_ap(
    scores: object,
    labels: object,
    metric: str = "voc07",
    ap_rule: str = "exact",
    allow_no_negatives: bool = False,
) -> np.ndarray:
    """(C,) per-class AP over N >= 1 images; NaN for a class without positive images.

    scores: (N, C) float; labels: (N, C) 1 / -1 / 0 (0 = difficult-only, excluded);
    metric: "voc07" (11-point, VOC2007 devkit), "area" (VOC2010+ devkit) or "noninterp"
    (sklearn `average_precision_score` on the non-excluded images); ap_rule: the 11-point
    thresholds, "exact" (integer comparison), "matlab_devkit" or "py_faster_rcnn" (see
    `gwapbench.metrics.ap`). Labels with 0s but no -1 look like 0/1 labels and raise ValueError
    unless `allow_no_negatives=True`.
    """
    check_metric(metric)
    check_ap_rule(ap_rule)
    scores, labels = check_classification_inputs(scores, labels)
    check_not_empty(len(scores), "scores")
    check_not_zero_one(labels, "labels", allow_no_negatives)
    ap = np.empty(scores.shape[1])
    for cls in range(scores.shape[1]):
        counted = labels[:, cls] != 0
        class_scores = scores[counted, cls]
        order = descending_order(class_scores)
        tp = labels[counted, cls][order] == 1
        ap[cls] = average_precision(tp, int(tp.sum()), metric, class_scores[order], ap_rule)
    return ap


def check_topk_inputs(scores: object, labels: object, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate (N, C) finite scores, (N,) integer labels in 0..C-1 and 1 <= k <= C."""
    scores = as_array(scores, "scores", ndim=2)
    labels = as_array(labels, "labels", ndim=1, dtype=None)
    check_same_length(scores=scores, labels=labels)
    check_positive_int(k, "k", maximum=scores.shape[1])
    return scores, check_class_labels(labels, "labels", scores.shape[1])


def topk_hits(scores: object, labels: object, k: int) -> np.ndarray:
    """(N,) bool: the true class is among the top k, ties broken by class index (see module doc)."""
    scores, labels = check_topk_inputs(scores, labels, k)
    rows = np.arange(len(labels))
    true_score = scores[rows, labels][:, None]
    ahead = (scores > true_score) | ((scores == true_score) & (np.arange(scores.shape[1]) < labels[:, None]))
    return ahead.sum(axis=1) < k


def topk_error(scores: object, labels: object, k: int) -> float:
    """Fraction of the N >= 1 images whose class is not among the k highest scores."""
    hits = topk_hits(scores, labels, k)
    return 1.0 - int(hits.sum()) / check_not_empty(len(hits), "scores")


class VOCClassificationAP(Accumulator):
    """Collects (scores, labels) batches; `compute()` -> (C,) per-class AP, as `voc_classification_ap`.

    A ranking needs every score, so the batches are kept (one float and one int8 per image and class).
    """

    def __init__(self, metric: str = "voc07", ap_rule: str = "exact", allow_no_negatives: bool = False) -> None:
        super().__init__()
        self.metric = check_metric(metric)
        self.ap_rule = check_ap_rule(ap_rule)
        self.allow_no_negatives = allow_no_negatives

    def update(self, scores: object, labels: object) -> None:
        scores, labels = check_classification_inputs(scores, labels)
        self._append(scores=scores, labels=labels)

    def compute(self) -> np.ndarray:
        self._require_data(sum(len(batch) for batch in self._items("scores")))
        widths = {batch.shape[1] for batch in self._items("scores")}
        if len(widths) > 1:
            raise ValueError(f"batches have different numbers of classes: {sorted(widths)}")
        scores = np.concatenate(self._items("scores"))
        labels = np.concatenate(self._items("labels"))
        return voc_classification_ap(scores, labels, self.metric, self.ap_rule, self.allow_no_negatives)


class TopKError(Accumulator):
    """Keeps two counts (images, hits), constant memory; `compute()` -> top-k error over all images."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = check_positive_int(k, "k")

    def update(self, scores: object, labels: object) -> None:
        hits = topk_hits(scores, labels, self.k)
        self._add(images=len(hits), hits=int(hits.sum()))

    def compute(self) -> float:
        self._require_data(self._total("images"))
        return 1.0 - self._total("hits") / self._total("images")
