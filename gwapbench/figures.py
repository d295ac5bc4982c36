"""The paper's figures, drawn from stored predictions only (the one module that imports matplotlib).

Fig. 7: for a few test images, the image and each method's class-agnostic map over it (bilinear to
the image size, min-max normalized, `jet` at 50 % opacity), ground-truth boxes in white.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from gwapbench.data.datasets import load_image
from gwapbench.data.sample import Sample
from gwapbench.metrics import minmax_normalize, resize_heatmap

PANEL_INCHES = 2.2


def map_panel(maps: np.ndarray, map_names: Sequence[str], choice: str) -> np.ndarray:
    """The stored map of kind `choice` (for CAM heads) or the only one (alpha): (N, h, w)."""
    names = list(map_names)
    return maps[:, names.index(choice) if choice in names else 0]


def figure7(samples: Sequence[Sample], columns: Sequence[tuple[str, Sequence[np.ndarray]]], indices: Sequence[int],
            first_pixel: int = 1, box_color: str = "white") -> bytes:
    """PNG bytes: one row per test image `indices[i]`, the image then one panel per (title, maps indexed
    by image); GT boxes in `box_color`, their corners inclusive pixel indices from `first_pixel`
    (VOC 1, ILSVRC 0). Fig. 8 uses the same layout."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    rows, cols = len(indices), len(columns) + 1
    figure, axes = plt.subplots(rows, cols, figsize=(PANEL_INCHES * cols, PANEL_INCHES * rows), squeeze=False)
    for row, index in enumerate(indices):
        sample = samples[index]
        image = load_image(sample.image_path).permute(1, 2, 0).numpy()
        panels = [("image", None)] + [(title, maps[index]) for title, maps in columns]
        for col, (title, heatmap) in enumerate(panels):
            ax = axes[row, col]
            ax.imshow(image)
            if heatmap is not None:
                resized = resize_heatmap(heatmap.astype(np.float32), sample.height, sample.width)
                ax.imshow(minmax_normalize(resized), cmap="jet", alpha=0.5, vmin=0, vmax=1)
            for x1, y1, x2, y2 in sample.boxes:  # inclusive corners -> pixel edges
                edge = first_pixel + 0.5
                ax.add_patch(Rectangle((x1 - edge, y1 - edge), x2 - x1 + 1, y2 - y1 + 1, fill=False,
                                       edgecolor=box_color, linewidth=1.2))
            ax.set_axis_off()
            if row == 0:
                ax.set_title(title, fontsize=9)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
