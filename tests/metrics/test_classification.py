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


def devkit_vocevalcls(scores: np.ndarray, labels: np.ndarray, metric: str) -> np.ndarray:
    """Literal VOCevalcls per class: stable sort of -confidence, tp = gt > 0, fp = gt < 0 (0 rows stay ranked)."""
    ap = []
    for cls in range(scores.shape[1]):
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i, cls])  # Python's sort is stable
        npos = sum(1 for i in ranked if labels[i, cls] > 0)
        if npos == 0:
            ap.append(float("nan"))
            continue
        tp = fp = 0
        precision, recall = [], []
        for i in ranked:
            tp += int(labels[i, cls] > 0)  # Python ints: exact Fractions
            fp += int(labels[i, cls] < 0)
            if tp + fp == 0:  # devkit: 0/0 = NaN, ignored by max
                continue
            precision.append(Fraction(tp, tp + fp))
            recall.append(Fraction(tp, npos))
        if metric == "voc07":
            total = Fraction(0)
            for k in range(11):
                reached = [p for p, r in zip(precision, recall) if r >= Fraction(k, 10)]
                total += max(reached) if reached else 0
            ap.append(float(total / 11))
        else:  # "area": VOCap with mrec = [0 rec 1], mpre = [0 prec 0]
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


def test_class_without_positives_is_nan_and_empty_input() -> None:
    ap = voc_classification_ap(np.array([[0.3, 0.5]]), np.array([[-1, 1]]))
    assert np.isnan(ap[0]) and ap[1] == 1.0
    assert np.isnan(voc_classification_ap(np.zeros((0, 3)), np.zeros((0, 3)))).all()


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
    """voc07 and area AP equal the literal devkit loop; noninterp equals sklearn (all within 1e-12)."""
    for metric in ("voc07", "area"):
        np.testing.assert_allclose(
            voc_classification_ap(scores, labels, metric), devkit_vocevalcls(scores, labels, metric), atol=1e-12
        )
    noninterp = voc_classification_ap(scores, labels, "noninterp")
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
    with pytest.raises(ValueError, match="before any update"):
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
    assert np.isnan(topk_error(np.zeros((0, 3)), np.zeros(0, dtype=int), 1))


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
    assert np.isnan(TopKError(1).compute())
    with pytest.raises(ValueError, match="k must"):
        TopKError(0)
