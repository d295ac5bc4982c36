"""Compose one synthetic image: background, class objects and distractors, with exact boxes.

Objects and distractors are painted in a random order, so later ones occlude earlier ones. A
placement is rejected (and re-drawn, up to `MAX_TRIES` times) when it would leave an earlier
object with less than `SceneSpec.min_visible` of its pixels. Each object's box is the tight box of
its *visible* pixels (as VOC annotators box the visible extent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gwapbench.data.synthetic_shapes import (
    CLASS_SHAPES,
    CLASS_STYLES,
    DISTRACTOR_SHAPES,
    PALETTE,
    TEXTURES,
    Placement,
    ShapeFn,
    TextureFn,
    background,
    jitter_colour,
    paint_shape,
)

MAX_TRIES = 30
BACKGROUND_ID = -1
DISTRACTOR_ID = -2


@dataclass(frozen=True)
class SceneSpec:
    """Scene parameters. Scales are fractions of the image's shorter side (object half-extent).

    An object is difficult when its visible pixels are fewer than `difficult_visible` of its whole
    shape's pixels (heavily occluded or cut by the image border), or when its visible box's longer side is below
    `difficult_side` of the shorter image side (small). `difficult_side = 0` and
    `difficult_visible = 0` disable difficult marking (ILSVRC).
    """

    object_scale: tuple[float, float]
    distractor_scale: tuple[float, float]
    distractors: tuple[int, int]
    min_visible: float
    difficult_visible: float
    difficult_side: float


@dataclass(frozen=True)
class SceneObject:
    """An annotated object: class index, visible box (x0, y0, x1, y1: 0-based inclusive pixel indices)."""

    class_index: int
    box: tuple[int, int, int, int]
    difficult: bool
    truncated: bool


def _placement(rng: np.random.Generator, height: int, width: int, scale: tuple[float, float]) -> Placement:
    """Half-extent `U(scale) * shorter side`, aspect `U(0.8, 1.25)`, centre in the middle 84% of each axis."""
    radius = rng.uniform(*scale) * min(height, width)
    stretch = rng.uniform(0.8, 1.25)
    return Placement(
        cx=rng.uniform(0.08, 0.92) * width,
        cy=rng.uniform(0.08, 0.92) * height,
        rx=radius * stretch,
        ry=radius / stretch,
        angle=rng.uniform(0, 2 * np.pi),
    )


def _painter_for(
    rng: np.random.Generator, class_index: int | None
) -> tuple[ShapeFn, TextureFn, tuple[int, int]]:
    """(shape, texture, colours) of a class object, or of a distractor when `class_index` is None.

    Distractors take the colours of a random class (or two random palette colours) and any texture.
    """
    if class_index is not None:
        style = CLASS_STYLES[class_index]
        return CLASS_SHAPES[style.shape], TEXTURES[style.texture], style.colours
    shape = list(DISTRACTOR_SHAPES.values())[rng.integers(len(DISTRACTOR_SHAPES))]
    texture = list(TEXTURES.values())[rng.integers(len(TEXTURES))]
    if rng.random() < 0.7:
        colours = CLASS_STYLES[rng.integers(len(CLASS_STYLES))].colours
    else:
        first, second = (int(i) for i in rng.integers(0, len(PALETTE), 2))
        colours = (first, second)
    return shape, texture, colours


def compose_scene(
    rng: np.random.Generator, height: int, width: int, classes: list[int], spec: SceneSpec
) -> tuple[np.ndarray, list[SceneObject]]:
    """Paint a scene with one object per entry of `classes`; return the float canvas and its objects."""
    canvas = background(rng, height, width)
    owner = np.full((height, width), BACKGROUND_ID, dtype=np.int32)
    painted_area = np.zeros(len(classes), dtype=np.int64)
    visible = np.zeros(len(classes), dtype=np.int64)
    full_area = np.zeros(len(classes), dtype=np.int64)
    truncated = np.zeros(len(classes), dtype=bool)
    items: list[int | None] = list(range(len(classes))) + [None] * int(rng.integers(*spec.distractors, endpoint=True))
    for position in rng.permutation(len(items)):
        item = items[position]
        is_object = item is not None
        shape, texture, colour_ids = _painter_for(rng, classes[item] if is_object else None)
        scale = spec.object_scale if is_object else spec.distractor_scale
        for attempt in range(MAX_TRIES):
            place = _placement(rng, height, width, scale)
            colours = (jitter_colour(rng, colour_ids[0]), jitter_colour(rng, colour_ids[1]))
            y0, y1, x0, x1 = (max(b, 0) for b in place.window())
            y1, x1 = min(y1, height), min(x1, width)
            saved_canvas = canvas[y0:y1, x0:x1].copy()
            saved_owner = owner[y0:y1, x0:x1].copy()
            owner_id = item if is_object else DISTRACTOR_ID
            painted = paint_shape(canvas, owner, owner_id, place, shape, texture, colours)
            covered = saved_owner[(owner[y0:y1, x0:x1] == owner_id) & (saved_owner >= 0)]
            lost = np.bincount(covered, minlength=len(classes)) if covered.size else np.zeros(len(classes), int)
            keeps_others = np.all(visible - lost >= spec.min_visible * painted_area)
            if painted.area > 0 and (keeps_others or (is_object and attempt == MAX_TRIES - 1)):
                visible -= lost
                if is_object:
                    painted_area[item] = visible[item] = painted.area
                    full_area[item] = painted.full_area
                    truncated[item] = painted.truncated
                break
            canvas[y0:y1, x0:x1] = saved_canvas
            owner[y0:y1, x0:x1] = saved_owner
    return canvas, _annotate(owner, classes, full_area, truncated, spec)


def _annotate(
    owner: np.ndarray, classes: list[int], full_area: np.ndarray, truncated: np.ndarray, spec: SceneSpec
) -> list[SceneObject]:
    """Visible boxes, difficult and truncated flags. Objects left with no visible pixel, or only a
    one-pixel-wide or -high sliver, are not annotated."""
    short_side = min(owner.shape)
    objects = []
    for index, class_index in enumerate(classes):
        rows, cols = np.nonzero(owner == index)
        if rows.size == 0:
            continue
        box = (int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max()))
        if box[2] == box[0] or box[3] == box[1]:
            continue  # a one-pixel sliver: readers reject xmax == xmin as a zero-area box
        longer = max(box[2] - box[0] + 1, box[3] - box[1] + 1)
        hidden = rows.size < spec.difficult_visible * full_area[index]
        small = longer < spec.difficult_side * short_side
        objects.append(SceneObject(class_index, box, bool(hidden or small), bool(truncated[index])))
    return objects
