"""Draw a `FigureLayout` with matplotlib (the one module that imports it) and save it as PNG.

Every figure is at least `MIN_WIDTH_INCHES` x `DPI` = 1280 pixels wide, so that its 8-10 pt text
reads at 100 % zoom; maps are drawn at 50 % opacity over the image on their colour scale's fixed
range (never the panel's own), one colorbar per scale under the columns that use it.
"""

from __future__ import annotations

import io
import textwrap

import numpy as np

from gwapbench.data.decode import load_image
from gwapbench.figures.layout import (
    DETECTION_COLOUR,
    GT_COLOUR,
    MASK_COLOUR,
    PREDICTED_COLOUR,
    Box,
    FigureLayout,
    Panel,
)

DPI = 100
MIN_WIDTH_INCHES = 12.8
PANEL_INCHES = 2.6  # the narrowest panel
HEAT_OPACITY = 0.5
NOTE_INCHES, TITLE_INCHES, BAR_INCHES, LINE_INCHES = 0.5, 0.8, 0.8, 0.2  # room for text around the panels
LEGEND_CHARS_PER_INCH = 13  # 9 pt characters per inch of figure width, with margin
ROLE_COLOURS = {"gt": GT_COLOUR, "predicted": PREDICTED_COLOUR, "detection": DETECTION_COLOUR}


def _outline(width: float) -> list:
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=width + 2, foreground="black")]


def _draw_box(ax, box: Box, first_pixel: int) -> None:
    from matplotlib.patches import Rectangle

    x1, y1, x2, y2 = box.corners
    edge = first_pixel + 0.5  # inclusive pixel indices -> pixel edges
    colour = ROLE_COLOURS[box.role]
    ax.add_patch(Rectangle((x1 - edge, y1 - edge), x2 - x1 + 1, y2 - y1 + 1, fill=False, edgecolor=colour,
                           linewidth=1.6, linestyle="--" if box.role == "predicted" else "-", gid=box.role,
                           path_effects=_outline(1.6)))
    if box.label:  # GT names under the box's bottom edge, detections over its top edge
        top = box.role != "gt"
        ax.text(x1 - edge, (y1 if top else y2) - edge + (0 if top else 1), box.label, fontsize=9, color="black",
                va="bottom" if top else "top", clip_on=True,
                bbox={"facecolor": colour, "edgecolor": "none", "pad": 1.0, "alpha": 0.85})


def _draw_panel(ax, image: np.ndarray, panel: Panel, layout: FigureLayout) -> None:
    ax.imshow(image)
    if panel.heat is not None:
        scale = next(s for s in layout.scales if s.kind == panel.kind)
        ax.imshow(panel.heat, cmap=scale.cmap, alpha=HEAT_OPACITY, vmin=scale.limits[0], vmax=scale.limits[1],
                  gid=panel.kind)
    if panel.mask is not None and panel.mask.any() and not panel.mask.all():
        contour = ax.contour(panel.mask.astype(np.float32), levels=[0.5], colors=MASK_COLOUR, linewidths=1.4)
        contour.set(path_effects=_outline(1.4), gid="otsu_mask")
    for box in panel.boxes:
        _draw_box(ax, box, layout.first_pixel)
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(image.shape[0] - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(panel.note, fontsize=9)


def draw(layout: FigureLayout):
    """The matplotlib Figure of `layout` (not attached to pyplot: nothing global is kept)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    images = [load_image(path).permute(1, 2, 0).numpy() for path, _ in layout.rows]
    cols = len(layout.columns)
    panel = max(PANEL_INCHES, MIN_WIDTH_INCHES / cols)
    aspects = [im.shape[0] / im.shape[1] for im in images]  # each row as tall as its image
    legend = textwrap.fill(layout.legend, width=int(panel * cols * LEGEND_CHARS_PER_INCH))
    height = sum(panel * a + NOTE_INCHES for a in aspects) + TITLE_INCHES + BAR_INCHES * len(layout.scales) \
        + LINE_INCHES * (legend.count("\n") + 1)
    figure = Figure(figsize=(panel * cols, height), layout="constrained")
    axes = figure.subplots(len(images), cols, squeeze=False, height_ratios=[panel * a + NOTE_INCHES for a in aspects])
    for row, (image, (_, panels)) in enumerate(zip(images, layout.rows)):
        for col, content in enumerate(panels):
            _draw_panel(axes[row, col], image, content, layout)
    for col, title in enumerate(layout.columns):
        axes[0, col].set_title(title, fontsize=10)
    for scale in layout.scales:
        used = sorted({c for _, panels in layout.rows for c, p in enumerate(panels) if p.kind == scale.kind})
        mappable = ScalarMappable(Normalize(*scale.limits), scale.cmap)
        bar = figure.colorbar(mappable, ax=list(axes[:, used].ravel()), location="bottom", shrink=0.9,
                              aspect=12 * len(used), pad=0.01)
        bar.set_label(textwrap.fill(scale.label, width=int(len(used) * panel * LEGEND_CHARS_PER_INCH)), fontsize=9)
        bar.ax.set_gid(f"colorbar:{scale.kind}")
    figure.suptitle(layout.title, fontsize=13)
    figure.supxlabel(legend, fontsize=9)
    return figure


def png_bytes(layout: FigureLayout) -> bytes:
    """The PNG of `layout` at `DPI`."""
    buffer = io.BytesIO()
    draw(layout).savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
