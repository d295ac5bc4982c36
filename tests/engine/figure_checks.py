"""What a figure command drew, read back for the figure tests: the layout it rendered (captured),
the PNG's size, and from the matplotlib Figure the rectangles, heat-map colour limits and colorbars."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from gwapbench.figures import render


@contextlib.contextmanager
def captured_layouts() -> Iterator[list]:
    """While open, every layout a figure command renders is appended to the yielded list."""
    layouts = []
    real = render.png_bytes

    def recording(layout):
        layouts.append(layout)
        return real(layout)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(render, "png_bytes", recording)
        yield layouts


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def drawn_rectangles(ax, role: str, first_pixel: int) -> list[tuple[float, float, float, float]]:
    """Inclusive (x1, y1, x2, y2) pixel corners, counted from `first_pixel`, of the rectangles of `role` drawn
    in `ax` (a pixel's edges are at index -/+ 0.5 in matplotlib's image coordinates)."""
    corners = []
    for patch in ax.patches:
        if patch.get_gid() == role:
            x, y = patch.get_x() + 0.5 + first_pixel, patch.get_y() + 0.5 + first_pixel
            corners.append((x, y, x + patch.get_width() - 1, y + patch.get_height() - 1))
    return corners


def heat_images(ax) -> list:
    """The map images drawn over the photo (every image of the axes but the first)."""
    return ax.get_images()[1:]


def colorbar_kinds(figure) -> list[str]:
    return sorted(ax.get_gid().removeprefix("colorbar:") for ax in figure.axes
                  if (ax.get_gid() or "").startswith("colorbar:"))


def colorbar_range(figure, kind: str) -> tuple[float, float]:
    """The value range of the (horizontal) colorbar of map kind `kind`."""
    (ax,) = [ax for ax in figure.axes if ax.get_gid() == f"colorbar:{kind}"]
    return tuple(float(v) for v in ax.get_xlim())


def resized(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize with half-pixel centres, written with torch directly (as Table II's maps)."""
    tensor = torch.from_numpy(np.ascontiguousarray(heatmap, dtype=np.float32))[None, None]
    if tensor.shape[-2:] == (height, width):
        return tensor[0, 0].numpy()
    return torch.nn.functional.interpolate(tensor, size=(height, width), mode="bilinear",
                                           align_corners=False)[0, 0].numpy()


def unit(heatmap: np.ndarray) -> np.ndarray:
    low, high = heatmap.min(), heatmap.max()
    return np.zeros_like(heatmap) if high == low else (heatmap - low) / (high - low)
