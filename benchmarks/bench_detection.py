"""VOC detection AP speed on the real VOC2007 test GT: `python benchmarks/bench_detection.py [--quick]`.

Input: the 4952 VOC2007 test images' GT (14,976 boxes, 2,944 difficult) and 300 seeded simulated
detections per image (about 1.5M): jittered copies of GT boxes (right or wrong class) and random
boxes. Rows: `voc_detection_ap` vs
- the classic per-detection Python loop (py-faster-rcnn `voc_eval` structure: per class, per
  detection in ranked order, numpy IoU against the GT of its image; +1 convention, first GT
  claim wins, difficult ignored, 11-point AP with the integer recall test), whose APs must equal
  ours within 1e-12 (checked and printed);
- pycocotools COCOeval (bbox, iouThrs = [0.5], maxDets = [300], one area range, difficult GT as
  crowd), on the same boxes converted to xywh with the +1 convention. Its AP definition differs
  (101-point, crowd matching), so only its time is compared.
Ours: best of 5 runs; the references: best of 2 (1 with --quick for pycocotools too).
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import best_time, optional_reference, print_row, run_script  # noqa: E402
from shared_data import shared_data  # noqa: E402

from gwapbench.data.voc_json import read_voc_coco_json  # noqa: E402
from gwapbench.metrics.detection import voc_detection_ap  # noqa: E402

DETECTIONS_PER_IMAGE = 300
NUM_CLASSES = 20


def simulated_detections(samples, per_image: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per image: 20% jittered GT copies (class kept with p = 0.8) scored higher, 80% random boxes of random classes."""
    rng = np.random.default_rng(seed)
    num_gt = np.array([len(s.boxes) for s in samples])
    gt_boxes = np.concatenate([s.boxes for s in samples])
    gt_labels = np.concatenate([s.box_labels for s in samples])
    sizes = np.repeat(np.array([[s.width, s.height] for s in samples], dtype=np.float64), per_image, axis=0)
    total = len(samples) * per_image
    first_gt = np.repeat(np.cumsum(num_gt) - num_gt, per_image)
    picked = first_gt + (rng.random(total) * np.repeat(num_gt, per_image)).astype(int)
    extent = (gt_boxes[picked, 2:] - gt_boxes[picked, :2] + 1)[:, [0, 1, 0, 1]]
    jittered = np.round(gt_boxes[picked] + rng.normal(0, 0.1, (total, 4)) * extent)
    corners = np.floor(rng.random((total, 4)) * sizes[:, [0, 1, 0, 1]]) + 1
    random_boxes = np.sort(corners.reshape(-1, 2, 2), axis=1).reshape(-1, 4)  # x1 <= x2, y1 <= y2
    is_copy = rng.random(total) < 0.2
    boxes = np.where(is_copy[:, None], jittered, random_boxes)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
    labels = np.where(is_copy & (rng.random(total) < 0.8), gt_labels[picked], rng.integers(0, NUM_CLASSES, total))
    scores = rng.random(total) * np.where(is_copy, 1.0, 0.6)  # continuous, as a detector's scores
    cuts = np.arange(per_image, total, per_image)
    return list(zip(np.split(boxes, cuts), np.split(scores, cuts), np.split(labels, cuts)))


def loop_voc07_ap(tp: np.ndarray, fp: np.ndarray, npos: int) -> float:
    tp_cum, fp_cum = np.cumsum(tp), np.cumsum(fp)
    precision = tp_cum / np.maximum(tp_cum + fp_cum, np.finfo(np.float64).eps)
    ap = 0.0
    for k in range(11):
        reached = 10 * tp_cum >= k * npos
        ap += (precision[reached].max() if reached.any() else 0.0) / 11
    return ap


def loop_voc_eval(detections, ground_truth, num_classes: int) -> np.ndarray:
    """Reference: the classic per-class, per-detection loop (py-faster-rcnn `voc_eval` with the devkit's rules)."""
    ap = np.full(num_classes, np.nan)
    for cls in range(num_classes):
        records, npos = {}, 0
        for i, (boxes, labels, difficult) in enumerate(ground_truth):
            keep = labels == cls
            records[i] = {"bbox": boxes[keep], "difficult": difficult[keep], "det": np.zeros(keep.sum(), bool)}
            npos += int((~difficult[keep]).sum())
        image_ids = np.concatenate([np.full((labels == cls).sum(), i) for i, (_, _, labels) in enumerate(detections)])
        confidence = np.concatenate([scores[labels == cls] for _, scores, labels in detections])
        det_boxes = np.concatenate([boxes[labels == cls] for boxes, _, labels in detections])
        order = np.argsort(-confidence, kind="stable")
        tp, fp = np.zeros(len(order)), np.zeros(len(order))
        for d, det in enumerate(order):
            record, bb = records[image_ids[det]], det_boxes[det]
            ovmax, jmax = -np.inf, -1
            gt_boxes = record["bbox"]
            if gt_boxes.size:
                iw = np.maximum(np.minimum(gt_boxes[:, 2], bb[2]) - np.maximum(gt_boxes[:, 0], bb[0]) + 1, 0)
                ih = np.maximum(np.minimum(gt_boxes[:, 3], bb[3]) - np.maximum(gt_boxes[:, 1], bb[1]) + 1, 0)
                inters = iw * ih
                gt_areas = (gt_boxes[:, 2] - gt_boxes[:, 0] + 1) * (gt_boxes[:, 3] - gt_boxes[:, 1] + 1)
                union = (bb[2] - bb[0] + 1) * (bb[3] - bb[1] + 1) + gt_areas - inters
                overlaps = inters / union
                jmax = int(np.argmax(overlaps))
                ovmax = overlaps[jmax]
            if ovmax >= 0.5:
                if record["difficult"][jmax]:
                    continue
                if not record["det"][jmax]:
                    tp[d], record["det"][jmax] = 1, True
                else:
                    fp[d] = 1
            else:
                fp[d] = 1
        counted = (tp + fp) > 0
        if npos:
            ap[cls] = loop_voc07_ap(tp[counted], fp[counted], npos)
    return ap


def pycocotools_eval(detections, ground_truth, sizes) -> float:
    """COCOeval bbox at IoU 0.5 on the same boxes (xywh with w = x2 - x1 + 1); returns its AP@0.5 over classes."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    annotations = []
    for i, (boxes, labels, difficult) in enumerate(ground_truth):
        for box, label, flag in zip(boxes.tolist(), labels.tolist(), difficult.tolist()):
            w, h = box[2] - box[0] + 1, box[3] - box[1] + 1
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": label + 1,
                    "bbox": [box[0], box[1], w, h],
                    "area": w * h,
                    "iscrowd": int(flag),
                }
            )
    dataset = {
        "images": [{"id": i, "width": w, "height": h} for i, (w, h) in enumerate(sizes)],
        "categories": [{"id": c + 1, "name": str(c)} for c in range(NUM_CLASSES)],
        "annotations": annotations,
    }
    rows = np.concatenate(
        [
            np.column_stack([np.full(len(s), i), b[:, :2], b[:, 2:] - b[:, :2] + 1, s, lab + 1])
            for i, (b, s, lab) in enumerate(detections)
        ]
    )
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = dataset
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(rows)
        evaluator = COCOeval(coco_gt, coco_dt, "bbox")
        evaluator.params.iouThrs = np.array([0.5])
        evaluator.params.maxDets = [DETECTIONS_PER_IMAGE]
        evaluator.params.areaRng = [[0, 1e10]]
        evaluator.params.areaRngLbl = ["all"]
        evaluator.evaluate()
        evaluator.accumulate()
    precision = evaluator.eval["precision"][0, :, :, 0, 0]
    return float(np.mean([p[p > -1].mean() for p in precision.T if (p > -1).any()]))


def run(quick: bool) -> None:
    root = shared_data("voc2007_gt")
    samples, _ = read_voc_coco_json(
        root / "annotations_json/pascal_test2007.json", root / "annotations_json/pascal_test2007_difficult_flags.json"
    )
    samples = samples[:500] if quick else samples
    ground_truth = [(s.boxes, s.box_labels, s.difficult) for s in samples]
    detections = simulated_detections(samples, DETECTIONS_PER_IMAGE)
    label = f"VOC det AP, {len(samples)} imgs x {DETECTIONS_PER_IMAGE} dets"

    ours_s, ours = best_time(lambda: voc_detection_ap(detections, ground_truth, NUM_CLASSES), repeat=5)
    loop_s, loop = best_time(lambda: loop_voc_eval(detections, ground_truth, NUM_CLASSES), repeat=2)
    difference = float(np.nanmax(np.abs(ours - loop)))
    if not np.array_equal(np.isnan(ours), np.isnan(loop)) or difference > 1e-12:
        raise SystemExit(f"error: AP differs from the per-detection loop by {difference:.3g}")
    print_row(f"{label} vs loop (max |dAP| {difference:.1e})", ours_s, loop_s, "per-detection Python loop")

    if optional_reference("pycocotools", f"{label} vs pycocotools COCOeval") is None:
        return
    sizes = [(s.width, s.height) for s in samples]
    coco_s, coco_ap = best_time(lambda: pycocotools_eval(detections, ground_truth, sizes), repeat=1 if quick else 2)
    name = f"{label} (COCO AP50 {coco_ap:.3f}, ours mAP {np.nanmean(ours):.3f})"
    print_row(name, ours_s, coco_s, "pycocotools COCOeval")


if __name__ == "__main__":
    run_script(run, __doc__, "the first 500 images only")
