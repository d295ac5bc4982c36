"""The ranked-list AP kernels against exact rational references, sklearn and hand-worked cases."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from gwapbench.metrics.ap import average_precision, descending_order, mean_ap
from tests.metrics.voc_loops import AP_RULES, MATLAB_0_01_1, TOOL_THRESHOLDS, cumulative_counts, eleven_point_ap


def exact_precision_recall(tp: list[bool], npos: int) -> tuple[list[Fraction], list[Fraction]]:
    precision, recall, hits = [], [], 0
    for rank, is_tp in enumerate(tp, start=1):
        hits += is_tp
        precision.append(Fraction(hits, rank))
        recall.append(Fraction(hits, npos))
    return precision, recall


def literal_voc07(tp: list[bool], npos: int, ap_rule: str = "exact") -> float:
    return eleven_point_ap(cumulative_counts(tp), npos, ap_rule)


def exact_area(tp: list[bool], npos: int) -> float:
    """VOC2010 devkit VOCap: mrec = [0 rec 1], mpre = [0 prec 0], envelope from the right, sum over changes."""
    precision, recall = exact_precision_recall(tp, npos)
    mrec = [Fraction(0)] + recall + [Fraction(1)]
    mpre = [Fraction(0)] + precision + [Fraction(0)]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return float(sum((mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1]))


def test_hand_worked_three_ranks() -> None:
    # ranks: TP, FP, TP with 2 positives: P = 1, 1/2, 2/3; R = 1/2, 1/2, 1.
    tp = np.array([True, False, True])
    assert average_precision(tp, 2, "voc07") == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-15)
    assert average_precision(tp, 2, "area") == pytest.approx(0.5 * 1 + 0.5 * 2 / 3, abs=1e-15)
    assert average_precision(tp, 2, "noninterp", np.array([3.0, 2.0, 1.0])) == pytest.approx(5 / 6, abs=1e-15)


def test_tool_thresholds_reproduce_published_matlab_and_numpy_values() -> None:
    # MATLAB R2009 output (Walking Randomly, "Fun with linspace and the colon operator in MATLAB",
    # 2009-03-13): x = 0:0.1:1, y = linspace(0,1,11) (= k/10 correctly rounded), a = (0:10)*0.1,
    # b = repeated additions of 0.1. x == y fails only at 0.3, where x - y = 0.5551e-16;
    # a == x fails at 0.6 and 0.7; b == x fails at 0.8, 0.9 and 1.
    x, y, a = np.array(MATLAB_0_01_1), np.arange(11) / 10, np.arange(11) * 0.1
    b = np.cumsum([0.0] + [0.1] * 10)
    assert np.flatnonzero(x != y).tolist() == [3] and x[3] - y[3] == pytest.approx(0.5551e-16, abs=1e-20)
    assert np.flatnonzero(a != x).tolist() == [6, 7]
    assert np.flatnonzero(b != x).tolist() == [8, 9, 10]
    assert x[3] == 0.30000000000000004
    # np.arange(0., 1.1, 0.1) is k * 0.1: 0.3, 0.6 and 0.7 land above k / 10
    arange = np.array(TOOL_THRESHOLDS["py_faster_rcnn"])
    assert np.flatnonzero(arange != y).tolist() == [3, 6, 7] and (arange >= y).all()


@pytest.mark.parametrize("hits, matlab_points, arange_points", [(3, 3, 3), (6, 7, 6), (7, 8, 7)])
def test_recall_exactly_03_06_07_counts_its_point(hits: int, matlab_points: int, arange_points: int) -> None:
    # 10 positives, the first `hits` ranks are TPs (precision 1), nothing else: recall ends at hits/10,
    # which reaches hits + 1 of the 11 thresholds exactly.
    tp = np.ones(hits, dtype=bool)
    assert average_precision(tp, 10, "voc07") == pytest.approx((hits + 1) / 11, abs=1e-15)
    assert literal_voc07(list(tp), 10) == pytest.approx((hits + 1) / 11, abs=1e-15)
    # a float threshold above k / 10 loses that point: MATLAB only at 0.3, np.arange at 0.3, 0.6, 0.7
    for ap_rule, points in (("matlab_devkit", matlab_points), ("py_faster_rcnn", arange_points)):
        assert average_precision(tp, 10, "voc07", ap_rule=ap_rule) == pytest.approx(points / 11, abs=1e-15)
        assert literal_voc07(list(tp), 10, ap_rule) == pytest.approx(points / 11, abs=1e-15)


# 10 positives; ranks T T T F T T T F T: recall 0.3 at ranks 3-4, 0.6 at ranks 7-8, 0.7 at rank 9.
# Precision envelope: 1 up to rank 3, 6/7 for ranks 4-7, 7/9 for ranks 8-9.
CONVENTION_CASE = [True, True, True, False, True, True, True, False, True]
AP_RULE_AP = {
    # t = 0, .1, .2, .3 -> 1; .4, .5, .6 -> 6/7; .7 -> 7/9; .8, .9, 1 -> 0
    "exact": (4 + 3 * Fraction(6, 7) + Fraction(7, 9)) / 11,
    # t = 0.30000000000000004 is above recall 0.3: first reached at rank 5 -> 6/7
    "matlab_devkit": (3 + 4 * Fraction(6, 7) + Fraction(7, 9)) / 11,
    # also 0.6000000000000001 (first reached at rank 9 -> 7/9) and 0.7000000000000001 (never -> 0)
    "py_faster_rcnn": (3 + 3 * Fraction(6, 7) + Fraction(7, 9)) / 11,
}


@pytest.mark.parametrize("ap_rule", AP_RULES)
def test_hand_worked_ranking_where_each_ap_rule_differs(ap_rule: str) -> None:
    tp = np.array(CONVENTION_CASE)
    ours = average_precision(tp, 10, "voc07", ap_rule=ap_rule)
    literal = literal_voc07(CONVENTION_CASE, 10, ap_rule)
    assert ours == pytest.approx(float(AP_RULE_AP[ap_rule]), abs=1e-15)
    assert literal == pytest.approx(float(AP_RULE_AP[ap_rule]), abs=1e-15)
    assert len({float(v) for v in AP_RULE_AP.values()}) == 3
    if ap_rule != "exact":
        assert ours == literal  # bit for bit: the tool's thresholds, float recall and ap += p / 11
    # the AP rules only concern the 11-point thresholds
    assert average_precision(tp, 10, "area", ap_rule=ap_rule) == average_precision(tp, 10, "area")


@settings(max_examples=200, deadline=None)
@given(tp=st.lists(st.booleans(), min_size=0, max_size=60), missed=st.integers(0, 25))
def test_float_ap_rules_equal_the_literal_tool_loops_bit_for_bit(tp: list[bool], missed: int) -> None:
    npos = sum(tp) + missed
    assume(npos > 0)  # AP is undefined (NaN) without positives: test_edge_cases
    for ap_rule in TOOL_THRESHOLDS:
        assert average_precision(np.array(tp, dtype=bool), npos, "voc07", ap_rule=ap_rule) == (
            literal_voc07(tp, npos, ap_rule)
        )


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
    with pytest.raises(ValueError, match="ap_rule"):
        average_precision(np.array([True]), 1, "voc07", ap_rule="matlab")


def test_mean_ap_leaves_nan_out() -> None:
    assert mean_ap(np.array([0.5, np.nan, 1.0])) == 0.75
    assert np.isnan(mean_ap(np.array([np.nan])))
    with pytest.raises(ValueError, match="1-D"):
        mean_ap(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="one AP per class"):
        mean_ap(np.zeros(0))


ranked_lists = st.lists(st.booleans(), min_size=0, max_size=60)


@settings(max_examples=200, deadline=None)
@given(tp=ranked_lists, missed=st.integers(0, 5))
def test_devkit_metrics_match_exact_rationals(tp: list[bool], missed: int) -> None:
    npos = sum(tp) + missed
    assume(npos > 0)  # AP is undefined (NaN) without positives: test_edge_cases
    expected = literal_voc07(tp, npos)
    assert average_precision(np.array(tp, dtype=bool), npos, "voc07") == pytest.approx(expected, abs=1e-12)
    assert average_precision(np.array(tp, dtype=bool), npos, "area") == pytest.approx(exact_area(tp, npos), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(items=st.lists(st.tuples(st.booleans(), st.integers(0, 6)), min_size=1, max_size=60))
def test_noninterp_matches_sklearn_with_ties(items: list[tuple[bool, int]]) -> None:
    labels = np.array([label for label, _ in items], dtype=bool)
    scores = np.array([score for _, score in items], dtype=np.float64)
    assume(labels.any())  # sklearn's AP needs a positive
    order = np.argsort(-scores, kind="stable")
    ours = average_precision(labels[order], int(labels.sum()), "noninterp", scores[order])
    assert ours == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(scores=st.lists(st.sampled_from([-2.0, -0.0, 0.0, 0.1, 0.5, 3.0]) | st.floats(-10, 10), max_size=100))
def test_descending_order_is_the_stable_sort(scores: list[float]) -> None:
    np.testing.assert_array_equal(descending_order(np.array(scores)), np.argsort(-np.array(scores), kind="stable"))
