"""What a figure shows, as data: rows of panels over an image, each with its map, boxes and note.

Figures are built as a `FigureLayout` first, so that tests can compare what is drawn with what the
tables compute; `gwapbench.figures.render` turns a layout into a PNG.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gwapbench.metrics import minmax_normalize

# Colours shared by every figure (named matplotlib colours, each drawn with a black outline).
GT_COLOUR = "lime"
PREDICTED_COLOUR = "magenta"
DETECTION_COLOUR = "yellow"
MASK_COLOUR = "white"
UNIT_RANGE = (0.0, 1.0)  # the colour range of every map: min-max normalized


@dataclass(frozen=True)
class Box:
    """One box: inclusive corners (x1, y1, x2, y2) in pixel indices counted from the layout's
    `first_pixel`; `role` is "gt", "predicted" or "detection" (the colour follows it)."""

    corners: tuple[float, float, float, float]
    role: str
    label: str = ""


@dataclass(frozen=True)
class ColourScale:
    """One colorbar: the map kind it labels and its range (every panel of the kind uses it)."""

    kind: str
    label: str
    limits: tuple[float, float] = UNIT_RANGE
    cmap: str = "jet"


@dataclass(frozen=True, eq=False)
class Panel:
    """One panel over an image: `heat` (H, W) drawn on the colour scale `kind` (None: the image alone),
    `boxes`, `mask` (H, W) bool whose outline is drawn, `note` under it, and `score`, the unrounded
    number the note reports (Fig. 7: the image's F; Fig. 8: the predicted box's IoU)."""

    heat: np.ndarray | None = None
    kind: str = ""
    boxes: tuple[Box, ...] = ()
    mask: np.ndarray | None = None
    note: str = ""
    score: float | None = None


@dataclass(frozen=True, eq=False)
class FigureLayout:
    """A figure: `title`, one title per column, per row an image file and its panels, the colour scales
    (one per map kind), the pixel index of the first pixel (VOC 1, ILSVRC 0) and a legend line."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Path, tuple[Panel, ...]], ...]
    scales: tuple[ColourScale, ...]
    first_pixel: int
    legend: str


def shown_map(heatmap: np.ndarray) -> np.ndarray:
    """The map as drawn: min-max normalized to [0, 1] (all zeros for a constant map)."""
    return minmax_normalize(heatmap)


def range_note(heatmap: np.ndarray) -> str:
    """"min/max 0.41": the raw map's minimum over its maximum (near 1: a nearly flat map); both values
    when the maximum is not positive."""
    low, high = float(heatmap.min()), float(heatmap.max())
    return f"min/max {low / high:.2f}" if high > 0 else f"min {low:.3g}, max {high:.3g}"


def gt_boxes(boxes: np.ndarray, labels: list[str] | None = None) -> tuple[Box, ...]:
    """The GT boxes of an image as `Box`es (with class names when given)."""
    names = labels if labels is not None else [""] * len(boxes)
    return tuple(Box(tuple(float(v) for v in b), "gt", name) for b, name in zip(boxes, names))
