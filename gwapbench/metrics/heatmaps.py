"""Heat-map helpers shared by every heat-map metric: resize, min-max normalize, multi-scale average.

Resizing is bilinear with half-pixel centers (`align_corners=False`, the convention of
torch's `interpolate`, OpenCV's `cv2.resize` and PIL), so a map covering the whole image at any
resolution is stretched onto the image's pixel grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from gwapbench.metrics._validation import check_heatmap, check_not_empty, check_size


def resize_heatmap_tensor(heatmap: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of a checked 2-D tensor to (height, width), half-pixel centers."""
    if tuple(heatmap.shape) == (height, width):
        return heatmap
    resized = torch.nn.functional.interpolate(
        heatmap[None, None], size=(height, width), mode="bilinear", align_corners=False
    )
    return resized[0, 0]


def resize_heatmap(heatmap: object, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a 2-D map to (height, width), half-pixel centers (align_corners=False)."""
    arr = check_heatmap(heatmap)
    height, width = check_size(height, "height"), check_size(width, "width")
    return resize_heatmap_tensor(torch.from_numpy(np.ascontiguousarray(arr)), height, width).numpy()


def minmax_normalize(heatmap: object) -> np.ndarray:
    """(h - min h) / (max h - min h); a constant map gives all zeros (as wsolevaluation)."""
    arr = check_heatmap(heatmap)
    low, high = arr.min(), arr.max()
    if high == low:
        return np.zeros_like(arr)
    return (arr - low) / (high - low)


NORMALIZATIONS = ("minmax", "none")


def normalize_heatmap(heatmap: object, how: str) -> np.ndarray:
    """The map as the box rule reads it: "minmax" (`minmax_normalize`, the paper's "heat map normalized
    to [0,1]", section IV-B) or "none" (as stored: the box rule's t x max already divides by the max,
    as the CAM release does)."""
    if how not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {how!r}")
    return minmax_normalize(heatmap) if how == "minmax" else check_heatmap(heatmap)


def multiscale_average(heatmaps: Sequence[object], height: int, width: int) -> np.ndarray:
    """Mean of the maps of one image computed at several input scales, each resized to (height, width).

    Table IV's last row averages the maps from inputs of 224, 448 and 672 pixels.
    """
    check_not_empty(len(heatmaps), "heatmaps", item="map")
    resized = [resize_heatmap(check_heatmap(h, f"heatmaps[{i}]"), height, width) for i, h in enumerate(heatmaps)]
    return np.mean(np.stack(resized), axis=0)
