"""Procedural drawing for the synthetic datasets: shape masks, textures, backgrounds.

Every shape is a predicate on local coordinates (u, v) in [-1, 1]^2 of a rotated, scaled frame
centred on the object; textures are functions of the same coordinates. Classes combine a shape,
a texture and a characteristic colour pair; distractors use other shapes with the same colours
and textures, so neither colour nor texture alone identifies an object.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

ShapeFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
TextureFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

# Colours shared by classes, distractors and backgrounds (RGB, 0-255).
PALETTE = np.array(
    [
        [200, 40, 40],
        [40, 150, 60],
        [50, 70, 200],
        [220, 190, 40],
        [150, 60, 170],
        [40, 170, 180],
        [230, 120, 30],
        [235, 235, 235],
        [30, 30, 30],
        [120, 90, 60],
    ],
    dtype=np.float64,
)


def _radius(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.hypot(u, v)


def _star(u: np.ndarray, v: np.ndarray, points: int = 5) -> np.ndarray:
    """Inside a star: r <= 0.45 + 0.55 * |cos(points * theta / 2)|^1.5 (a smooth five-pointed star)."""
    theta = np.arctan2(v, u)
    return _radius(u, v) <= 0.45 + 0.55 * np.abs(np.cos(points * theta / 2)) ** 1.5


def _hexagon(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(u) * 0.866 + np.abs(v) * 0.5, np.abs(v)) <= 0.9


# Object class shapes (name -> predicate on u, v).
CLASS_SHAPES: dict[str, ShapeFn] = {
    "disc": lambda u, v: _radius(u, v) <= 1.0,
    "ring": lambda u, v: (_radius(u, v) <= 1.0) & (_radius(u, v) >= 0.55),
    "triangle": lambda u, v: (v <= 0.9) & (np.abs(u) <= (v + 1.0) * 0.5),
    "star": _star,
    "cross": lambda u, v: ((np.abs(u) <= 0.3) | (np.abs(v) <= 0.3)) & (np.abs(u) <= 1) & (np.abs(v) <= 1),
    "square": lambda u, v: (np.abs(u) <= 0.85) & (np.abs(v) <= 0.85),
    "ellipse": lambda u, v: (u / 1.0) ** 2 + (v / 0.6) ** 2 <= 1.0,
    "diamond": lambda u, v: np.abs(u) + np.abs(v) <= 1.0,
    "crescent": lambda u, v: (_radius(u, v) <= 1.0) & (_radius(u - 0.45, v) > 0.75),
    "hexagon": _hexagon,
}

# Distractor shapes: belong to no class.
DISTRACTOR_SHAPES: dict[str, ShapeFn] = {
    "bar": lambda u, v: (np.abs(u) <= 1.0) & (np.abs(v) <= 0.18),
    "ell": lambda u, v: (np.abs(u) <= 1) & (np.abs(v) <= 1) & ((u <= -0.5) | (v >= 0.5)),
    "blob": lambda u, v: _radius(u, v) <= 0.75 + 0.2 * np.sin(3 * np.arctan2(v, u)) * np.cos(2 * u),
    "arc": lambda u, v: (_radius(u, v + 0.6) <= 1.2) & (_radius(u, v + 0.6) >= 0.95) & (v >= -0.3),
    "tee": lambda u, v: (np.abs(v - 0.75) <= 0.25) & (np.abs(u) <= 1) | (np.abs(u) <= 0.22) & (v <= 0.75),
}

TEXTURES: dict[str, TextureFn] = {
    "solid": lambda u, v: np.zeros_like(u),
    "stripes": lambda u, v: (np.floor(u * 3.5) % 2).astype(np.float64),
    "checker": lambda u, v: ((np.floor(u * 3) + np.floor(v * 3)) % 2).astype(np.float64),
    "dots": lambda u, v: (np.hypot((u * 4) % 1 - 0.5, (v * 4) % 1 - 0.5) < 0.3).astype(np.float64),
    "gradient": lambda u, v: np.clip((u + 1) / 2, 0, 1),
    "rings": lambda u, v: (np.floor(_radius(u, v) * 5) % 2).astype(np.float64),
}


@dataclass(frozen=True)
class ClassStyle:
    """How one object class looks: its shape, its texture, and its two palette colours."""

    name: str
    shape: str
    texture: str
    colours: tuple[int, int]


# The synthetic classes: every pair differs in shape, and most in texture and colour too.
CLASS_STYLES: tuple[ClassStyle, ...] = (
    ClassStyle("disc", "disc", "solid", (0, 7)),
    ClassStyle("ring", "ring", "gradient", (2, 3)),
    ClassStyle("triangle", "triangle", "dots", (3, 8)),
    ClassStyle("star", "star", "solid", (6, 4)),
    ClassStyle("cross", "cross", "checker", (1, 7)),
    ClassStyle("stripedsquare", "square", "stripes", (4, 7)),
    ClassStyle("checkerellipse", "ellipse", "checker", (5, 0)),
    ClassStyle("diamond", "diamond", "rings", (9, 3)),
    ClassStyle("crescent", "crescent", "gradient", (8, 1)),
    ClassStyle("hexagon", "hexagon", "stripes", (0, 5)),
)
CLASS_NAMES: tuple[str, ...] = tuple(style.name for style in CLASS_STYLES)


@dataclass(frozen=True)
class Placement:
    """Where a shape goes: centre (x, y) in pixels, half-extents (rx, ry) in pixels, rotation in radians."""

    cx: float
    cy: float
    rx: float
    ry: float
    angle: float

    def window(self) -> tuple[int, int, int, int]:
        """Pixel rows/cols [y0, y1) x [x0, x1) that may hold the shape (unclipped; may leave the image)."""
        reach = float(np.hypot(self.rx, self.ry)) + 1.0
        return (
            int(np.floor(self.cy - reach)),
            int(np.ceil(self.cy + reach)) + 1,
            int(np.floor(self.cx - reach)),
            int(np.ceil(self.cx + reach)) + 1,
        )


def local_coords(place: Placement) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """u, v at the pixel centres of the placement's (unclipped) window, and that window.

    u = ((x - cx) cos a + (y - cy) sin a) / rx,  v = (-(x - cx) sin a + (y - cy) cos a) / ry.
    """
    y0, y1, x0, x1 = place.window()
    dy = np.arange(y0, y1, dtype=np.float64)[:, None] - place.cy
    dx = np.arange(x0, x1, dtype=np.float64)[None, :] - place.cx
    cos, sin = np.cos(place.angle), np.sin(place.angle)
    u = (dx * cos + dy * sin) / place.rx
    v = (-dx * sin + dy * cos) / place.ry
    return u, v, (y0, y1, x0, x1)


@dataclass
class Painted:
    """What a painted shape covered: its in-image pixel count and its whole (unclipped) pixel count."""

    area: int
    full_area: int

    @property
    def truncated(self) -> bool:
        """Whether part of the shape fell outside the image."""
        return self.area < self.full_area


def paint_shape(
    canvas: np.ndarray,
    owner: np.ndarray,
    owner_id: int,
    place: Placement,
    shape: ShapeFn,
    texture: TextureFn,
    colours: tuple[np.ndarray, np.ndarray],
) -> Painted:
    """Paint a textured shape on `canvas` (H, W, 3 float) and mark its pixels in `owner` with `owner_id`.

    Pixel colour = (1 - t) * colours[0] + t * colours[1] with t = texture(u, v) in [0, 1].
    """
    height, width = owner.shape
    u, v, (y0, y1, x0, x1) = local_coords(place)
    mask = shape(u, v)
    cy0, cy1, cx0, cx1 = max(y0, 0), min(y1, height), max(x0, 0), min(x1, width)
    inside = mask[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
    area, full_area = int(inside.sum()), int(mask.sum())
    if area == 0:
        return Painted(0, full_area)
    t = texture(u[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0], v[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0])
    colour = (1.0 - t[..., None]) * colours[0] + t[..., None] * colours[1]
    region = canvas[cy0:cy1, cx0:cx1]
    region[inside] = colour[inside]
    owner[cy0:cy1, cx0:cx1][inside] = owner_id
    return Painted(area, full_area)


def jitter_colour(rng: np.random.Generator, index: int, amount: float = 25.0) -> np.ndarray:
    """A palette colour with uniform per-channel jitter of +-`amount`."""
    return np.clip(PALETTE[index] + rng.uniform(-amount, amount, 3), 0, 255)


def background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A cluttered background (H, W, 3 float): a bilinear low-frequency colour field from palette colours,
    crossed by two bands of stripes (one horizontal, one vertical band; stripes at random angles and
    periods, half-blended with random palette colours), plus Gaussian pixel noise (sd 12)."""
    cells = int(rng.integers(3, 7))
    coarse = PALETTE[rng.integers(0, len(PALETTE), (cells, cells))] * rng.uniform(0.5, 1.0, (cells, cells, 1))
    field = Image.fromarray(coarse.astype(np.uint8)).resize((width, height), Image.BILINEAR)
    canvas = np.asarray(field, dtype=np.float64).copy()
    rows = np.arange(height, dtype=np.float64)[:, None]
    cols = np.arange(width, dtype=np.float64)[None, :]
    for across, extent in ((rows, height), (cols, width)):
        angle = rng.uniform(0, np.pi)
        phase = rows * np.sin(angle) + cols * np.cos(angle)
        period = rng.uniform(5, 16)
        centre = rng.uniform(0, extent)
        band = (np.abs(across - centre) < rng.uniform(0.1, 0.3) * extent) & (phase % period < period / 2)
        canvas[band] = 0.5 * canvas[band] + 0.5 * jitter_colour(rng, int(rng.integers(0, len(PALETTE))))
    canvas += rng.normal(0.0, 12.0, canvas.shape)
    return canvas


def encode_jpeg(canvas: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of a float canvas (clipped to 0-255, rounded); PIL's encoder is deterministic."""
    buffer = io.BytesIO()
    Image.fromarray(np.clip(np.rint(canvas), 0, 255).astype(np.uint8)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
