"""Metrics with exactly specified semantics (see docs/metrics.md).

Numpy in, numpy out: each metric is a pure function over whole arrays plus an accumulator
(`update` per batch, `merge` across processes, `compute` at the end). `__all__` is the public API;
the compiled kernels behind it live in `gwapbench.metrics._kernels`.

The names below are imported on first use (PEP 562 `__getattr__`), so that importing a light module
(e.g. `gwapbench.metrics.box_methods` from the CLI, for its choices) does not load torch. `pxap` names
both a submodule and its function: the package attribute stays the function (as `from gwapbench.metrics
import pxap` always gave), even after the submodule is first imported.
"""

from __future__ import annotations

import sys
import types

from gwapbench.lazy import lazy_exports

_SOURCES: dict[str, tuple[str, ...]] = {
    "ap": ("AP_RULES", "mean_ap"),
    "box_methods": ("BOX_CONVENTIONS", "BOX_METHODS", "DEFAULT_BOX_METHOD"),
    "classification": ("TopKError", "VOCClassificationAP", "topk_error", "voc_classification_ap"),
    "detection": ("VOCDetectionAP", "voc_detection_ap"),
    "heatmaps": ("NORMALIZATIONS", "minmax_normalize", "multiscale_average", "normalize_heatmap", "resize_heatmap"),
    "localization": (
        "LocalizationError", "MaxBoxAcc", "MaxBoxAccOptions", "best_box_ious", "gt_known_accuracy", "heatmap_to_box",
        "heatmaps_to_boxes", "localization_error", "max_box_acc", "max_box_acc_v2",
    ),
    "pxap": ("DEFAULT_CAM_CURVE_INTERVAL", "PxAP", "pxap", "pxap_curve"),
    "saliency": ("OtsuFMeasure", "boxes_to_mask", "otsu_fmeasure", "otsu_mask"),
    "wsol_frame": ("FramedBoxAcc", "frame_gt_boxes"),
}  # fmt: skip
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}

__all__, __getattr__, __dir__ = lazy_exports(__name__, _SOURCES)


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: object) -> None:
        """The import system binds a submodule to its package's attribute once loaded; for a submodule named
        like one of its public functions (pxap), bind the function."""
        if isinstance(value, types.ModuleType) and name in _MODULE_OF:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
