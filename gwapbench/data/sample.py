"""The one record type every reader produces."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def _empty_boxes() -> np.ndarray:
    return np.zeros((0, 4), dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Sample:
    """One image with its image-level labels and its boxes.

    Attributes:
        image_id: the dataset's id of the image (VOC "000001", ILSVRC "ILSVRC2012_val_00000001").
        image_path: path of the image file.
        width, height: image size in pixels, as the annotation states it.
        labels: (C,) int8 image-level labels, 1 = present, -1 = absent, 0 = present only as
            difficult objects (VOC's `<cls>_<split>.txt` semantics; excluded from AP).
        boxes: (G, 4) float64 x1, y1, x2, y2 in the dataset's own pixel convention
            (VOC and ILSVRC XMLs: inclusive corners, evaluated with the +1 area convention).
        box_labels: (G,) int64 class index of each box.
        difficult: (G,) bool difficult flag of each box (always False for ILSVRC).
    """

    image_id: str
    image_path: Path
    width: int
    height: int
    labels: np.ndarray
    boxes: np.ndarray = field(default_factory=_empty_boxes)
    box_labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    difficult: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    @property
    def num_classes(self) -> int:
        return int(self.labels.shape[0])

    @property
    def positive_classes(self) -> np.ndarray:
        """Indices of the classes labelled 1."""
        return np.flatnonzero(self.labels == 1)


def image_labels_from_boxes(box_labels: np.ndarray, difficult: np.ndarray, num_classes: int) -> np.ndarray:
    """VOC image-level labels from the boxes: 1 if a non-difficult box of the class, 0 if only difficult ones, else -1."""
    labels = np.full(num_classes, -1, dtype=np.int8)
    labels[box_labels[difficult]] = 0
    labels[box_labels[~difficult]] = 1
    return labels
