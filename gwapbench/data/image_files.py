"""Image-file checks for the readers: size from the header, full decode on request."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from gwapbench.data.annotation_xml import box_problems
from gwapbench.data.bad_files import BadFileError, BadFileReport
from gwapbench.data.sample import Sample


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the image header only (Pillow opens lazily); BadFileError if unreadable."""
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError as err:
        raise BadFileError(path, "image file not found") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise BadFileError(path, f"not a readable image ({err})") from err


def verify_image(path: Path, width: int, height: int) -> None:
    """Decode the whole image (catches truncated or corrupt JPEGs) and check its size against the annotation."""
    try:
        with Image.open(path) as image:
            image.load()
            size = image.size
    except FileNotFoundError as err:
        raise BadFileError(path, "image file not found") from err
    except (OSError, SyntaxError, ValueError) as err:
        raise BadFileError(path, f"corrupt or truncated image ({err})") from err
    if size != (width, height):
        raise BadFileError(path, f"image is {size[0]}x{size[1]} but its annotation says {width}x{height}")


def check_annotated_image(
    annotation_path: Path,
    image_path: Path,
    width: int,
    height: int,
    boxes: np.ndarray,
    report: BadFileReport,
    verify_images: bool,
    record: str = "",
) -> tuple[int, int, np.ndarray]:
    """Resolve the image size and check the boxes of one annotated image.

    Size: the annotation's, else (0 or absent) the image header's. With `verify_images` the whole
    image is decoded. A zero-area or out-of-image box is a bad record: under "fail" it raises naming
    the annotation file; under "skip" it is reported and dropped, and the image is kept.
    File-level problems (missing, unreadable or mis-sized image) raise `BadFileError` for the caller.
    `record` names the image inside a multi-image annotation file (a CSV row) in box messages.
    Returns (width, height, keep) with `keep` the (G,) bool mask of good boxes.
    """
    if width <= 0 or height <= 0:
        width, height = image_size(image_path)
    if verify_images:
        verify_image(image_path, width, height)
    keep = np.ones(len(boxes), dtype=bool)
    for row, reason in box_problems(boxes, width, height):
        report.handle(BadFileError(annotation_path, f"{record}: {reason}" if record else reason), what="box")
        keep[row] = False
    return width, height, keep


def check_image_headers(samples: Sequence[Sample], report: BadFileReport) -> list[Sample]:
    """The samples whose image exists, whose header reads and gives the annotated size (no full decode).

    A cheap pass (one file open per image) for callers that must not trust the annotations alone:
    the others go to `report` (under "fail" the first one raises, under "skip" it is left out).
    """
    kept = []
    for sample in samples:
        try:
            size = image_size(Path(sample.image_path))
            if size != (sample.width, sample.height):
                raise BadFileError(
                    sample.image_path,
                    f"image is {size[0]}x{size[1]} but its annotation says {sample.width}x{sample.height}",
                )
        except BadFileError as err:
            report.handle(err)
            continue
        kept.append(sample)
    return kept
