"""VOC classification AP and top-k error against literal devkit loops, sklearn and hand-worked cases."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import average_precision_score

from gwapbench.data.voc_json import read_voc_coco_json
from gwapbench.metrics import TopKError, VOCClassificationAP, mean_ap, topk_error, voc_classification_ap
from tests.metrics.voc_loops import AP_RULES, TOOL_THRESHOLDS, cumulative_counts, eleven_point_ap


def devkit_vocevalcls(scores: np.ndarray, labels: np.ndarray, metric: str, ap_rule: str = "exact") -> np.ndarray:
    """Literal VOCevalcls per class: stable sort of -confidence, tp = gt > 0, fp = gt < 0 (0 rows stay ranked)."""
    ap = []
    for cls in range(scores.shape[1]):
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i, cls])  # Python's sort is stable
        npos = sum(1 for i in ranked if labels[i, cls] > 0)
        if npos == 0:
            ap.append(float("nan"))
            continue
        outcomes = [None if labels[i, cls] == 0 else bool(labels[i, cls] > 0) for i in ranked]
        counts = cumulative_counts(outcomes)
        if metric == "voc07":
            ap.append(eleven_point_ap(counts, npos, ap_rule))
            continue
        # "area": VOCap with mrec = [0 rec 1], mpre = [0 prec 0]; 0/0 precision (leading difficult rows) skipped
        precision = [Fraction(tp, tp + fp) for tp, fp in counts if tp + fp]
        recall = [Fraction(tp, npos) for tp, fp in counts if tp + fp]
        mrec, mpre = [Fraction(0)] + recall + [Fraction(1)], [Fraction(0)] + precision + [Fraction(0)]
        for i in range(len(mpre) - 2, -1, -1):
            mpre[i] = max(mpre[i], mpre[i + 1])
        ap.append(float(sum((mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)))))
    return np.array(ap)


def sklearn_noninterp(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    ap = []
    for cls in range(scores.shape[1]):
        keep = labels[:, cls] != 0
        positives = labels[keep, cls] == 1
        ap.append(average_precision_score(positives, scores[keep, cls]) if positives.any() else np.nan)
    return np.array(ap)


def literal_topk_error(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Per image: classes sorted by descending score with Python's stable sort; error if label not in the first k."""
    errors = 0
    for row, label in zip(scores, labels):
        ranked = sorted(range(len(row)), key=lambda j: -row[j])
        errors += label not in ranked[:k]
    return errors / len(labels)


def test_hand_worked_ap() -> None:
    scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])
    labels = np.array([[1, -1], [0, -1], [-1, -1], [1, 1]])
    # class 0 ranks: TP, (difficult, skipped), FP, TP -> P = 1, 1/2, 2/3 with R = 1/2, 1/2, 1
    ap = voc_classification_ap(scores, labels)
    assert ap[0] == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-15)
    assert ap[1] == 1.0
    assert voc_classification_ap(scores, labels, "area")[0] == pytest.approx(5 / 6, abs=1e-15)
    assert mean_ap(ap) == pytest.approx(((6 + 5 * 2 / 3) / 11 + 1) / 2, abs=1e-15)


def test_class_without_positives_is_nan_and_empty_input_raises() -> None:
    ap = voc_classification_ap(np.array([[0.3, 0.5]]), np.array([[-1, 1]]))
    assert np.isnan(ap[0]) and ap[1] == 1.0
    with pytest.raises(ValueError, match="scores is empty: at least one image"):
        voc_classification_ap(np.zeros((0, 3)), np.zeros((0, 3)))


def test_hand_worked_ranking_where_each_ap_rule_differs() -> None:
    # One class, 10 positive images among 24 ranked (scores 24..1), one difficult image excluded:
    # T T T F T T T F T, 12 x F, T T T. Recall 0.3, 0.6 and 0.7 are reached exactly (ranks 3, 7, 9).
    # Envelope: 1 to rank 3, 6/7 to rank 7, 7/9 to rank 9, then 10/24 (ranks 22-24 reach 0.8, 0.9, 1).
    outcomes = [1, 1, 1, -1, 1, 1, 1, -1, 1] + [-1] * 12 + [1, 1, 1]
    labels = np.array(outcomes[:5] + [0] + outcomes[5:])[:, None]  # the difficult image sits at rank 6
    scores = np.arange(len(labels), 0, -1, dtype=np.float64)[:, None]
    low = Fraction(10, 24)
    expected = {
        "exact": (4 + 3 * Fraction(6, 7) + Fraction(7, 9) + 3 * low) / 11,
        # t = 0.30000000000000004 is above recall 0.3: first reached at rank 5 (envelope 6/7)
        "matlab_devkit": (3 + 4 * Fraction(6, 7) + Fraction(7, 9) + 3 * low) / 11,
        # also t = 0.6000000000000001 first reached at rank 9 (7/9), t = 0.7000000000000001 at rank 22 (10/24)
        "py_faster_rcnn": (3 + 3 * Fraction(6, 7) + Fraction(7, 9) + 4 * low) / 11,
    }
    assert len(set(expected.values())) == 3
    for ap_rule in AP_RULES:
        ours = voc_classification_ap(scores, labels, ap_rule=ap_rule)[0]
        literal = devkit_vocevalcls(scores, labels, "voc07", ap_rule)[0]
        assert ours == pytest.approx(float(expected[ap_rule]), abs=1e-15)
        assert literal == pytest.approx(float(expected[ap_rule]), abs=1e-15)
        if ap_rule != "exact":
            assert ours == literal  # bit for bit


def test_zero_one_labels_are_refused_with_a_hint_unless_allowed() -> None:
    # sklearn-style 0/1 labels: read as VOC labels, every 0 would be "difficult" and every AP 1.0
    scores = np.array([[0.9, 0.2], [0.8, 0.7], [0.1, 0.6]])
    zero_one = np.array([[1, 0], [0, 1], [0, 1]])
    for call in (
        lambda: voc_classification_ap(scores, zero_one),
        lambda: voc_classification_ap(scores, zero_one, metric="noninterp"),
    ):
        with pytest.raises(ValueError, match=r"look like 0/1 labels.*2 \* y - 1.*allow_no_negatives=True"):
            call()
    accumulator = VOCClassificationAP()
    accumulator.update(scores, zero_one)
    with pytest.raises(ValueError, match="0/1"):
        accumulator.compute()
    # converted with 2y - 1: class 0 ranks T, F, F; class 1 ranks T (0.7), T (0.6), F (0.2)
    np.testing.assert_array_equal(voc_classification_ap(scores, 2 * zero_one - 1, "area"), [1.0, 1.0])
    # the genuine case (only positives and difficult images) passes with the opt-out: 0 rows are excluded
    genuine = VOCClassificationAP("noninterp", allow_no_negatives=True)
    genuine.update(scores, zero_one)
    np.testing.assert_array_equal(genuine.compute(), [1.0, 1.0])
    assert (voc_classification_ap(scores, np.ones((3, 2), dtype=int)) == 1.0).all()  # no 0s: not 0/1-looking


@pytest.mark.parametrize(
    "scores, labels, message",
    [
        (np.zeros((2, 3)), np.zeros((2, 2)), "shape"),
        (np.zeros((2, 3)), np.zeros((3, 3)), "length mismatch"),
        (np.array([[np.nan, 0.0]]), np.array([[1, -1]]), "NaN"),
        (np.zeros((1, 2)), np.array([[1, 2]]), "1, -1 or 0"),
        (np.zeros(3), np.zeros(3), "2-D"),
    ],
)
def test_bad_ap_input(scores: np.ndarray, labels: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        voc_classification_ap(scores, labels)


def test_bad_metric() -> None:
    with pytest.raises(ValueError, match="metric"):
        voc_classification_ap(np.zeros((1, 1)), np.ones((1, 1)), metric="11point")


def assert_matches_references(scores: np.ndarray, labels: np.ndarray) -> None:
    """voc07 and area AP equal the literal devkit loop (within 1e-12; the float AP rules bit for bit);
    noninterp equals sklearn (within 1e-12)."""
    for metric in ("voc07", "area"):
        np.testing.assert_allclose(
            voc_classification_ap(scores, labels, metric, allow_no_negatives=True),
            devkit_vocevalcls(scores, labels, metric),
            atol=1e-12,
        )
    for ap_rule in TOOL_THRESHOLDS:
        np.testing.assert_array_equal(
            voc_classification_ap(scores, labels, "voc07", ap_rule, allow_no_negatives=True),
            devkit_vocevalcls(scores, labels, "voc07", ap_rule),
        )
    noninterp = voc_classification_ap(scores, labels, "noninterp", allow_no_negatives=True)
    np.testing.assert_allclose(noninterp, sklearn_noninterp(scores, labels), atol=1e-12)


label_matrices = arrays(np.int8, st.tuples(st.integers(1, 40), st.integers(1, 4)), elements=st.sampled_from([1, -1, 0]))


@settings(max_examples=100, deadline=None)
@given(labels=label_matrices, seed=st.integers(0, 2**32 - 1))
def test_random_against_devkit_loop_and_sklearn(labels: np.ndarray, seed: int) -> None:
    # scores on a coarse grid, so that ties are frequent
    scores = np.random.default_rng(seed).integers(0, 5, labels.shape).astype(np.float64)
    assert_matches_references(scores, labels)


def test_accumulator_batches_and_merge_equal_one_pass() -> None:
    rng = np.random.default_rng(1)
    scores = rng.random((50, 3))
    labels = rng.choice([1, -1, 0], size=(50, 3))
    first, second = VOCClassificationAP("area"), VOCClassificationAP("area")
    first.update(scores[:20], labels[:20])
    second.update(scores[20:35], labels[20:35])
    second.update(scores[35:], labels[35:])
    np.testing.assert_array_equal(first.merge(second).compute(), voc_classification_ap(scores, labels, "area"))
    with pytest.raises(ValueError, match=r"VOCClassificationAP.compute\(\): no data: call update first"):
        VOCClassificationAP().compute()


def test_voc2007_test_image_labels(shared_data) -> None:
    root = shared_data("voc2007_gt")
    samples, classes = read_voc_coco_json(
        root / "annotations_json/pascal_test2007.json", root / "annotations_json/pascal_test2007_difficult_flags.json"
    )
    labels = np.stack([s.labels for s in samples])
    assert labels.shape == (4952, 20) and len(classes) == 20
    rng = np.random.default_rng(2007)
    # a noisy classifier whose scores are rounded to 0.01: many ties across images
    scores = np.round(0.6 * (labels == 1) + rng.normal(0.0, 0.35, labels.shape), 2)
    assert_matches_references(scores, labels)


def test_topk_hand_worked_ties() -> None:
    scores = np.array([[0.5, 0.5, 0.1], [0.2, 0.7, 0.7], [0.3, 0.3, 0.3]])
    # ties go to the lower class index: row 0 ranks 0, 1, 2; row 1 ranks 1, 2, 0; row 2 ranks 0, 1, 2
    assert topk_error(scores, np.array([0, 1, 0]), 1) == 0.0
    assert topk_error(scores, np.array([1, 2, 2]), 1) == 1.0
    assert topk_error(scores, np.array([1, 2, 2]), 2) == pytest.approx(1 / 3)
    assert topk_error(scores, np.array([2, 0, 2]), 3) == 0.0
    with pytest.raises(ValueError, match="scores is empty"):
        topk_error(np.zeros((0, 3)), np.zeros(0, dtype=int), 1)


@settings(max_examples=100, deadline=None)
@given(
    scores=arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 8)), elements=st.sampled_from([0.0, 0.5, 1.0])),
    data=st.data(),
)
def test_topk_against_literal_stable_sort(scores: np.ndarray, data: st.DataObject) -> None:
    num_classes = scores.shape[1]
    labels = np.array(data.draw(st.lists(st.integers(0, num_classes - 1), min_size=len(scores), max_size=len(scores))))
    k = data.draw(st.integers(1, num_classes))
    assert topk_error(scores, labels, k) == pytest.approx(literal_topk_error(scores, labels, k), abs=1e-15)


@pytest.mark.parametrize(
    "labels, k, message",
    [
        (np.array([0, 3]), 1, "0..2"),
        (np.array([0, -1]), 1, "0..2"),
        (np.array([0.0, 1.0]), 1, "integer"),
        (np.array([0, 1]), 4, "k must"),
        (np.array([0, 1]), 0, "k must"),
        (np.array([0, 1, 2]), 1, "length mismatch"),
    ],
)
def test_topk_bad_input(labels: np.ndarray, k: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        topk_error(np.zeros((2, 3)), labels, k)


def test_topk_accumulator_merge() -> None:
    rng = np.random.default_rng(3)
    scores, labels = rng.random((40, 10)), rng.integers(0, 10, 40)
    first, second = TopKError(5), TopKError(5)
    first.update(scores[:25], labels[:25])
    second.update(scores[25:], labels[25:])
    assert first.merge(second).compute() == topk_error(scores, labels, 5)
    assert first.state()["items"] == {} and first.state()["totals"] == {"images": 40, "hits": first._total("hits")}
    empty = TopKError(1)
    empty.update(np.zeros((0, 3)), np.zeros(0, dtype=int))  # an empty batch adds no data
    with pytest.raises(ValueError, match=r"TopKError.compute\(\): no data: call update first"):
        empty.compute()
    with pytest.raises(ValueError, match="k must"):
        TopKError(0)
