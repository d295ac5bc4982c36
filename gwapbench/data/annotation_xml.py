"""PASCAL VOC-style annotation XML (VOC devkit, ILSVRC CLS-LOC bbox XMLs, labelImg output).

Each `<object>` gives `<name>`, optional `<difficult>` (0/1, absent = 0) and
`<bndbox>` with `xmin, ymin, xmax, ymax` (inclusive pixel corners, VOC 1-based, ILSVRC 0-based).
`<size>` gives `width` and `height`; 0 or absent means unknown (the reader then reads the image header).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gwapbench.data.bad_files import BadFileError

_CORNERS = ("xmin", "ymin", "xmax", "ymax")


@dataclass(frozen=True)
class XmlAnnotation:
    """The parsed content of one annotation file; width/height 0 when the XML does not state them."""

    width: int
    height: int
    boxes: np.ndarray  # (G, 4) float64
    box_labels: np.ndarray  # (G,) int64
    difficult: np.ndarray  # (G,) bool


def _number(text: str | None, field: str, default: float | None = None) -> float:
    """The number in `text` (an XML element's text); ValueError naming `field` when it is not a finite number."""
    if text is None or not text.strip():
        if default is None:
            raise ValueError(f"<{field}> is empty")
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"<{field}> is {text.strip()!r}, not a number") from None
    if not np.isfinite(value):
        raise ValueError(f"<{field}> is {text.strip()!r}, not a finite number")
    return value


def parse_annotation_xml(path: Path, class_index: Mapping[str, int]) -> XmlAnnotation:
    """Parse one annotation XML; BadFileError if missing, malformed, or naming a class not in `class_index`."""
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError as err:
        raise BadFileError(path, "annotation file not found") from err
    except ET.ParseError as err:
        raise BadFileError(path, f"malformed XML ({err})") from err
    try:
        width = int(_number(root.findtext("size/width"), "size/width", 0))
        height = int(_number(root.findtext("size/height"), "size/height", 0))
    except ValueError as err:
        raise BadFileError(path, f"malformed number: {err}") from err
    boxes, labels, difficult = [], [], []
    for number, obj in enumerate(root.iter("object"), start=1):
        name = (obj.findtext("name") or "").strip()
        if name not in class_index:
            given = f"not one of the {len(class_index)} classes given"
            raise BadFileError(path, f"object {number} has unknown class name {name!r} ({given})")
        box = obj.find("bndbox")
        if box is None:
            raise BadFileError(path, f"object {number} ({name}) has no <bndbox>")
        corners = [box.findtext(key) for key in _CORNERS]
        if any(value is None for value in corners):
            raise BadFileError(path, f"object {number} ({name}) lacks one of {', '.join(_CORNERS)}")
        try:
            boxes.append([_number(value, f"bndbox/{key}") for value, key in zip(corners, _CORNERS)])
            difficult.append(_number(obj.findtext("difficult"), "difficult", 0) != 0)
        except ValueError as err:
            raise BadFileError(path, f"object {number} ({name}): malformed number: {err}") from err
        labels.append(class_index[name])
    return XmlAnnotation(
        width=width,
        height=height,
        boxes=np.array(boxes, dtype=np.float64).reshape(-1, 4),
        box_labels=np.array(labels, dtype=np.int64),
        difficult=np.array(difficult, dtype=bool),
    )


def box_problems(boxes: np.ndarray, width: int, height: int) -> list[tuple[int, str]]:
    """(row, reason) for each box with inverted corners (xmax < xmin or ymax < ymin), zero area
    (xmax == xmin or ymax == ymin) or outside the image.

    Outside = a corner below 0 or beyond the width/height: this accepts both the 1-based
    (VOC, xmax <= width) and the 0-based (ILSVRC, xmax <= width - 1) inclusive conventions.
    """
    x1, y1, x2, y2 = boxes.T
    inverted = (x2 < x1) | (y2 < y1)
    zero_area = ~inverted & ((x2 == x1) | (y2 == y1))
    outside = ~inverted & ~zero_area & ((x1 < 0) | (y1 < 0) | (x2 > width) | (y2 > height))
    problems = []
    for row in np.flatnonzero(inverted | zero_area | outside):
        box_text = "box {} ({:g}, {:g}, {:g}, {:g})".format(row + 1, *boxes[row])
        if inverted[row]:
            axis = "x" if x2[row] < x1[row] else "y"
            reason = f"has {axis}max < {axis}min (inverted corners)"
        else:
            reason = "has zero area" if zero_area[row] else f"lies outside the {width}x{height} image"
        problems.append((int(row), f"{box_text} {reason}"))
    return problems
