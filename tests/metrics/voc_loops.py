"""Literal 11-point AP loops of the VOC devkit and py-faster-rcnn, shared by the metric tests.

Written from the tools' code, independently of gwapbench.metrics.ap: per counted rank
rec = tp / npos, prec = tp / (tp + fp); for t in the tool's thresholds: p = max(prec(rec >= t))
(0 if none); ap = ap + p / 11. "exact" runs the same loop in rationals with t = k / 10.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

# MATLAB's colon operator builds 0:0.1:1 from both ends: first half 0 + k * 0.1, second half 1 - (10 - k) * 0.1.
MATLAB_0_01_1 = [k * 0.1 for k in range(6)] + [1 - (10 - k) * 0.1 for k in range(6, 11)]
TOOL_THRESHOLDS = {"matlab_devkit": MATLAB_0_01_1, "py_faster_rcnn": list(np.arange(0.0, 1.1, 0.1))}
AP_RULES = ("exact", *TOOL_THRESHOLDS)


def eleven_point_ap(counts: list[tuple[int, int]], npos: int, ap_rule: str) -> float:
    """The devkit loop from the cumulative (tp, fp) after each rank; ranks with tp + fp = 0 are skipped (NaN)."""
    exact = ap_rule == "exact"
    divide = Fraction if exact else (lambda a, b: a / b)
    precision = [divide(tp, tp + fp) for tp, fp in counts if tp + fp]
    recall = [divide(tp, npos) for tp, fp in counts if tp + fp]
    thresholds = [Fraction(k, 10) for k in range(11)] if exact else TOOL_THRESHOLDS[ap_rule]
    zero = Fraction(0) if exact else 0.0
    ap = zero
    for t in thresholds:
        reached = [p for p, r in zip(precision, recall) if r >= t]
        ap = ap + (max(reached) if reached else zero) / 11
    return float(ap)


def cumulative_counts(outcomes: list[bool | None]) -> list[tuple[int, int]]:
    """(tp, fp) after each rank of a list of True (TP), False (FP) and None (neither: difficult)."""
    tp = fp = 0
    counts = []
    for outcome in outcomes:
        if outcome is not None:
            tp, fp = (tp + 1, fp) if outcome else (tp, fp + 1)
        counts.append((tp, fp))
    return counts
