"""Literal implementations of every number the table commands print, for the oracle tests.

Each is written from the paper's words or the reference tool's source, one image (or one detection)
at a time, and reads the dataset's own files (xml.etree, plain text) and the run store's npz files.
Nothing here imports gwapbench: a bug in gwapbench.metrics, gwapbench.engine or the data readers
cannot hide on both sides of an oracle test.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from skimage.filters import threshold_otsu

# ------------------------------------------------------------------------------------- annotations


@dataclass(frozen=True)
class Annotation:
    """One image's XML: size and objects (name, box as written (x1, y1, x2, y2), difficult flag)."""

    width: int
    height: int
    names: tuple[str, ...]
    boxes: np.ndarray  # (G, 4) float64, as written in the file
    difficult: np.ndarray  # (G,) bool


def read_annotation(path: Path) -> Annotation:
    """A VOC or ILSVRC annotation XML, as the devkits read it (no coordinate shift)."""
    root = ET.parse(path).getroot()
    size = root.find("size")
    names, boxes, difficult = [], [], []
    for obj in root.findall("object"):
        box = obj.find("bndbox")
        names.append(obj.findtext("name").strip())
        boxes.append([float(box.findtext(tag)) for tag in ("xmin", "ymin", "xmax", "ymax")])
        difficult.append(int(obj.findtext("difficult") or 0) == 1)
    return Annotation(int(size.findtext("width")), int(size.findtext("height")), tuple(names),
                      np.array(boxes, dtype=np.float64).reshape(-1, 4), np.array(difficult, dtype=bool))


def read_voc_class_labels(voc_root: Path, split: str, classes: list[str]) -> tuple[list[str], np.ndarray]:
    """(image ids, (N, C) labels 1 / -1 / 0) from ImageSets/Main/<cls>_<split>.txt, in <split>.txt's order."""
    main = voc_root / "ImageSets" / "Main"
    ids = (main / f"{split}.txt").read_text().split()
    labels = np.zeros((len(ids), len(classes)), dtype=np.int64)
    row = {image: i for i, image in enumerate(ids)}
    for c, name in enumerate(classes):
        for line in (main / f"{name}_{split}.txt").read_text().splitlines():
            if line.strip():
                image, value = line.split()
                labels[row[image], c] = int(value)
    return ids, labels


# ----------------------------------------------------------------------------------- 11-point AP


def voc07_eleven_point_ap(precision: list[float], true_positives: list[int], npos: int) -> float:
    """VOC2007 11-point AP: sum over t in {0, 0.1, ..., 1} of max{precision at ranks with recall >= t}
    (0 when no rank reaches t), divided by 11. Recall >= t is compared exactly, 10 tp >= k npos (the
    definition; gwapbench's default "exact" AP rule). NaN precisions (no item ranked yet) are skipped,
    as MATLAB's max skips them."""
    total = 0.0
    for k in range(11):
        reached = [p for p, tp in zip(precision, true_positives) if 10 * tp >= k * npos and not math.isnan(p)]
        total += max(reached) if reached else 0.0
    return total / 11


def voc07_eleven_point_ap_py_faster_rcnn(precision: list[float], recall: list[float]) -> float:
    """py-faster-rcnn `voc_ap(rec, prec, use_07_metric=True)`: for t in np.arange(0., 1.1, 0.1):
    p = max(prec[rec >= t]) or 0; ap = ap + p / 11."""
    ap = 0.0
    rec, prec = np.array(recall, dtype=np.float64), np.array(precision, dtype=np.float64)
    for t in np.arange(0.0, 1.1, 0.1):
        p = 0.0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
        ap = ap + p / 11.0
    return float(ap)


# ------------------------------------------------------------------------- Table I: VOCevalcls.m


def vocevalcls_ap(confidence: np.ndarray, gt: np.ndarray) -> float:
    """VOC2007 devkit `VOCevalcls.m` for one class: [so, si] = sort(-confidence) (MATLAB's sort is
    stable); tp = cumsum(gt(si) > 0); fp = cumsum(gt(si) < 0) (difficult-only images, gt = 0, stay in
    the ranking with neither flag); rec = tp / sum(gt > 0); prec = tp ./ (fp + tp); 11-point AP.
    NaN for a class without positives."""
    npos = int(np.sum(gt > 0))
    if npos == 0:
        return math.nan
    order = np.argsort(-np.asarray(confidence, dtype=np.float64), kind="stable")
    tp = fp = 0
    precision, true_positives = [], []
    for i in order:
        tp += int(gt[i] > 0)
        fp += int(gt[i] < 0)
        precision.append(tp / (fp + tp) if fp + tp else math.nan)
        true_positives.append(tp)
    return voc07_eleven_point_ap(precision, true_positives, npos)


# ------------------------------------------------------------------- Table II: Otsu F-measure


def upsample(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize with half-pixel centres (torch's interpolate, align_corners=False), float32."""
    tensor = torch.from_numpy(np.ascontiguousarray(heatmap, dtype=np.float32))[None, None]
    return torch.nn.functional.interpolate(tensor, size=(height, width), mode="bilinear",
                                           align_corners=False)[0, 0].numpy()


def union_of_boxes_mask(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """GWAP paper IV-B: "we aggregate regions of multi boxes into one region": every box of the image
    (all classes, difficult included), VOC 1-based inclusive corners -> rows y1-1..y2-1, cols x1-1..x2-1."""
    mask = np.zeros((height, width), dtype=bool)
    for x1, y1, x2, y2 in boxes:
        mask[max(int(y1) - 1, 0): int(y2), max(int(x1) - 1, 0): int(x2)] = True
    return mask


def otsu_fmeasure(heatmap: np.ndarray, gt_mask: np.ndarray, beta2: float = 0.3) -> float:
    """GWAP paper IV-B: the map normalized to [0, 1], binarized by Otsu (skimage's threshold_otsu,
    foreground > t), P = |M and G| / |M|, R = |M and G| / |G|, F = (1 + b2) P R / (b2 P + R);
    F = 0 for a constant map or P + R = 0."""
    low, high = heatmap.min(), heatmap.max()
    if high == low:
        return 0.0
    unit = (heatmap - low) / (high - low)
    foreground = unit > threshold_otsu(unit)
    hits = int(np.sum(foreground & gt_mask))
    precision = hits / int(foreground.sum()) if foreground.any() else 0.0
    recall = hits / int(gt_mask.sum()) if gt_mask.any() else 0.0
    if precision + recall == 0:
        return 0.0
    return (1 + beta2) * precision * recall / (beta2 * precision + recall)


def centre_prior(height: int, width: int, sigma: float = 0.25) -> np.ndarray:
    """The Table II baseline as docs/tables-voc.md states it: a Gaussian centred on the image, sigma = 1/4 of
    each side, evaluated at pixel centres, float32."""
    y = np.arange(height, dtype=np.float64)[:, None] + 0.5
    x = np.arange(width, dtype=np.float64)[None, :] + 0.5
    exponent = ((x - width / 2) / (sigma * width)) ** 2 + ((y - height / 2) / (sigma * height)) ** 2
    return np.exp(-exponent / 2).astype(np.float32)


# ------------------------------------------------------------- Table III: top-k by sorting


def ranked(scores: np.ndarray) -> list[int]:
    """Class indices by descending score, ties to the lower index (Python's sort is stable)."""
    return sorted(range(len(scores)), key=lambda c: -float(scores[c]))


def topk_error(logits: np.ndarray, labels: list[int], k: int) -> float:
    """ILSVRC `eval_flat` with k guesses, in percent: an image is wrong when its class is not among
    the k highest-scored classes."""
    wrong = sum(label not in ranked(row)[:k] for row, label in zip(logits, labels))
    return 100 * wrong / len(labels)


# ---------------------------------------------------- Table IV: heat map -> box -> eval_clsloc

# The paper (IV-B, IV-C) normalizes GWAP's weight map to [0, 1] and then, "similarly as in [6]",
# thresholds it at 20 % and boxes the largest connected component. CAM maps follow the CAM paper:
# "the regions of which the value is above 20% of the max value of the CAM" (no min subtracted; the CAM
# release divides by the max and clips at 0, which keeps the same pixels).
NORMALIZED_MAP_KINDS = frozenset({"alpha"})
# Where the [0, 1] normalization happens relative to the bilinear upsampling to the image (the paper does
# not say): "upsample_then_normalize" (the order of the paper's sentences: the heat map at image size is
# normalized, foreground = normalized > t) or "normalize_then_upsample" (each stored map min-max normalized
# at its own resolution, then upsampled; several scales averaged and the mean normalized again; foreground
# > t x max of that map). gwapbench documents the second (docs/ilsvrc.md: it keeps the compiled upsampling
# kernel); the two orders differ only where the upsampling misses a feature map's extreme.
NORMALIZATION_ORDER = "normalize_then_upsample"
CAM_THRESHOLD = 0.2


def minmax(heatmap: np.ndarray) -> np.ndarray:
    """(h - min h) / (max h - min h); a constant map gives zeros."""
    low, high = heatmap.min(), heatmap.max()
    return np.zeros_like(heatmap) if high == low else (heatmap - low) / (high - low)


def foreground(scale_maps: list[np.ndarray], kind: str, height: int, width: int,
               threshold: float = CAM_THRESHOLD, order: str | None = None) -> np.ndarray:
    """The thresholded heat map of one image at image size: the maps of each scale upsampled and averaged
    (Table IV's multi-scale row; one map for single scale), normalized as NORMALIZED_MAP_KINDS and `order`
    (default NORMALIZATION_ORDER) say, then pixels above `threshold` x the max."""
    normalize = kind in NORMALIZED_MAP_KINDS
    order = order or NORMALIZATION_ORDER
    if normalize and order == "normalize_then_upsample":
        scale_maps = [minmax(m.astype(np.float32)) for m in scale_maps]
    elif order not in ("upsample_then_normalize", "normalize_then_upsample"):
        raise ValueError(f"unknown normalization order {order!r}")
    heat = np.mean([upsample(m, height, width) for m in scale_maps], axis=0).astype(np.float32)
    if normalize and (order == "upsample_then_normalize" or len(scale_maps) > 1):
        heat = minmax(heat)
    return heat > threshold * heat.max()


def largest_component_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """CAM: the bounding box (x1, y1, x2, y2, 0-based inclusive pixels) of the largest 8-connected component
    of `mask` (scipy.ndimage.label; equal sizes: the lower label, the one met first in raster order);
    (0, 0, 0, 0) without foreground."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=int))
    if count == 0:
        return (0, 0, 0, 0)
    sizes = [int(np.sum(labels == label)) for label in range(1, count + 1)]
    rows, cols = np.nonzero(labels == 1 + sizes.index(max(sizes)))
    return (int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max()))


def iou_plus_one(a, b) -> float:
    """IoU with the +1 pixel convention of the ILSVRC devkit and VOC: inclusive corners."""
    iw = min(a[2], b[2]) - max(a[0], b[0]) + 1
    ih = min(a[3], b[3]) - max(a[1], b[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1) - inter
    return inter / union


def eval_clsloc_correct(guesses: list[tuple[int, tuple[int, int, int, int]]], gt_boxes: np.ndarray,
                        gt_labels: list[int]) -> bool:
    """ILSVRC devkit `eval_clsloc` for one image with k guesses (class, box): correct when some guess has a
    class of the image's GT boxes and IoU >= 0.5 with one of that class's boxes."""
    return any(iou_plus_one(box, g) >= 0.5 for guess, box in guesses for g, c in zip(gt_boxes, gt_labels)
               if c == guess)


# --------------------------------------------------------------- Table V: py-faster-rcnn voc_eval


def voc_eval(detections: list[tuple[np.ndarray, np.ndarray, np.ndarray]], truth: list[Annotation],
             class_name: str, class_index: int, strict: bool) -> float:
    """py-faster-rcnn `voc_eval` (use_07_metric=True) for one class, detection by detection.

    GT: the image's objects of the class, npos = number not difficult. Detections of the class from all
    images, sorted by descending confidence (a stable sort here: py-faster-rcnn's np.argsort quicksort
    leaves ties to the implementation; the devkit's MATLAB sort is stable). Each detection: ovmax = the
    largest IoU (+1 convention) with the image's GT boxes of the class, jmax its first argmax; if
    ovmax > 0.5 (strict, py-faster-rcnn) or >= 0.5 (VOCevaldet): a difficult GT -> neither TP nor FP, a GT
    not yet detected -> TP (now detected), else FP; below -> FP. rec = tp / npos, prec = tp / (tp + fp);
    11-point AP (py-faster-rcnn's float thresholds when strict, the exact ones otherwise). NaN when npos = 0.
    """
    gt = []
    npos = 0
    for annotation in truth:
        keep = [i for i, name in enumerate(annotation.names) if name == class_name]
        gt.append((annotation.boxes[keep], annotation.difficult[keep], [False] * len(keep)))
        npos += int(np.sum(~annotation.difficult[keep]))
    if npos == 0:
        return math.nan
    image_of, confidence, boxes = [], [], []
    for image, (det_boxes, det_scores, det_labels) in enumerate(detections):
        for box, score, label in zip(det_boxes, det_scores, det_labels):
            if int(label) == class_index:
                image_of.append(image)
                confidence.append(float(score))
                boxes.append(np.asarray(box, dtype=np.float64))
    order = np.argsort(-np.array(confidence, dtype=np.float64), kind="stable")
    tp_count = fp_count = 0
    precision, recall, true_positives = [], [], []
    for d in order:
        bbgt, difficult, detected = gt[image_of[d]]
        ovmax, jmax = -math.inf, -1
        for j, g in enumerate(bbgt):
            overlap = iou_plus_one(boxes[d], g)
            if overlap > ovmax:
                ovmax, jmax = overlap, j
        hit = ovmax > 0.5 if strict else ovmax >= 0.5
        if not (hit and difficult[jmax]):  # a difficult GT: the detection stays ranked, neither TP nor FP
            if hit and not detected[jmax]:
                detected[jmax] = True
                tp_count += 1
            else:
                fp_count += 1
        ranked_so_far = tp_count + fp_count
        if strict:  # prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
            precision.append(tp_count / max(ranked_so_far, np.finfo(np.float64).eps))
        else:  # MATLAB: prec = tp ./ (fp + tp), NaN before the first TP or FP
            precision.append(tp_count / ranked_so_far if ranked_so_far else math.nan)
        recall.append(tp_count / npos)
        true_positives.append(tp_count)
    if strict:
        return voc07_eleven_point_ap_py_faster_rcnn(precision, recall)
    return voc07_eleven_point_ap(precision, true_positives, npos)


def stored_detection_map(predictions: Path, voc_root: Path, classes: list[str], strict: bool) -> float:
    """Table V's number, in percent, of one run's predictions.npz: per test image (ids from the file, their
    XMLs under `voc_root`) the stored detections (`det_boxes` VOC 1-based corners, `det_scores`, `det_labels`
    class indices into `classes`, `det_image` the image's row), `voc_eval` per class, the mean over the
    classes with non-difficult GT."""
    with np.load(predictions, allow_pickle=False) as stored:
        ids = [str(i) for i in stored["image_ids"]]
        owner = stored["det_image"]
        detections = [(stored["det_boxes"][owner == i], stored["det_scores"][owner == i],
                       stored["det_labels"][owner == i]) for i in range(len(ids))]
    truth = [read_annotation(voc_root / "Annotations" / f"{image}.xml") for image in ids]
    ap = [voc_eval(detections, truth, name, c, strict) for c, name in enumerate(classes)]
    return 100 * float(np.nanmean(ap))
