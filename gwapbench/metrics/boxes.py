"""Box geometry shared by the metrics: inclusive pixel corners, areas with the +1 convention.

A box (x1, y1, x2, y2) covers the pixels x1..x2 and y1..y2, so its area is
(x2 - x1 + 1) * (y2 - y1 + 1), as in the VOC and ILSVRC devkits.
"""

from __future__ import annotations

import numpy as np


def rowwise_iou_plus_one(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(P,) IoU of box a[i] with box b[i] (not all pairs, as torchvision's `box_iou`), +1 convention;
    0 where they do not overlap."""
    iw = np.maximum(np.minimum(boxes_a[:, 2], boxes_b[:, 2]) - np.maximum(boxes_a[:, 0], boxes_b[:, 0]) + 1, 0)
    ih = np.maximum(np.minimum(boxes_a[:, 3], boxes_b[:, 3]) - np.maximum(boxes_a[:, 1], boxes_b[:, 1]) + 1, 0)
    intersection = iw * ih
    union = (
        (boxes_a[:, 2] - boxes_a[:, 0] + 1) * (boxes_a[:, 3] - boxes_a[:, 1] + 1)
        + (boxes_b[:, 2] - boxes_b[:, 0] + 1) * (boxes_b[:, 3] - boxes_b[:, 1] + 1)
        - intersection
    )
    return intersection / union
