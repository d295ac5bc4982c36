"""VOC detection AP against a literal per-detection VOCevaldet loop, hand-worked cases and properties."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gwapbench.data.voc_json import read_voc_coco_json
from gwapbench.metrics import VOCDetectionAP, mean_ap, voc_detection_ap
from gwapbench.metrics.detection import ranked_order
from tests.metrics.voc_loops import AP_RULES, TOOL_THRESHOLDS, cumulative_counts, eleven_point_ap

IGNORED = "ignored"


def devkit_outcomes(detections, ground_truth, cls: int, iou_threshold: float, strict: bool) -> tuple[list, list, int]:
    """Literal VOCevaldet for one class: per detection in stable descending-score order, loop over the GT."""
    gt = []
    npos = 0
    for boxes, labels, difficult in ground_truth:
        rows = [j for j in range(len(labels)) if labels[j] == cls]
        flags = [bool(difficult[j]) for j in rows]
        gt.append({"BB": [boxes[j] for j in rows], "diff": flags, "det": [False] * len(rows)})
        npos += sum(1 for j in rows if not difficult[j])
    image_ids, confidence, det_boxes = [], [], []
    for i, (boxes, scores, labels) in enumerate(detections):
        for j in range(len(labels)):
            if labels[j] == cls:
                image_ids.append(i)
                confidence.append(scores[j])
                det_boxes.append(boxes[j])
    order = sorted(range(len(confidence)), key=lambda d: -confidence[d])  # stable
    outcomes = []
    for d in order:
        bb, record = det_boxes[d], gt[image_ids[d]]
        ovmax, jmax = -np.inf, -1
        for j, bbgt in enumerate(record["BB"]):
            iw = min(bb[2], bbgt[2]) - max(bb[0], bbgt[0]) + 1
            ih = min(bb[3], bbgt[3]) - max(bb[1], bbgt[1]) + 1
            if iw > 0 and ih > 0:
                ua = (bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1)
                ua += (bbgt[2] - bbgt[0] + 1) * (bbgt[3] - bbgt[1] + 1) - iw * ih
                ov = iw * ih / ua
                if ov > ovmax:
                    ovmax, jmax = ov, j
        if (ovmax > iou_threshold) if strict else (ovmax >= iou_threshold):
            if record["diff"][jmax]:
                outcomes.append(IGNORED)
            elif not record["det"][jmax]:
                record["det"][jmax] = True
                outcomes.append(True)
            else:
                outcomes.append(False)
        else:
            outcomes.append(False)
    return outcomes, [confidence[d] for d in order], npos


def devkit_ap(outcomes: list, scores: list, npos: int, metric: str, ap_rule: str = "exact") -> float:
    """AP from the ranked outcomes (ignored ranks keep the previous precision, as the devkit): the 11-point
    loop of the AP rule (tests/metrics/voc_loops.py), the others in exact rationals."""
    if npos == 0:
        return float("nan")
    if metric == "voc07":
        return eleven_point_ap(cumulative_counts([None if o == IGNORED else o for o in outcomes]), npos, ap_rule)
    tp = fp = 0
    precision, hits, kept_scores = [], [], []
    for outcome, score in zip(outcomes, scores):
        if outcome == IGNORED:
            continue
        tp += outcome is True
        fp += outcome is False
        precision.append(Fraction(tp, tp + fp))
        hits.append(tp)
        kept_scores.append(score)
    if metric == "area":
        mpre = precision + [Fraction(0)]
        for i in range(len(mpre) - 2, -1, -1):
            mpre[i] = max(mpre[i], mpre[i + 1])
        return float(sum(Fraction(h - h_prev, npos) * p for h, h_prev, p in zip(hits, [0] + hits, mpre)))
    # noninterp: sum over distinct scores of (R_n - R_{n-1}) P_n, P_n and R_n at the end of the tie group
    total, last_hits = Fraction(0), 0
    for i in range(len(hits)):
        if i + 1 == len(hits) or kept_scores[i + 1] != kept_scores[i]:
            total += Fraction(hits[i] - last_hits, npos) * precision[i]
            last_hits = hits[i]
    return float(total)


def devkit_per_class(detections, ground_truth, num_classes, ap_rule="exact", iou_threshold=0.5) -> list:
    """Per class (outcomes, ranked scores, npos); py-faster-rcnn's voc_eval matches with IoU > threshold."""
    strict = ap_rule == "py_faster_rcnn"
    return [devkit_outcomes(detections, ground_truth, cls, iou_threshold, strict) for cls in range(num_classes)]


def devkit_vocevaldet(detections, ground_truth, num_classes, metric="voc07", ap_rule="exact", per_class=None):
    per_class = per_class or devkit_per_class(detections, ground_truth, num_classes, ap_rule)
    return np.array([devkit_ap(outcomes, scores, npos, metric, ap_rule) for outcomes, scores, npos in per_class])


def assert_equals_devkit(ours: np.ndarray, reference: np.ndarray, metric: str, ap_rule: str) -> None:
    """Within 1e-12 of the rational loops; the float 11-point AP rules bit for bit."""
    if metric == "voc07" and ap_rule in TOOL_THRESHOLDS:
        np.testing.assert_array_equal(ours, reference)
    else:
        np.testing.assert_allclose(ours, reference, atol=1e-12, rtol=0)


def image(boxes, scores, labels):
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    return (boxes, np.array(scores, dtype=np.float64), np.array(labels, dtype=np.int64))


def truth(boxes, labels, difficult=None):
    labels = np.array(labels, dtype=np.int64)
    flags = np.zeros(len(labels), bool) if difficult is None else np.array(difficult, dtype=bool)
    return (np.array(boxes, dtype=np.float64).reshape(-1, 4), labels, flags)


def test_iou_exactly_half_counts_unless_strict() -> None:
    # det 10 x 10 = 100 px inside a 10 x 20 = 200 px GT: IoU = 100 / 200 = 0.5 exactly
    dets = [image([[1, 1, 10, 10]], [0.9], [0])]
    gt = [truth([[1, 1, 10, 20]], [0])]
    assert voc_detection_ap(dets, gt, 1)[0] == 1.0
    # the devkit's ap = ap + p / 11, eleven times with p = 1, ends at 1.0000000000000002 (1/11 rounds up)
    assert voc_detection_ap(dets, gt, 1, ap_rule="matlab_devkit")[0] == 1.0000000000000002
    assert voc_detection_ap(dets, gt, 1, ap_rule="py_faster_rcnn")[0] == 0.0  # ovmax > ovthresh


def test_one_pixel_boxes_use_plus_one_convention() -> None:
    gt = [truth([[5, 5, 5, 5]], [0])]
    assert voc_detection_ap([image([[5, 5, 5, 5]], [1.0], [0])], gt, 1)[0] == 1.0
    # (5,5,5,5) vs (5,5,6,5): intersection 1 px, union 2 px, IoU 0.5
    assert voc_detection_ap([image([[5, 5, 6, 5]], [1.0], [0])], gt, 1)[0] == 1.0
    assert voc_detection_ap([image([[5, 5, 6, 5]], [1.0], [0])], gt, 1, ap_rule="py_faster_rcnn")[0] == 0.0
    # (6,5,6,5) touches but does not overlap: FP
    assert voc_detection_ap([image([[6, 5, 6, 5]], [1.0], [0])], gt, 1)[0] == 0.0


def test_tied_scores_keep_input_order() -> None:
    gt = [truth([[1, 1, 10, 10]], [0])]
    hit, miss = [1, 1, 10, 10], [50, 50, 60, 60]
    # equal scores: the detection listed first ranks first
    assert voc_detection_ap([image([hit, miss], [0.5, 0.5], [0, 0])], gt, 1)[0] == 1.0
    assert voc_detection_ap([image([miss, hit], [0.5, 0.5], [0, 0])], gt, 1)[0] == 0.5
    # across images: the earlier image first
    two_images = [truth([[1, 1, 10, 10]], [0]), truth(np.zeros((0, 4)), [])]
    dets = [image([hit], [0.5], [0]), image([miss], [0.5], [0])]
    assert voc_detection_ap(dets, two_images, 1)[0] == 1.0
    assert voc_detection_ap(dets[::-1], two_images[::-1], 1)[0] == 0.5


def test_duplicate_detection_is_false_positive() -> None:
    gt = [truth([[1, 1, 10, 10], [30, 30, 40, 40]], [0, 0])]
    dets = [image([[1, 1, 10, 10], [1, 1, 10, 11], [30, 30, 40, 40]], [0.9, 0.8, 0.7], [0, 0, 0])]
    # ranks TP, FP (duplicate), TP: P = 1, 1/2, 2/3 with R = 1/2, 1/2, 1
    assert voc_detection_ap(dets, gt, 1)[0] == pytest.approx((6 + 5 * 2 / 3) / 11, abs=1e-15)


def test_difficult_gt_claimed_by_detection_is_ignored() -> None:
    gt = [truth([[1, 1, 10, 10], [30, 30, 40, 40]], [0, 0], [False, True])]
    # the top detection hits the difficult box (ignored, not FP), then one TP: AP 1
    dets = [image([[30, 30, 40, 40], [1, 1, 10, 10]], [0.9, 0.8], [0, 0])]
    assert voc_detection_ap(dets, gt, 1)[0] == 1.0
    # best IoU is with the difficult box even though a non-difficult box also overlaps >= 0.5: ignored
    gt_overlap = [truth([[1, 1, 10, 10], [1, 1, 10, 12]], [0, 0], [True, False])]
    dets_overlap = [image([[1, 1, 10, 10], [1, 1, 10, 12]], [0.9, 0.1], [0, 0])]
    outcomes, _, _ = devkit_outcomes(dets_overlap, gt_overlap, 0, 0.5, False)
    assert outcomes == [IGNORED, True]
    assert voc_detection_ap(dets_overlap, gt_overlap, 1)[0] == 1.0


def test_class_with_only_difficult_gt_is_nan_and_no_detections_is_zero() -> None:
    gt = [truth([[1, 1, 10, 10], [20, 20, 30, 30]], [0, 1], [True, False])]
    dets = [image([[1, 1, 10, 10]], [0.9], [0])]
    ap = voc_detection_ap(dets, gt, 3)
    assert np.isnan(ap[0]) and ap[1] == 0.0 and np.isnan(ap[2])
    assert mean_ap(ap) == 0.0
    no_dets = [image(np.zeros((0, 4)), [], [])]
    assert voc_detection_ap(no_dets, gt, 2, metric="area")[1] == 0.0
    with pytest.raises(ValueError, match="detections is empty: at least one image"):
        voc_detection_ap([], [], 2)


def test_hand_worked_ranking_where_each_ap_rule_differs() -> None:
    # 10 GT boxes in one image; 9 detections ranked T T T F T T T F T (hits copy a GT box, misses are far):
    # recall 0.3, 0.6 and 0.7 are reached exactly at ranks 3, 7 and 9.
    gt_boxes = [[20 * i + 1, 1, 20 * i + 10, 10] for i in range(10)]
    ranked = [gt_boxes[0], gt_boxes[1], gt_boxes[2], [500, 500, 510, 510], gt_boxes[3], gt_boxes[4], gt_boxes[5]]
    ranked += [[600, 600, 610, 610], gt_boxes[6]]
    dets = [image(ranked, np.arange(9, 0, -1.0), [0] * 9)]
    gt = [truth(gt_boxes, [0] * 10)]
    expected = {  # envelope: 1 to rank 3, 6/7 to rank 7, 7/9 to rank 9
        "exact": (4 + 3 * Fraction(6, 7) + Fraction(7, 9)) / 11,
        "matlab_devkit": (3 + 4 * Fraction(6, 7) + Fraction(7, 9)) / 11,  # 0.30000000000000004 first at rank 5
        "py_faster_rcnn": (3 + 3 * Fraction(6, 7) + Fraction(7, 9)) / 11,  # also 0.6000000000000001, 0.7000000000000001
    }
    for ap_rule in AP_RULES:
        ours = voc_detection_ap(dets, gt, 1, ap_rule=ap_rule)
        reference = devkit_vocevaldet(dets, gt, 1, ap_rule=ap_rule)
        assert ours[0] == pytest.approx(float(expected[ap_rule]), abs=1e-15)
        assert_equals_devkit(ours, reference, "voc07", ap_rule)


@pytest.mark.parametrize(
    "dets, gt, message",
    [
        ([image([[1, 1, 0, 5]], [0.5], [0])], [truth([], [])], "negative size"),
        ([image([[1, 1, 5, 5]], [np.nan], [0])], [truth([], [])], "NaN"),
        ([image([[1, 1, 5, 5]], [0.5], [2])], [truth([], [])], "0..1"),
        ([image([[1, 1, 5, 5]], [0.5, 0.4], [0])], [truth([], [])], "differ"),
        ([(np.zeros((1, 3)), [0.5], [0])], [truth([], [])], r"shape \(M, 4\)"),
        ([image([[1, 1, 5, 5]], [0.5], [0])], [truth([[1, 1, 5, 5]], [-1])], "ground_truth labels"),
        ([image([[1, 1, 5, 5]], [0.5], [0])], [truth([[1, 1, 5, 5]], [0]), truth([], [])], "length mismatch"),
        ([(np.array([[1.0, 1, 5, 5]]), [0.5], [0.5])], [truth([], [])], "integer"),
        ([(np.zeros((0, 4)), [])], [truth([], [])], "tuple"),
    ],
)
def test_bad_input(dets, gt, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        voc_detection_ap(dets, gt, 2)


def test_images_without_boxes_may_hold_empty_arrays_of_any_dtype() -> None:
    # np.array([]) is float64: it must not turn the integer labels of the other images into floats
    empty = (np.zeros((0, 4)), np.array([]), np.array([]))
    dets = [image([[1, 1, 10, 10]], [0.9], [1]), empty]
    gt = [truth([[1, 1, 10, 10]], [1]), empty]
    np.testing.assert_array_equal(voc_detection_ap(dets, gt, 2), [np.nan, 1.0])


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="iou_threshold"):
        voc_detection_ap([], [], 2, iou_threshold=0.0)
    with pytest.raises(ValueError, match="metric"):
        voc_detection_ap([], [], 2, metric="coco")
    with pytest.raises(ValueError, match="ap_rule"):
        VOCDetectionAP(2, ap_rule="strict")
    with pytest.raises(ValueError, match="num_classes"):
        voc_detection_ap([], [], 0)


corner = st.integers(0, 12)


@st.composite
def box(draw) -> list[int]:
    x1, y1 = draw(corner), draw(corner)
    return [x1, y1, x1 + draw(st.integers(0, 6)), y1 + draw(st.integers(0, 6))]


@st.composite
def scenes(draw, distinct_scores: bool = False):
    num_images = draw(st.integers(1, 4))
    gt, dets = [], []
    for _ in range(num_images):
        g = draw(st.integers(0, 4))
        gt_boxes = [draw(box()) for _ in range(g)]
        gt.append(truth(gt_boxes, [draw(st.integers(0, 1)) for _ in range(g)], [draw(st.booleans()) for _ in range(g)]))
        m = draw(st.integers(0, 6))
        det_boxes = [draw(box()) for _ in range(m)]
        det_scores = [draw(st.sampled_from([0.1, 0.2, 0.3, 0.4])) for _ in range(m)]  # ties are frequent
        dets.append(image(det_boxes, det_scores, [draw(st.integers(0, 1)) for _ in range(m)]))
    if distinct_scores:
        total = sum(len(d[1]) for d in dets)
        unique = iter(draw(st.permutations(list(range(1, total + 1)))))
        dets = [(b, np.array([float(next(unique)) for _ in s]), lab) for b, s, lab in dets]
    return dets, gt


@settings(max_examples=150, deadline=None)
@given(scene=scenes(), metric=st.sampled_from(["voc07", "area", "noninterp"]), ap_rule=st.sampled_from(AP_RULES))
def test_random_scenes_against_devkit_loop(scene, metric: str, ap_rule: str) -> None:
    dets, gt = scene
    ours = voc_detection_ap(dets, gt, 2, metric=metric, ap_rule=ap_rule)
    assert_equals_devkit(ours, devkit_vocevaldet(dets, gt, 2, metric, ap_rule), metric, ap_rule)


@settings(max_examples=100, deadline=None)
@given(scene=scenes(distinct_scores=True), data=st.data())
def test_permuting_images_leaves_ap_unchanged(scene, data: st.DataObject) -> None:
    # holds with distinct scores; with ties the stable order follows image order (see the test above)
    dets, gt = scene
    perm = data.draw(st.permutations(list(range(len(gt)))))
    for metric in ("voc07", "area", "noninterp"):
        np.testing.assert_array_equal(
            voc_detection_ap([dets[i] for i in perm], [gt[i] for i in perm], 2, metric=metric),
            voc_detection_ap(dets, gt, 2, metric=metric),
        )


@settings(max_examples=100, deadline=None)
@given(scene=scenes(), extra=scenes(), metric=st.sampled_from(["voc07", "area", "noninterp"]))
def test_appending_low_scored_detections_never_lowers_ap(scene, extra, metric: str) -> None:
    """Appended detections ranked last can only add recall (AP >= before); if none is a TP, AP is unchanged."""
    dets, gt = scene
    extra_dets = extra[0][: len(dets)] + [image([], [], [])] * max(0, len(dets) - len(extra[0]))
    low = [(b, s - 1.0, lab) for b, s, lab in extra_dets]  # every score below the existing minimum 0.1
    grown = [tuple(np.concatenate(parts) for parts in zip(d, e)) for d, e in zip(dets, low)]
    before = voc_detection_ap(dets, gt, 2, metric=metric)
    after = voc_detection_ap(grown, gt, 2, metric=metric)
    assert np.array_equal(np.isnan(before), np.isnan(after))
    assert (after[~np.isnan(after)] >= before[~np.isnan(before)] - 1e-12).all()
    far = [((b + 1000.0).reshape(-1, 4), s, lab) for b, s, lab in low]  # overlaps no GT: all FP
    unchanged = [tuple(np.concatenate(parts) for parts in zip(d, e)) for d, e in zip(dets, far)]
    np.testing.assert_allclose(voc_detection_ap(unchanged, gt, 2, metric=metric), before, atol=1e-12)


def test_appending_a_low_scored_true_positive_can_raise_ap() -> None:
    gt = [truth([[1, 1, 10, 10], [30, 30, 40, 40]], [0, 0])]
    dets = [image([[1, 1, 10, 10]], [0.9], [0])]
    more = [image([[1, 1, 10, 10], [30, 30, 40, 40]], [0.9, 0.1], [0, 0])]
    assert voc_detection_ap(more, gt, 1)[0] > voc_detection_ap(dets, gt, 1)[0]


def test_accumulator_batches_and_merge_equal_one_pass() -> None:
    rng = np.random.default_rng(5)
    gt = []
    for _ in range(9):
        corners = rng.integers(1, 40, (3, 2))
        boxes = np.column_stack([corners, corners + rng.integers(0, 15, (3, 2))])
        gt.append(truth(boxes, rng.integers(0, 3, 3), rng.random(3) < 0.2))
    dets = [image(g[0] + rng.integers(-3, 4, g[0].shape), rng.random(3), rng.integers(0, 3, 3)) for g in gt]
    first, second = VOCDetectionAP(3, metric="area"), VOCDetectionAP(3, metric="area")
    first.update(dets[:4], gt[:4])
    second.update(dets[4:6], gt[4:6])
    second.update(dets[6:], gt[6:])
    np.testing.assert_array_equal(first.merge(second).compute(), voc_detection_ap(dets, gt, 3, metric="area"))
    with pytest.raises(ValueError, match=r"VOCDetectionAP.compute\(\): no data: call update first"):
        VOCDetectionAP(3).compute()


def simulated_detections(samples, num_classes: int, seed: int):
    """Per image: jittered copies of most GT boxes (some twice) and random boxes; scores on a 1e-3 grid (ties)."""
    rng = np.random.default_rng(seed)
    dets = []
    for s in samples:
        keep = rng.random(len(s.boxes)) < 0.85
        copies = np.concatenate([np.flatnonzero(keep), np.flatnonzero(keep & (rng.random(len(s.boxes)) < 0.15))])
        size = (s.boxes[copies, 2:] - s.boxes[copies, :2] + 1)[:, [0, 1, 0, 1]]
        jittered = np.round(s.boxes[copies] + rng.normal(0, 0.12, (len(copies), 4)) * size)
        num_random = int(rng.integers(0, 4))
        corners = rng.integers(1, [s.width, s.height, s.width, s.height], (num_random, 4)).astype(np.float64)
        random_boxes = np.sort(corners.reshape(-1, 2, 2), axis=1).reshape(-1, 4)
        boxes = np.concatenate([jittered, random_boxes])
        boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
        labels = np.concatenate([s.box_labels[copies], rng.integers(0, num_classes, num_random)])
        dets.append((boxes, np.round(rng.random(len(boxes)), 3), labels))
    return dets


def test_voc2007_test_full_scale_against_devkit_loop(shared_data) -> None:
    root = shared_data("voc2007_gt")
    samples, classes = read_voc_coco_json(
        root / "annotations_json/pascal_test2007.json", root / "annotations_json/pascal_test2007_difficult_flags.json"
    )
    gt = [(s.boxes, s.box_labels, s.difficult) for s in samples]
    assert len(gt) == 4952
    assert sum(len(g[1]) for g in gt) == 14976 and sum(int(g[2].sum()) for g in gt) == 2944
    dets = simulated_detections(samples, len(classes), seed=2007)
    devkit_matches = devkit_per_class(dets, gt, len(classes))  # IoU >= 0.5, shared by exact and matlab_devkit
    cases = [("voc07", c, devkit_matches) for c in ("exact", "matlab_devkit")] + [("voc07", "py_faster_rcnn", None)]
    for metric, ap_rule, per_class in cases + [("area", "py_faster_rcnn", None)]:
        ours = voc_detection_ap(dets, gt, len(classes), metric=metric, ap_rule=ap_rule)
        reference = devkit_vocevaldet(dets, gt, len(classes), metric, ap_rule, per_class)
        assert not np.isnan(ours).any() and 0.3 < mean_ap(ours) < 0.95
        assert_equals_devkit(ours, reference, metric, ap_rule)


@settings(max_examples=100, deadline=None)
@given(
    scores=st.lists(st.sampled_from([-1.0, -0.0, 0.0, 0.25, 0.5, 2.0]), max_size=80),
    seed=st.integers(0, 2**16),
)
def test_ranked_order_is_class_then_stable_descending_score(scores: list[float], seed: int) -> None:
    labels = np.random.default_rng(seed).integers(0, 3, len(scores))
    expected = sorted(range(len(scores)), key=lambda i: (labels[i], -scores[i]))  # Python's sort is stable
    np.testing.assert_array_equal(ranked_order(np.array(scores), labels, 3), expected)
