"""Argument checks shared by the metric kernels: each raises ValueError naming the argument."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def as_array(
    value: object,
    name: str,
    *,
    ndim: int | None = None,
    dtype: type | np.dtype | None = np.float64,
    finite: bool = True,
) -> np.ndarray:
    """Convert `value` to a numpy array (torch tensors included) and check rank and finiteness."""
    if hasattr(value, "detach"):  # a torch tensor, without importing torch here
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=dtype)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    if finite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def check_same_length(**arrays: Sequence | np.ndarray) -> int:
    """Check that all arguments have the same first dimension and return it."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ValueError(f"length mismatch: {detail}")
    return next(iter(lengths.values()), 0)


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


def check_positive_int(value: object, name: str) -> int:
    """An integer >= 1 (bool refused); ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
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
