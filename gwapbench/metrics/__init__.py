"""Metrics with exactly specified semantics (see docs/metrics.md).

Numpy in, numpy out: each metric is a pure function over whole arrays plus an accumulator
(`update` per batch, `merge` across processes, `compute` at the end).
"""

from gwapbench.metrics.ap import mean_ap
from gwapbench.metrics.classification import TopKError, VOCClassificationAP, topk_error, voc_classification_ap
from gwapbench.metrics.detection import VOCDetectionAP, voc_detection_ap
from gwapbench.metrics.heatmaps import (
    NORMALIZATIONS,
    minmax_normalize,
    multiscale_average,
    normalize_heatmap,
    resize_heatmap,
)
from gwapbench.metrics.localization import (
    LocalizationError,
    MaxBoxAcc,
    MaxBoxAccOptions,
    best_box_ious,
    gt_known_accuracy,
    heatmap_to_box,
    heatmaps_to_boxes,
    localization_error,
    max_box_acc,
    max_box_acc_v2,
)
from gwapbench.metrics.pxap import DEFAULT_CAM_CURVE_INTERVAL, PxAP, pxap, pxap_curve
from gwapbench.metrics.saliency import OtsuFMeasure, boxes_to_mask, otsu_fmeasure, otsu_mask
from gwapbench.metrics.wsol_frame import FramedBoxAcc, frame_gt_boxes

__all__ = [
    "FramedBoxAcc",
    "NORMALIZATIONS",
    "best_box_ious",
    "frame_gt_boxes",
    "boxes_to_mask",
    "gt_known_accuracy",
    "heatmap_to_box",
    "heatmaps_to_boxes",
    "localization_error",
    "LocalizationError",
    "max_box_acc",
    "max_box_acc_v2",
    "MaxBoxAcc",
    "MaxBoxAccOptions",
    "mean_ap",
    "minmax_normalize",
    "multiscale_average",
    "normalize_heatmap",
    "otsu_fmeasure",
    "otsu_mask",
    "OtsuFMeasure",
    "pxap",
    "pxap_curve",
    "DEFAULT_CAM_CURVE_INTERVAL",
    "PxAP",
    "resize_heatmap",
    "topk_error",
    "TopKError",
    "voc_classification_ap",
    "voc_detection_ap",
    "VOCClassificationAP",
    "VOCDetectionAP",
]
