"""The paper's figures, drawn from stored predictions only (the one module that imports matplotlib).

Fig. 7: for a few test images, the image and each method's class-agnostic map over it (bilinear to
the image size, min-max normalized, `jet` at 50 % opacity), ground-truth boxes in white.
Fig. 9: for a few test images, R-FCN's detections and the class-specific weight map alpha_c of the
top detection's class (Table V's GWAP runs).
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


DETECTION_SCORE = 0.5  # Fig. 9 draws the detections scoring at least this (the top one at least)


def figure9(samples: Sequence[Sample], detections: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
            weight_maps: Sequence[np.ndarray], class_names: Sequence[str]) -> bytes:
    """PNG bytes: per test image, its detections (VOC inclusive corners, with class and score) and the
    weight map alpha_c (C, h, w) of its top detection's class, bilinear to the image, min-max normalized."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    figure, axes = plt.subplots(len(samples), 2, figsize=(PANEL_INCHES * 2, PANEL_INCHES * len(samples)),
                                squeeze=False)
    for row, (sample, (boxes, scores, labels), alpha) in enumerate(zip(samples, detections, weight_maps)):
        image = load_image(sample.image_path).permute(1, 2, 0).numpy()
        shown = np.flatnonzero(scores >= DETECTION_SCORE)
        if not len(shown):
            shown = np.arange(min(1, len(scores)))  # detections are sorted by score: the top one
        # the top detection's class; without detections, the class whose weight map peaks highest
        peaks = alpha.reshape(len(alpha), -1).max(axis=1)
        top_class = int(labels[np.argmax(scores)]) if len(scores) else int(peaks.argmax())
        axes[row, 0].imshow(image)
        for i in shown:
            x1, y1, x2, y2 = boxes[i]
            axes[row, 0].add_patch(Rectangle((x1 - 1.5, y1 - 1.5), x2 - x1 + 1, y2 - y1 + 1, fill=False,
                                             edgecolor="yellow", linewidth=1.2))
            axes[row, 0].text(x1, y1, f"{class_names[labels[i]]} {scores[i]:.2f}", color="black", fontsize=6,
                              backgroundcolor="yellow", va="bottom")
        resized = resize_heatmap(alpha[top_class].astype(np.float32), sample.height, sample.width)
        axes[row, 1].imshow(image)
        axes[row, 1].imshow(minmax_normalize(resized), cmap="jet", alpha=0.5, vmin=0, vmax=1)
        axes[row, 1].set_title(f"alpha: {class_names[top_class]}", fontsize=8)
        for ax in axes[row]:
            ax.set_axis_off()
    axes[0, 0].set_title("detections", fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()
