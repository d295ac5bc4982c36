"""Evaluate any method's stored heat maps (`gwapbench evaluate`): map stores, class predictions, metrics."""

from gwapbench.evaluation.evaluate import METRICS, ON_MISSING_CHOICES, evaluate_heatmaps
from gwapbench.evaluation.heatmaps_io import HeatmapStore, match_keys, open_heatmaps, sample_keys
from gwapbench.evaluation.predictions import ClassPredictions, read_predictions

__all__ = [
    "METRICS",
    "ON_MISSING_CHOICES",
    "ClassPredictions",
    "HeatmapStore",
    "evaluate_heatmaps",
    "match_keys",
    "open_heatmaps",
    "read_predictions",
    "sample_keys",
]
