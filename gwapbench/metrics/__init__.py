"""Metrics with exactly specified semantics (see docs/metrics.md).

Numpy in, numpy out: each metric is a pure function over whole arrays plus an accumulator
(`update` per batch, `merge` across processes, `compute` at the end).
"""

from gwapbench.metrics.ap import mean_ap
from gwapbench.metrics.classification import TopKError, VOCClassificationAP, topk_error, voc_classification_ap
from gwapbench.metrics.detection import VOCDetectionAP, voc_detection_ap
from gwapbench.metrics.heatmaps import minmax_normalize, multiscale_average, resize_heatmap
from gwapbench.metrics.localization import (
    LocalizationError,
    MaxBoxAcc,
    gt_known_accuracy,
    heatmap_to_box,
    heatmaps_to_boxes,
    localization_error,
    max_box_acc,
    max_box_acc_v2,
)
from gwapbench.metrics.pxap import PxAP, pxap
from gwapbench.metrics.saliency import OtsuFMeasure, boxes_to_mask, otsu_fmeasure

__all__ = [
    "OtsuFMeasure", "boxes_to_mask", "otsu_fmeasure", "PxAP", "pxap",
    "minmax_normalize", "multiscale_average", "resize_heatmap",
    "LocalizationError", "MaxBoxAcc", "gt_known_accuracy", "heatmap_to_box", "heatmaps_to_boxes",
    "localization_error", "max_box_acc", "max_box_acc_v2",
]
__all__ += ["mean_ap", "voc_classification_ap", "VOCClassificationAP", "topk_error", "TopKError"]
__all__ += ["voc_detection_ap", "VOCDetectionAP"]
