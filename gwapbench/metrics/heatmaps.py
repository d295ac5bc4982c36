"""Heat-map helpers shared by every heat-map metric: resize, min-max normalize, multi-scale average.

Resizing is bilinear with half-pixel centers (`align_corners=False`, the convention of
torch's `interpolate`, OpenCV's `cv2.resize` and PIL), so a map covering the whole image at any
resolution is stretched onto the image's pixel grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from gwapbench.metrics._validation import as_array


def check_heatmap(heatmap: object, name: str = "heatmap") -> np.ndarray:
    """A 2-D finite float array (float32 kept, anything else as float64); ValueError naming `name`."""
    arr = heatmap.detach().cpu().numpy() if hasattr(heatmap, "detach") else np.asarray(heatmap)
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    arr = as_array(arr, name, ndim=2, dtype=dtype)
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    return arr


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
    if int(height) < 1 or int(width) < 1:
        raise ValueError(f"height and width must be positive, got {height}x{width}")
    return resize_heatmap_tensor(torch.from_numpy(np.ascontiguousarray(arr)), int(height), int(width)).numpy()


def minmax_normalize(heatmap: object) -> np.ndarray:
    """(h - min h) / (max h - min h); a constant map gives all zeros (as wsolevaluation)."""
    arr = check_heatmap(heatmap)
    low, high = arr.min(), arr.max()
    if high == low:
        return np.zeros_like(arr)
    return (arr - low) / (high - low)


def multiscale_average(heatmaps: Sequence[object], height: int, width: int) -> np.ndarray:
    """Mean of the maps of one image computed at several input scales, each resized to (height, width).

    Table IV's last row averages the maps from inputs of 224, 448 and 672 pixels.
    """
    if len(heatmaps) == 0:
        raise ValueError("heatmaps is empty: give at least one map")
    resized = [resize_heatmap(check_heatmap(h, f"heatmaps[{i}]"), height, width) for i, h in enumerate(heatmaps)]
    return np.mean(np.stack(resized), axis=0)
