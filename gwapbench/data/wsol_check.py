"""Check a wsolevaluation metadata folder alone, without its images (`check-data --metadata-only`).

Beyond what reading it checks (every file present, rows of the right number of fields, numbers that
parse, each id with a class label in range, an image size and a localization row, OpenImages' ignore
mask on an image's first row only), the metadata must be consistent, as wsolevaluation's evaluators
assume it is: ids unique; no row in class_labels.txt, image_sizes.txt or localization.txt for an id
that image_ids.txt does not list; sizes positive; for box metadata (ILSVRC, CUB) at least one box per
image, each with x0 <= x1 and y0 <= y1 inside its image (0 <= x0, x1 <= width, the same for y); for
mask metadata (OpenImages), with a mask root, every foreground and ignore mask file present with a
readable PNG header of an accepted mode (not decoded).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gwapbench.data.ilsvrc import read_metadata_rows
from gwapbench.data.roots import DatasetRead, read_wsol_root
from gwapbench.data.wsol_masks import open_mask_png
from gwapbench.errors import InputError


@dataclass(frozen=True)
class MetadataCheck:
    """A checked metadata folder: what it read, and how many mask files were opened (None: not checked)."""

    dataset: DatasetRead
    masks_checked: int | None


def _check_ids(folder: Path, files: tuple[str, ...]) -> None:
    ids = [row[0] for row in read_metadata_rows(folder / "image_ids.txt", 1)]
    repeated = [image for image, count in Counter(ids).items() if count > 1]
    if repeated:
        raise InputError(f"{folder / 'image_ids.txt'}: image {repeated[0]} listed more than once")
    listed = set(ids)
    for name in files:
        for lineno, row in enumerate(read_metadata_rows(folder / name, 1), start=1):
            if row[0] not in listed:
                raise InputError(f"{folder / name}:{lineno}: image {row[0]} is not in image_ids.txt")


def _check_boxes(dataset: DatasetRead) -> None:
    folder = dataset.images_root
    for sample in dataset.samples:
        name = sample.image_path.relative_to(folder)
        if sample.width <= 0 or sample.height <= 0:
            raise InputError(f"{folder / 'image_sizes.txt'}: image {name} has size {sample.width}x{sample.height}")
        if len(sample.boxes) == 0:
            raise InputError(f"{folder / 'localization.txt'}: image {name} has no box")
        x0, y0, x1, y1 = sample.boxes.T
        inside = (0 <= x0) & (x0 <= x1) & (x1 <= sample.width) & (0 <= y0) & (y0 <= y1) & (y1 <= sample.height)
        if not inside.all():
            box = sample.boxes[np.flatnonzero(~inside)[0]].tolist()
            raise InputError(f"{folder / 'localization.txt'}: box {box} of image {name} is reversed or outside "
                             f"its {sample.width}x{sample.height} image")


def check_wsol_metadata(folder: Path, mask_root: Path | None = None) -> MetadataCheck:
    """Read and check the metadata folder (see the module docstring); InputError at the first problem.

    Mask files are opened under `mask_root` (wsolevaluation's <mask_root>/OpenImages) when it is given.
    """
    dataset = read_wsol_root(folder)
    if dataset.mask_entries is None:
        if mask_root is not None:
            raise InputError(f"--mask-root applies to mask metadata (OpenImages); {folder} holds boxes")
        _check_ids(folder, ("class_labels.txt", "image_sizes.txt", "localization.txt"))
        _check_boxes(dataset)
        return MetadataCheck(dataset, None)
    _check_ids(folder, ("class_labels.txt", "localization.txt"))
    if mask_root is None:
        return MetadataCheck(dataset, None)
    paths = [path for entry in dataset.mask_entries for path in (*entry.mask_paths, entry.ignore_path) if path]
    for path in paths:
        with open_mask_png(mask_root / path):
            pass
    return MetadataCheck(dataset, len(paths))
