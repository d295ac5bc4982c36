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

from gwapbench.metrics._validation import as_array, check_positive_int, check_same_length
from gwapbench.metrics.accumulator import Accumulator
from gwapbench.metrics.ap import average_precision, check_metric, descending_order


def check_classification_inputs(scores: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate (N, C) finite scores and (N, C) labels in {1, -1, 0}; return them as arrays."""
    scores = as_array(scores, "scores", ndim=2)
    labels = as_array(labels, "labels", ndim=2)
    check_same_length(scores=scores, labels=labels)
    if labels.shape != scores.shape:
        raise ValueError(f"labels shape {labels.shape} differs from scores shape {scores.shape}")
    if not np.isin(labels, (1, -1, 0)).all():
        bad = labels[~np.isin(labels, (1, -1, 0))][0]
        raise ValueError(f"labels must be 1, -1 or 0 (difficult-only), got {bad!r}")
    return scores, labels.astype(np.int8)


def voc_classification_ap(scores: object, labels: object, metric: str = "voc07") -> np.ndarray:
    """(C,) per-class AP over N images; NaN for a class without positive images.

    scores: (N, C) float; labels: (N, C) 1 / -1 / 0 (0 = difficult-only, excluded);
    metric: "voc07" (11-point, VOC2007 devkit), "area" (VOC2010+ devkit) or "noninterp"
    (sklearn `average_precision_score` on the non-excluded images).
    """
    check_metric(metric)
    scores, labels = check_classification_inputs(scores, labels)
    ap = np.empty(scores.shape[1])
    for cls in range(scores.shape[1]):
        counted = labels[:, cls] != 0
        class_scores = scores[counted, cls]
        order = descending_order(class_scores)
        tp = labels[counted, cls][order] == 1
        ap[cls] = average_precision(tp, int(tp.sum()), metric, class_scores[order])
    return ap


def check_topk_inputs(scores: object, labels: object, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate (N, C) finite scores, (N,) integer labels in 0..C-1 and 1 <= k <= C."""
    scores = as_array(scores, "scores", ndim=2)
    labels = as_array(labels, "labels", ndim=1, dtype=None)
    check_same_length(scores=scores, labels=labels)
    num_classes = scores.shape[1]
    if labels.size and labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got range {labels.min()}..{labels.max()}")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= num_classes:
        raise ValueError(f"k must be an integer in 1..{num_classes} (the number of classes), got {k!r}")
    return scores, labels.astype(np.int64)


def topk_hits(scores: object, labels: object, k: int) -> np.ndarray:
    """(N,) bool: the true class is among the top k, ties broken by class index (see module doc)."""
    scores, labels = check_topk_inputs(scores, labels, k)
    rows = np.arange(len(labels))
    true_score = scores[rows, labels][:, None]
    ahead = (scores > true_score) | ((scores == true_score) & (np.arange(scores.shape[1]) < labels[:, None]))
    return ahead.sum(axis=1) < k


def error_rate(hits: np.ndarray) -> float:
    """1 - mean(hits); NaN for no images."""
    return float(1.0 - hits.mean()) if hits.size else float("nan")


def topk_error(scores: object, labels: object, k: int) -> float:
    """Fraction of images whose class is not among the k highest scores; NaN for no images."""
    return error_rate(topk_hits(scores, labels, k))


class VOCClassificationAP(Accumulator):
    """Collects (scores, labels) batches; `compute()` -> (C,) per-class AP, as `voc_classification_ap`."""

    def __init__(self, metric: str = "voc07") -> None:
        super().__init__()
        self.metric = check_metric(metric)

    def update(self, scores: object, labels: object) -> None:
        scores, labels = check_classification_inputs(scores, labels)
        self._append(scores=scores, labels=labels)

    def compute(self) -> np.ndarray:
        if not self._items("scores"):
            raise ValueError("VOCClassificationAP.compute() called before any update: no images")
        widths = {batch.shape[1] for batch in self._items("scores")}
        if len(widths) > 1:
            raise ValueError(f"batches have different numbers of classes: {sorted(widths)}")
        scores = np.concatenate(self._items("scores"))
        labels = np.concatenate(self._items("labels"))
        return voc_classification_ap(scores, labels, self.metric)


class TopKError(Accumulator):
    """Stores one hit flag per image; `compute()` -> top-k error over all images (NaN if none)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = check_positive_int(k, "k")

    def update(self, scores: object, labels: object) -> None:
        self._append(hits=topk_hits(scores, labels, self.k))

    def compute(self) -> float:
        batches = self._items("hits")
        return error_rate(np.concatenate(batches) if batches else np.zeros(0, dtype=bool))
