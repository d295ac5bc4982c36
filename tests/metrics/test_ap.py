"""The ranked-list AP kernels against exact rational references, sklearn and hand-worked cases."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from gwapbench.metrics.ap import average_precision, descending_order, mean_ap


def exact_precision_recall(tp: list[bool], npos: int) -> tuple[list[Fraction], list[Fraction]]:
    precision, recall, hits = [], [], 0
    for rank, is_tp in enumerate(tp, start=1):
        hits += is_tp
        precision.append(Fraction(hits, rank))
        recall.append(Fraction(hits, npos))
    return precision, recall


def exact_voc07(tp: list[bool], npos: int) -> float:
    """VOC2007 devkit: for t = 0:0.1:1, p = max(prec(rec >= t)) (0 if empty); ap += p / 11. Exact rationals."""
    precision, recall = exact_precision_recall(tp, npos)
    total = Fraction(0)
    for k in range(11):
        reached = [p for p, r in zip(precision, recall) if r >= Fraction(k, 10)]
        total += max(reached) if reached else 0
    return float(total / 11)


def exact_area(tp: list[bool], npos: int) -> float:
    """VOC2010 devkit VOCap: mrec = [0 rec 1], mpre = [0 prec 0], envelope from the right, sum over changes."""
    precision, recall = exact_precision_recall(tp, npos)
    mrec = [Fraction(0)] + recall + [Fraction(1)]
    mpre = [Fraction(0)] + precision + [Fraction(0)]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return float(sum((mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1]))


def float_arange_voc07(tp: list[bool], npos: int) -> float:
    """py-faster-rcnn's float version: t over np.arange(0, 1.1, 0.1), compared as floats."""
    tp_cum = np.cumsum(tp)
    recall, precision = tp_cum / npos, tp_cum / np.arange(1, len(tp) + 1)
    return sum((precision[recall >= t].max() if (recall >= t).any() else 0.0) for t in np.arange(0.0, 1.1, 0.1)) / 11


def test_hand_worked_three_ranks() -> None:
    # ranks: TP, FP, TP with 2 positives: P = 1, 1/2, 2/3; R = 1/2, 1/2, 1.
    tp = np.array([True, False, True])
    assert average_precision(tp, 2, "voc07") == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-15)
    assert average_precision(tp, 2, "area") == pytest.approx(0.5 * 1 + 0.5 * 2 / 3, abs=1e-15)
    assert average_precision(tp, 2, "noninterp", np.array([3.0, 2.0, 1.0])) == pytest.approx(5 / 6, abs=1e-15)


@pytest.mark.parametrize("hits, expected_points", [(3, 4), (6, 7), (7, 8)])
def test_recall_exactly_03_06_07_counts_its_point(hits: int, expected_points: int) -> None:
    # 10 positives, the first `hits` ranks are TPs (precision 1), nothing else: recall ends at hits/10.
    tp = np.ones(hits, dtype=bool)
    assert average_precision(tp, 10, "voc07") == pytest.approx(expected_points / 11, abs=1e-15)
    assert exact_voc07(list(tp), 10) == pytest.approx(expected_points / 11, abs=1e-15)
    # the float arange comparison loses exactly that point (0.1 * k rounds above k / 10)
    assert float_arange_voc07(list(tp), 10) == pytest.approx((expected_points - 1) / 11, abs=1e-15)


def test_ties_grouped_only_for_noninterp() -> None:
    # two tied items, the FP first in input order: stable ranks FP, TP.
    tp = np.array([False, True])
    scores = np.array([0.5, 0.5])
    assert average_precision(tp, 1, "voc07") == 0.5
    assert average_precision(tp, 1, "noninterp", scores) == average_precision_score([0, 1], scores) == 0.5
    assert average_precision(tp[::-1], 1, "voc07") == 1.0  # the stable order decides for the devkit AP
    assert average_precision(tp[::-1], 1, "noninterp", scores) == 0.5  # one threshold for sklearn


def test_edge_cases() -> None:
    assert np.isnan(average_precision(np.array([False, False]), 0, "voc07"))
    assert average_precision(np.zeros(0, dtype=bool), 3, "area") == 0.0
    assert average_precision(np.zeros(4, dtype=bool), 3, "voc07") == 0.0
    with pytest.raises(ValueError, match="npos"):
        average_precision(np.array([True, True]), 1, "voc07")
    with pytest.raises(ValueError, match="metric"):
        average_precision(np.array([True]), 1, "voc12")
    with pytest.raises(ValueError, match="sorted_scores"):
        average_precision(np.array([True]), 1, "noninterp")


def test_mean_ap_leaves_nan_out() -> None:
    assert mean_ap(np.array([0.5, np.nan, 1.0])) == 0.75
    assert np.isnan(mean_ap(np.array([np.nan])))
    with pytest.raises(ValueError, match="1-D"):
        mean_ap(np.zeros((2, 2)))


ranked_lists = st.lists(st.booleans(), min_size=0, max_size=60)


@settings(max_examples=200, deadline=None)
@given(tp=ranked_lists, missed=st.integers(0, 5))
def test_devkit_metrics_match_exact_rationals(tp: list[bool], missed: int) -> None:
    npos = sum(tp) + missed
    if npos == 0:
        return
    assert average_precision(np.array(tp, dtype=bool), npos, "voc07") == pytest.approx(exact_voc07(tp, npos), abs=1e-12)
    assert average_precision(np.array(tp, dtype=bool), npos, "area") == pytest.approx(exact_area(tp, npos), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=1, max_size=60))
def test_noninterp_matches_sklearn_with_ties(items: list[tuple[bool, int]]) -> None:
    labels = np.array([label for label, _ in items], dtype=bool)
    scores = np.array([score for _, score in items], dtype=np.float64)
    if not labels.any():
        return
    order = np.argsort(-scores, kind="stable")
    ours = average_precision(labels[order], int(labels.sum()), "noninterp", scores[order])
    assert ours == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(scores=st.lists(st.sampled_from([-2.0, -0.0, 0.0, 0.1, 0.5, 3.0]) | st.floats(-10, 10), max_size=100))
def test_descending_order_is_the_stable_sort(scores: list[float]) -> None:
    np.testing.assert_array_equal(descending_order(np.array(scores)), np.argsort(-np.array(scores), kind="stable"))
