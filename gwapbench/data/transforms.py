"""Boxes as the torch datasets carry them (`engine/batches.py`, `engine/detection_data.py`).

Box convention inside tensors: 0-based continuous corners x1, y1, x2, y2 in pixels, where the
pixel with 0-based index i covers [i, i + 1) -- what torchvision detection models expect. A file
box with inclusive integer corners and first pixel index `first_pixel` (1 for VOC, 0 for ILSVRC)
maps to (xmin - first_pixel, ymin - first_pixel, xmax - first_pixel + 1, ymax - first_pixel + 1),
so an image-wide VOC box (1, 1, W, H) becomes (0, 0, W, H). In this convention resizing scales
coordinates by new/old size exactly, and a horizontal flip maps x to W - x (x1' = W - x2, x2' = W - x1).
"""

from __future__ import annotations

import numpy as np
import torch


def file_boxes_to_tensor(boxes: np.ndarray, first_pixel: int) -> torch.Tensor:
    """(G, 4) inclusive file corners with first pixel index `first_pixel` -> float32 0-based continuous corners."""
    if first_pixel not in (0, 1):
        raise ValueError(f"first_pixel: expected 0 (ILSVRC) or 1 (VOC), got {first_pixel}")
    shift = np.array([first_pixel, first_pixel, first_pixel - 1, first_pixel - 1], dtype=np.float64)
    return torch.from_numpy((np.asarray(boxes, dtype=np.float64).reshape(-1, 4) - shift).astype(np.float32))


def hflip_boxes(boxes: torch.Tensor, width: int) -> torch.Tensor:
    """(G, 4) continuous corners mirrored left-right in an image `width` wide: (W - x2, y1, W - x1, y2)."""
    return torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)
