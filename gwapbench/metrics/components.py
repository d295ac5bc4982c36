"""8-connected components of a stack of binary masks, with the area and bounding box of each.

One `scipy.ndimage.label` call labels the whole (S, H, W) stack with a structuring element that
connects only within a slice, so every slice is labeled independently (8-connectivity) in a
single C pass (OpenCV's contours are also 8-connected; components differ only where a hole's
inner contour would count as a contour, see docs). Labels are numbered in raster order (slice, row, column), so within a slice the
component whose first pixel comes first in row-major order has the smallest label.
Boxes are 0-based inclusive (x1, y1, x2, y2) indices into the mask.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

# Neighbours in the same slice only: 8-connectivity in 2-D, no link between slices.
_IN_SLICE_8 = np.zeros((3, 3, 3), dtype=bool)
_IN_SLICE_8[1] = True

EMPTY_BOX = (0, 0, 0, 0)  # the box reported where a mask has no foreground (as wsolevaluation)


@dataclass(frozen=True)
class Components:
    """All components of a (S, H, W) stack: slice index, pixel count and inclusive box of each."""

    slice_index: np.ndarray  # (L,) int64, non-decreasing
    area: np.ndarray  # (L,) int64
    boxes: np.ndarray  # (L, 4) int64 x1, y1, x2, y2


def label_components(masks: np.ndarray) -> Components:
    """Label each slice of a boolean (S, H, W) stack and measure every 8-connected component.

    Areas come from one bincount over the labels, boxes from `ndimage.find_objects` (one C pass);
    only the conversion of its per-component slices to integers runs in Python.
    """
    labels, count = ndimage.label(masks, structure=_IN_SLICE_8)
    area = np.bincount(labels.reshape(-1), minlength=count + 1)[1:]
    extents = np.fromiter(
        itertools.chain.from_iterable(
            (z.start, x.start, y.start, x.stop - 1, y.stop - 1) for z, y, x in ndimage.find_objects(labels)
        ),
        dtype=np.int64,
        count=5 * count,
    ).reshape(count, 5)
    return Components(slice_index=extents[:, 0].copy(), area=area.astype(np.int64), boxes=extents[:, 1:].copy())


def largest_component_boxes(components: Components, num_slices: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, 4) box of the largest component of each slice and (S,) bool "slice has foreground".

    Ties between equal areas go to the smaller label: the component whose first pixel comes
    first in row-major order. Slices without foreground get `EMPTY_BOX`.
    """
    boxes = np.tile(np.array(EMPTY_BOX, dtype=np.int64), (num_slices, 1))
    found = np.zeros(num_slices, dtype=bool)
    if len(components.area):
        label = np.arange(len(components.area))
        order = np.lexsort((label, -components.area, components.slice_index))
        slices = components.slice_index[order]
        leaders = order[np.r_[True, slices[1:] != slices[:-1]]]
        boxes[components.slice_index[leaders]] = components.boxes[leaders]
        found[components.slice_index[leaders]] = True
    return boxes, found
