"""Fig. 8: per val image, GWAP's weight map at each input scale, their mean and GAP's top-1 CAM, each
with the top-1 box that Table IV scores.

The boxes come from Table IV's own path (`engine.ilsvrc_evaluate.prediction_boxes` with the table's
`LocalizationOptions`), on the chosen images' rows of the stored predictions, so the figure follows
whatever box rule the table applies (threshold, normalization, box method).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from gwapbench.data.sample import Sample
from gwapbench.engine.ilsvrc_evaluate import (
    LocalizationOptions,
    map_normalization,
    map_of,
    prediction_boxes,
    ranked_classes,
    true_labels,
)
from gwapbench.figures.layout import Box, ColourScale, FigureLayout, Panel, gt_boxes, range_note, shown_map
from gwapbench.metrics import multiscale_average, normalize_heatmap, resize_heatmap
from gwapbench.metrics.localization import best_iou_with_image_gt

SCALES = (ColourScale("alpha", "GWAP weight map alpha, min-max normalized per map"),
          ColourScale("cam", "GAP CAM of the top-1 class, min-max normalized per map"))


def rows_of(predictions: dict[str, np.ndarray], indices: Sequence[int]) -> dict[str, np.ndarray]:
    """The stored predictions of the images `indices` only (ids, logits, maps; the same map names)."""
    picked = np.asarray(indices, dtype=np.int64)
    return {"image_ids": predictions["image_ids"][picked], "logits": predictions["logits"][picked],
            "maps": predictions["maps"][picked], "map_names": predictions["map_names"]}


def top1_boxes(scale_predictions: Sequence[dict[str, np.ndarray]], samples: Sequence[Sample], indices: Sequence[int],
               options: LocalizationOptions) -> np.ndarray:
    """(len(indices), 4) the top-1 boxes Table IV scores for the images `indices` (one scale's maps, or the
    mean over scales), computed by Table IV's `prediction_boxes` on those images' rows."""
    exclude = None if options.exclude is None else options.exclude[np.asarray(indices, dtype=np.int64)]
    chosen = [samples[i] for i in indices]
    guesses, _ = prediction_boxes([rows_of(p, indices) for p in scale_predictions], chosen,
                                  dataclasses.replace(options, exclude=exclude))
    return guesses[0]


def _panel(image_map: np.ndarray, kind: str, box: np.ndarray, sample: Sample, class_right: bool) -> Panel:
    iou = float(best_iou_with_image_gt(box[None].astype(np.float64), np.zeros(1, np.int64), [sample.boxes])[0])
    whole = tuple(box) == (0, 0, sample.width - 1, sample.height - 1)  # drawn on the panel's edge: say so
    note = (f"IoU {iou:.2f}, class {'right' if class_right else 'wrong'}\n"
            f"{'box = whole image, ' if whole else ''}{range_note(image_map)}")
    predicted = Box(tuple(float(v) for v in box), "predicted")
    return Panel(shown_map(image_map), kind, (*gt_boxes(sample.boxes), predicted), note=note, score=iou)


def fig8_layout(samples: Sequence[Sample], indices: Sequence[int], gwap: Sequence[tuple[int, dict[str, np.ndarray]]],
                gwap_ranking: dict[str, np.ndarray], gap: dict[str, np.ndarray], options: LocalizationOptions,
                class_names: Sequence[str], source: str) -> FigureLayout:
    """Rows: the val images `indices`; columns: the image (GT boxes named), GWAP's alpha at each (size,
    predictions) of `gwap`, their mean (Table IV's multi-scale row), and GAP's top-1 CAM, each with its
    top-1 box (`top1_boxes`). `gwap_ranking`: GWAP's training-scale predictions (its class ranking)."""
    chosen = [samples[i] for i in indices]
    truth = true_labels(chosen)
    gwap_right = ranked_classes(rows_of(gwap_ranking, indices)["logits"], 1)[:, 0] == truth
    gap_right = ranked_classes(rows_of(gap, indices)["logits"], 1)[:, 0] == truth
    per_scale = [top1_boxes([p], samples, indices, options) for _, p in gwap]
    mean_boxes = top1_boxes([p for _, p in gwap], samples, indices, options)
    gap_boxes = top1_boxes([gap], samples, indices, options)
    alphas = [map_of(p["maps"], p["map_names"], "alpha") for _, p in gwap]
    how = map_normalization(("alpha",), options)
    gap_maps = map_of(gap["maps"], gap["map_names"], "top1")
    rows = []
    for row, (index, sample) in enumerate(zip(indices, chosen)):
        size = (sample.height, sample.width)
        names = [class_names[c] for c in sample.box_labels]
        panels = [Panel(boxes=gt_boxes(sample.boxes, names), note=sample.image_id)]
        panels += [_panel(resize_heatmap(alpha[index], *size), "alpha", boxes[row], sample, gwap_right[row])
                   for alpha, boxes in zip(alphas, per_scale)]
        mean = multiscale_average([normalize_heatmap(alpha[index], how) for alpha in alphas], *size)  # as the table
        panels.append(_panel(mean, "alpha", mean_boxes[row], sample, gwap_right[row]))
        panels.append(_panel(resize_heatmap(gap_maps[index], *size), "cam", gap_boxes[row], sample, gap_right[row]))
        rows.append((sample.image_path, tuple(panels)))
    legend = (f"green: GT boxes; magenta dashed: the top-1 box Table IV scores (alpha normalized: {how}, threshold "
              f"{options.threshold}, {options.box_method}); IoU: its best IoU with a GT box (+1 convention; a top-1 hit needs "
              "IoU >= 0.5 and the right class); min/max: the raw map's minimum over its maximum")
    columns = ("image", *(f"GWAP alpha, {size} px input" for size, _ in gwap),
               "GWAP mean of " + "+".join(str(size) for size, _ in gwap), "GAP CAM, top-1 class")
    return FigureLayout(title=f"Fig. 8: GWAP weight maps per input scale, their mean, GAP's CAM, with Table IV's "
                              f"top-1 boxes ({source})", columns=columns, rows=tuple(rows), scales=SCALES,
                        first_pixel=0, legend=legend)
