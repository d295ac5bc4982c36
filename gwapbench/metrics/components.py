"""8-connected components of binary masks, with boxes (the level-set sweep is `level_sweep`).

Boxes are 0-based inclusive (x1, y1, x2, y2) indices into the mask. 8-connectivity is also what
OpenCV's contour following uses for foreground; see docs/metrics.md for where contours differ.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
EMPTY_BOX = (0, 0, 0, 0)  # the box reported where a mask has no foreground (as wsolevaluation)


def largest_component_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Inclusive box of the largest 8-connected component of a 2-D boolean mask (`EMPTY_BOX` if none).

    `ndimage.label` numbers components in raster order and argmax takes the first maximum, so of
    equal-size components the one whose first pixel comes first in row-major order wins.
    """
    labels, count = ndimage.label(mask, structure=EIGHT_CONNECTED)
    if count == 0:
        return EMPTY_BOX
    best = int(np.argmax(np.bincount(labels.reshape(-1))[1:])) + 1
    rows, cols = ndimage.find_objects(labels, max_label=best)[best - 1]
    return (cols.start, rows.start, cols.stop - 1, rows.stop - 1)
