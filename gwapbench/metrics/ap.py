"""Ranked list -> average precision: the kernels shared by classification and detection AP.

Input is one class's ranking after excluded items (difficult-only images, detections of
difficult objects) are removed: `tp[i]` is True if the item at rank i is a true positive, False
if it is a false positive; `npos` is the number of positives, found or not.

Definitions (precision P_i = TP_i / i and recall R_i = TP_i / npos at rank i = 1..K):

- "voc07": VOC2007 devkit `VOCevalcls`/`VOCevaldet` 11-point interpolated AP,
  AP = 1/11 sum_{t in 0, 0.1, ..., 1} max{P_i : R_i >= t} (0 if no rank reaches t). With the
  default AP rule (`ap_rule`, one of `AP_RULES`) "exact" the test R_i >= t is done in integers, 10 TP_i >= k npos for
  t = k/10, so float rounding of a threshold cannot drop a point the exact recall reaches. The
  other rules reproduce a tool's float arithmetic bit for bit: float recall TP_i / npos,
  the tool's float thresholds, and ap += p / 11 in order:
  "matlab_devkit": MATLAB's `0:0.1:1`, built from both ends (first half k * 0.1, second half
  1 - (10 - k) * 0.1), so only t = 0.3 is off, at 3 * 0.1 = 0.30000000000000004;
  "py_faster_rcnn": `np.arange(0., 1.1, 0.1)` = k * 0.1, so 0.3, 0.6 and 0.7 are off.
- "area": VOC2010+ devkit, area under the monotone envelope Pbar_i = max_{j >= i} P_j:
  AP = sum over ranks where recall changes of (R_i - R_prev) Pbar_i.
- "noninterp": sklearn `average_precision_score`, AP = sum_n (R_n - R_{n-1}) P_n over the
  distinct scores (tied scores form one threshold, counted at the end of the tie group).

AP is NaN when npos = 0 (undefined); a class with positives but no ranked items gets 0.
"""

from __future__ import annotations

import numpy as np

AP_METRICS = ("voc07", "area", "noninterp")
AP_RULES = ("exact", "matlab_devkit", "py_faster_rcnn")

_K = np.arange(11)
# The 11 recall thresholds as each tool builds them (float64), by AP rule.
ELEVEN_POINT_THRESHOLDS = {
    "matlab_devkit": np.where(_K <= 5, _K * 0.1, 1.0 - (10 - _K) * 0.1),  # MATLAB 0:0.1:1, from both ends
    "py_faster_rcnn": np.arange(0.0, 1.1, 0.1),
}


def check_metric(metric: str) -> str:
    """Return `metric` if it names an AP definition, else raise ValueError."""
    if metric not in AP_METRICS:
        raise ValueError(f"metric must be one of {AP_METRICS}, got {metric!r}")
    return metric


def check_ap_rule(ap_rule: str) -> str:
    """Return `ap_rule` if it is one of `AP_RULES` (how the 11-point AP compares recall), else raise ValueError."""
    if ap_rule not in AP_RULES:
        raise ValueError(f"ap_rule must be one of {AP_RULES}, got {ap_rule!r}")
    return ap_rule


def descending_order(scores: np.ndarray) -> np.ndarray:
    """Indices that sort `scores` descending, ties in input order: `np.argsort(-scores, kind="stable")`.

    Computed faster as a quicksort after which only the items in runs of tied scores are
    re-sorted, by the unique key (run, input index).
    """
    order = np.argsort(-scores)
    ranked = scores[order]
    tied_next = ranked[1:] == ranked[:-1]
    if not tied_next.any():
        return order
    in_tie = np.zeros(len(order), dtype=bool)
    in_tie[:-1] = tied_next
    in_tie[1:] |= tied_next
    run = np.cumsum(np.append(True, ~tied_next))[in_tie]
    tied = order[in_tie]
    order[in_tie] = tied[np.argsort(run * len(order) + tied)]
    return order


def precision_envelope(precision: np.ndarray) -> np.ndarray:
    """Pbar_i = max_{j >= i} P_j (the monotone envelope of the VOC devkits)."""
    return np.maximum.accumulate(precision[::-1])[::-1]


def voc07_ap(tp_cum: np.ndarray, envelope: np.ndarray, npos: int, ap_rule: str = "exact") -> float:
    """11-point AP: mean over the 11 thresholds t of Pbar at the first rank with R_i >= t (0 if none).

    "exact": R_i >= k/10 as 10 TP_i >= k npos in integers, AP = sum / 11. Other rules: float
    R_i = TP_i / npos against the tool's float thresholds, AP accumulated as ap += p / 11 in order.
    """
    if ap_rule == "exact":
        first_rank = np.searchsorted(10 * tp_cum, _K * npos, side="left")
        reached = first_rank < len(tp_cum)
        return float(envelope[first_rank[reached]].sum() / 11)
    first_rank = np.searchsorted(tp_cum / npos, ELEVEN_POINT_THRESHOLDS[ap_rule], side="left")
    points = np.zeros(11)
    reached = first_rank < len(tp_cum)
    points[reached] = envelope[first_rank[reached]]
    return float(np.cumsum(points / 11)[-1])  # cumsum adds in order, as the devkit's loop


def area_ap(tp: np.ndarray, tp_cum: np.ndarray, envelope: np.ndarray, npos: int) -> float:
    """Area under the envelope: sum over TP ranks of (R_i - R_prev) Pbar_i (recall changes only at TPs)."""
    recall_at_tp = tp_cum[tp] / npos
    return float(np.sum(np.diff(recall_at_tp, prepend=0.0) * envelope[tp]))


def noninterp_ap(tp_cum: np.ndarray, precision: np.ndarray, sorted_scores: np.ndarray, npos: int) -> float:
    """sum_n (R_n - R_{n-1}) P_n over tie-group ends (sklearn's `average_precision_score`)."""
    group_end = np.append(sorted_scores[1:] != sorted_scores[:-1], True)
    recall = tp_cum[group_end] / npos
    return float(np.sum(np.diff(recall, prepend=0.0) * precision[group_end]))


def average_precision(
    tp: np.ndarray, npos: int, metric: str, sorted_scores: np.ndarray | None = None, ap_rule: str = "exact"
) -> float:
    """AP of one ranking. tp: (K,) bool in rank order; sorted_scores: (K,) descending, needed for "noninterp";
    ap_rule: the 11-point thresholds and arithmetic of "voc07" (the other metrics do not depend on it)."""
    check_metric(metric)
    check_ap_rule(ap_rule)
    tp = np.asarray(tp, dtype=bool)
    if npos < 0 or tp.sum() > npos:
        raise ValueError(f"npos={npos} must be >= the number of true positives ({int(tp.sum())})")
    if npos == 0:
        return float("nan")
    if tp.size == 0:
        return 0.0
    tp_cum = np.cumsum(tp, dtype=np.int64)
    precision = tp_cum / np.arange(1, tp.size + 1)
    if metric == "noninterp":
        if sorted_scores is None or len(sorted_scores) != tp.size:
            raise ValueError("metric 'noninterp' needs sorted_scores of the same length as tp")
        return noninterp_ap(tp_cum, precision, np.asarray(sorted_scores), npos)
    envelope = precision_envelope(precision)
    if metric == "voc07":
        return voc07_ap(tp_cum, envelope, npos, ap_rule)
    return area_ap(tp, tp_cum, envelope, npos)


def mean_ap(ap: np.ndarray) -> float:
    """Mean of the per-class APs, leaving NaN (classes without positives) out; NaN if all are NaN."""
    ap = np.asarray(ap, dtype=np.float64)
    if ap.ndim != 1 or ap.size == 0:
        raise ValueError(f"ap must be 1-D with one AP per class, got shape {ap.shape}")
    defined = ap[~np.isnan(ap)]
    return float(defined.mean()) if defined.size else float("nan")
