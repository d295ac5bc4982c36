"""ILSVRC validation ground truth readers.

Class index = position of the wnid in sorted-wnid order (the order of `LOC_synset_mapping.txt`
and of torchvision's `ImageFolder`), never the devkit's ILSVRC2012_ID order.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from gwapbench.data.sample import Sample
from gwapbench.errors import InputError

ILSVRC_NUM_CLASSES = 1000


def _read_rows(path: Path, min_fields: int) -> list[list[str]]:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    for lineno, row in enumerate(rows, start=1):
        if len(row) < min_fields:
            raise InputError(f"{path}:{lineno}: expected {min_fields} comma-separated fields, got {len(row)}")
    return rows


def read_wsol_metadata(
    folder: str | Path,
    images_root: str | Path = ".",
    num_classes: int = ILSVRC_NUM_CLASSES,
) -> list[Sample]:
    """Read wsolevaluation-style metadata (`image_ids.txt`, `class_labels.txt`, `image_sizes.txt`,
    `localization.txt`) into samples, in `image_ids.txt` order.

    Boxes are `x0, y0, x1, y1` as in the official XMLs (inclusive corners); labels are
    sorted-wnid class indices, stored as a one-hot 1/-1 `labels` vector.
    """
    folder = Path(folder)
    ids = [row[0] for row in _read_rows(folder / "image_ids.txt", 1)]
    try:
        label_of = {row[0]: int(row[1]) for row in _read_rows(folder / "class_labels.txt", 2)}
        size_of = {row[0]: (int(row[1]), int(row[2])) for row in _read_rows(folder / "image_sizes.txt", 3)}
        boxes_of: dict[str, list[list[float]]] = defaultdict(list)
        for row in _read_rows(folder / "localization.txt", 5):
            boxes_of[row[0]].append([float(v) for v in row[1:5]])
    except ValueError as err:
        if isinstance(err, InputError):
            raise
        raise InputError(f"{folder}: malformed number in wsolevaluation metadata ({err})") from err

    samples = []
    for image in ids:
        if image not in label_of or image not in size_of:
            raise InputError(f"{folder}: image {image} lacks a class label or an image size")
        label = label_of[image]
        if not 0 <= label < num_classes:
            raise InputError(f"{folder / 'class_labels.txt'}: label {label} of {image} outside 0..{num_classes - 1}")
        labels = np.full(num_classes, -1, dtype=np.int8)
        labels[label] = 1
        boxes = np.array(boxes_of.get(image, []), dtype=np.float64).reshape(-1, 4)
        width, height = size_of[image]
        samples.append(
            Sample(
                image_id=Path(image).stem,
                image_path=Path(images_root) / image,
                width=width,
                height=height,
                labels=labels,
                boxes=boxes,
                box_labels=np.full(len(boxes), label, dtype=np.int64),
                difficult=np.zeros(len(boxes), dtype=bool),
            )
        )
    return samples
