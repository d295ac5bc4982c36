"""Argument checks shared by the metric kernels: each raises ValueError naming the argument.

The one home of the rules every metric applies up front: array conversion and finiteness, the
float32-or-float64 rule for maps, boolean masks and flags, class labels, k, IoU thresholds, boxes
and image sizes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def to_numpy(value: object) -> np.ndarray:
    """`value` as a numpy array; a torch tensor is detached and copied to the CPU (without importing torch)."""
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def as_array(
    value: object,
    name: str,
    *,
    ndim: int | None = None,
    dtype: type | np.dtype | None = np.float64,
    finite: bool = True,
) -> np.ndarray:
    """Convert `value` to a numpy array (torch tensors included) and check rank and finiteness."""
    arr = np.asarray(to_numpy(value), dtype=dtype)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if finite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def as_float_array(value: object, name: str, *, ndim: int | None = None, finite: bool = True) -> np.ndarray:
    """The float rule for maps: float32 stays float32 (computations run in it), anything else becomes float64."""
    arr = to_numpy(value)
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    return as_array(arr, name, ndim=ndim, dtype=dtype, finite=finite)


def check_heatmap(heatmap: object, name: str = "heatmap") -> np.ndarray:
    """A non-empty 2-D finite float map (float32 kept, anything else float64)."""
    arr = as_float_array(heatmap, name, ndim=2)
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    return arr


def map_range(values: Any, name: str) -> tuple[float, float]:
    """(min, max) of a flat torch tensor map in one pass; ValueError if it holds NaN or infinity.

    Finiteness comes from the range (min and max propagate NaN), saving a pass over the pixels.
    """
    low, high = (bound.item() for bound in values.aminmax())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return low, high


def as_bool(value: object, name: str) -> np.ndarray:
    """A boolean array: bool, or numbers that are all 0 or 1."""
    arr = to_numpy(value)
    if arr.dtype != bool:
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must be boolean (or hold only 0 and 1), got dtype {arr.dtype}")
        arr = arr.astype(bool)
    return arr


def check_map_mask_pairs(
    maps: Sequence[object], gt_masks: Sequence[object], maps_name: str = "maps"
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Validate per-image non-empty 2-D maps and same-shape boolean masks; return contiguous numpy pairs.

    Maps follow the float rule of `as_float_array`. Finiteness is left to `map_range`, which the
    kernels compute anyway, to avoid an extra pass over every pixel.
    """
    check_not_empty(check_same_length(**{maps_name: maps, "gt_masks": gt_masks}), maps_name)
    pairs = []
    for i, (raw_map, raw_mask) in enumerate(zip(maps, gt_masks)):
        image_map = as_float_array(raw_map, f"{maps_name}[{i}]", ndim=2, finite=False)
        mask = as_array(raw_mask, f"gt_masks[{i}]", ndim=2, dtype=None)
        if mask.shape != image_map.shape:
            raise ValueError(f"gt_masks[{i}] has shape {mask.shape} but {maps_name}[{i}] has {image_map.shape}")
        if image_map.size == 0:
            raise ValueError(f"{maps_name}[{i}] is empty (shape {image_map.shape})")
        mask = as_bool(mask, f"gt_masks[{i}]")
        pairs.append((np.ascontiguousarray(image_map), np.ascontiguousarray(mask)))  # torch needs positive strides
    return pairs


def check_same_length(**arrays: Sequence | np.ndarray) -> int:
    """Check that all arguments have the same first dimension and return it."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ValueError(f"length mismatch: {detail}")
    return next(iter(lengths.values()), 0)


def check_not_empty(count: int, what: str, item: str = "image") -> int:
    """The empty-input rule of every metric: no images at all is a ValueError, not NaN."""
    if count == 0:
        raise ValueError(f"{what} is empty: at least one {item} is needed")
    return count


def check_boxes(boxes: np.ndarray, name: str) -> np.ndarray:
    """Check an (M, 4) x1, y1, x2, y2 box array: finite, x2 >= x1 and y2 >= y1."""
    boxes = as_array(boxes, name)
    if boxes.size == 0:
        boxes = boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (M, 4), got {boxes.shape}")
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} has a box of negative size at row {i}: {boxes[i].tolist()}")
    return boxes


def check_class_labels(labels: object, name: str, num_classes: int) -> np.ndarray:
    """Integer class indices in 0..num_classes-1 (an integer dtype; empty arrays of any dtype), as int64."""
    labels = to_numpy(labels)
    if labels.size and labels.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integer class indices, got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"{name} must lie in 0..{num_classes - 1}, got range {labels.min()}..{labels.max()}")
    return labels.astype(np.int64)


def check_voc_labels(labels: object, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """VOC devkit image labels of `shape`: 1 positive, -1 negative, 0 difficult-only; returned as int8."""
    labels = as_array(labels, name, ndim=len(shape))
    if labels.shape != shape:
        raise ValueError(f"{name} shape {labels.shape} differs from scores shape {shape}")
    valid = np.isin(labels, (1, -1, 0))
    if not valid.all():
        raise ValueError(f"{name} must be 1, -1 or 0 (difficult-only), got {labels[~valid][0]!r}")
    return labels.astype(np.int8)


def check_not_zero_one(labels: np.ndarray, name: str, allow_no_negatives: bool) -> None:
    """Refuse 0/1 labels given where VOC 1 / -1 / 0 labels are expected.

    In VOC labels 0 means difficult (excluded), so 0/1 labels would drop every negative and give
    every class AP = 1. A matrix with 0s but no -1 anywhere is almost surely 0/1; the rare genuine
    case (every image positive or difficult) passes with `allow_no_negatives=True`.
    """
    if not allow_no_negatives and (labels == 0).any() and not (labels == -1).any():
        raise ValueError(
            f"{name} hold 0s but no -1: they look like 0/1 labels, but VOC labels are 1 (positive), -1 (negative) "
            "and 0 (difficult, excluded); convert 0/1 labels y with 2 * y - 1, or pass allow_no_negatives=True "
            "if the 0s really mark difficult images"
        )


def check_positive_int(value: object, name: str, maximum: int | None = None) -> int:
    """An integer >= 1 (bool refused), and <= `maximum` when given (k <= the number of classes)."""
    too_large = maximum is not None and isinstance(value, (int, np.integer)) and value > maximum
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1 or too_large:
        allowed = "a positive integer" if maximum is None else f"an integer in 1..{maximum}"
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)


def check_unit_interval(value: float, name: str) -> float:
    """A number in (0, 1] (IoU thresholds); ValueError naming `name`."""
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")
    return value


def check_positive(value: float, name: str) -> float:
    """A finite number > 0; ValueError naming `name`."""
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


def check_size(value: object, name: str) -> int:
    """An image or map size: a whole number >= 1 (e.g. height, width), returned as int."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not math.isfinite(value) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)
