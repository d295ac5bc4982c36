"""Fig. 9: per test image, R-FCN's detections beside the GT boxes (both named), and the class-specific
weight map alpha_c of the top detection's class (Table V's runs with a GWAP branch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gwapbench.data.sample import Sample
from gwapbench.figures.layout import Box, ColourScale, FigureLayout, Panel, gt_boxes, range_note, shown_map
from gwapbench.metrics import resize_heatmap

DETECTION_SCORE = 0.5  # Fig. 9 draws the detections scoring at least this (the top one at least)
SCALE = ColourScale("alpha_c", "GWAP branch weight map alpha_c, min-max normalized per map")


def shown_detections(scores: np.ndarray) -> np.ndarray:
    """Indices of the detections drawn: those scoring >= DETECTION_SCORE, else the top one (if any)."""
    shown = np.flatnonzero(scores >= DETECTION_SCORE)
    return shown if len(shown) else np.argsort(-scores, kind="stable")[:1]


def top_class(scores: np.ndarray, labels: np.ndarray, alpha: np.ndarray) -> int:
    """The top detection's class; without detections, the class whose weight map peaks highest."""
    if len(scores):
        return int(labels[np.argmax(scores)])
    return int(alpha.reshape(len(alpha), -1).max(axis=1).argmax())


def fig9_layout(samples: Sequence[Sample], detections: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
                weight_maps: Sequence[np.ndarray], class_names: Sequence[str], source: str) -> FigureLayout:
    """Per sample: its (boxes, scores, labels) detections (VOC inclusive corners) `shown_detections` with
    class and score, its GT boxes with class names, and alpha_c (C, h, w) of `top_class`, bilinear to the image."""
    rows = []
    for sample, (boxes, scores, labels), alpha in zip(samples, detections, weight_maps):
        shown = shown_detections(scores)
        found = tuple(Box(tuple(float(v) for v in boxes[i]), "detection", f"{class_names[labels[i]]} {scores[i]:.2f}")
                      for i in shown)
        truth = gt_boxes(sample.boxes, [class_names[c] for c in sample.box_labels])
        cls = top_class(scores, labels, alpha)
        image_map = resize_heatmap(alpha[cls].astype(np.float32), sample.height, sample.width)
        note = f"alpha_c of {class_names[cls]}, {range_note(image_map)}"
        rows.append((sample.image_path, (
            Panel(boxes=(*truth, *found), note=f"{sample.image_id}: {len(shown)} of {len(scores)} detections drawn"),
            Panel(shown_map(image_map), SCALE.kind, gt_boxes(sample.boxes), note=note))))
    legend = (f"yellow: detections scoring >= {DETECTION_SCORE} (else the top one), with class and score; "
              "green: GT boxes with their class; right: the weight map of the top detection's class")
    return FigureLayout(title=f"Fig. 9: R-FCN detections and the GWAP branch's class-specific weight map ({source})",
                        columns=(f"detections (score >= {DETECTION_SCORE}) and GT boxes",
                                 "weight map alpha_c of the top detection's class"),
                        rows=tuple(rows), scales=(SCALE,), first_pixel=1, legend=legend)
