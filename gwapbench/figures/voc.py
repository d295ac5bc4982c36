"""Fig. 7: per test image, each Table II method's map with the Otsu mask and the F that Table II averages.

Each map is the one Table II scores (`engine.evaluate.scored_map`: float32, bilinear to the image),
its mask `otsu_mask` (the foreground of `otsu_fmeasure`) and its F `otsu_fmeasure` against the union
of the image's boxes (`engine.evaluate.gt_mask`), so the mean of the F shown over the whole test set
is the Table II number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gwapbench.data.sample import Sample
from gwapbench.engine.evaluate import gt_mask, scored_map
from gwapbench.figures.layout import ColourScale, FigureLayout, Panel, gt_boxes, range_note, shown_map
from gwapbench.metrics import otsu_fmeasure, otsu_mask

LEGEND = ("green: GT boxes (their union is Table II's ground truth); white outline: the Otsu mask Table II scores "
          "(pixels above Otsu's threshold of the min-max normalized map); F: this image's Otsu F-measure "
          "(beta^2 = 0.3; Table II is its mean over the test set); min/max: the raw map's minimum over its maximum")


def map_kind(map_name: str) -> str:
    """The colour scale of a stored map: "alpha" (GWAP weight map) or "cam" (a CAM of a GAP head)."""
    return "alpha" if map_name == "alpha" else "cam"


def otsu_panel(heatmap: np.ndarray, sample: Sample, kind: str) -> Panel:
    """One map over its image: shown min-max normalized, with its Otsu mask, F, and GT boxes."""
    image_map = scored_map(heatmap, sample)
    f = float(otsu_fmeasure([image_map], [gt_mask(sample)])[0])
    note = f"F {f:.2f}, {range_note(image_map)}"
    return Panel(shown_map(image_map), kind, gt_boxes(sample.boxes), otsu_mask(image_map), note, f)


def fig7_layout(samples: Sequence[Sample], columns: Sequence[tuple[str, str, np.ndarray]], indices: Sequence[int],
                class_names: Sequence[str], source: str) -> FigureLayout:
    """Rows: the test images `indices`; columns: the image (GT boxes named), then per (method, stored map
    name, maps (N, h, w) indexed like `samples`) its `otsu_panel`. `source` names the runs in the title."""
    rows = []
    for index in indices:
        sample = samples[index]
        names = [class_names[c] for c in sample.box_labels]
        image = Panel(boxes=gt_boxes(sample.boxes, names), note=sample.image_id)
        rows.append((sample.image_path, (image, *(otsu_panel(maps[index], sample, map_kind(name))
                                                  for _, name, maps in columns))))
    cam_names = sorted({name for _, name, _ in columns if map_kind(name) == "cam"})
    scales = {"cam": ColourScale("cam", f"GAP CAM ({', '.join(cam_names)}), min-max normalized per map"),
              "alpha": ColourScale("alpha", "GWAP weight map alpha, min-max normalized per map")}
    used = sorted({map_kind(name) for _, name, _ in columns}, key=list(scales).index)
    return FigureLayout(title=f"Fig. 7: class-agnostic maps of Table II's methods, Otsu masks and F ({source})",
                        columns=("image", *(method for method, _, _ in columns)), rows=tuple(rows),
                        scales=tuple(scales[k] for k in used), first_pixel=1, legend=LEGEND)
