"""Metrics from stored predictions (never from the model), with gwapbench.metrics.

- `cls_map`: VOC2007 11-point classification mAP in percent (`voc_classification_ap`,
  devkit-exact; labels 1 / -1 / 0 from the split's lists, 0 excluded), per-class AP beside it; the
  key names no dataset: the table CSV prefixes the data kind (`voc07_cls_map`, `synthetic_cls_map`);
- `otsu_fmeasure`: Table II's mean Otsu F-measure (beta^2 = 0.3) of each stored map kind, each
  map resized bilinearly to its image, against the union of all the image's boxes.

The centre prior (Table II's baseline row) is evaluated the same way from a fixed map.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from gwapbench.data.sample import Sample
from gwapbench.evaluation.chunks import image_chunks
from gwapbench.metrics import OtsuFMeasure, boxes_to_mask, mean_ap, resize_heatmap, voc_classification_ap

OTSU_CHUNK = 256  # images per otsu_fmeasure call: bounds memory at full VOC image sizes
CENTRE_PRIOR_SIGMA = 0.25  # standard deviation as a fraction of the image's width / height


def check_alignment(predictions: dict[str, np.ndarray], samples: Sequence[Sample]) -> None:
    ids = [str(i) for i in predictions["image_ids"]]
    if ids != [s.image_id for s in samples]:
        raise ValueError("stored predictions do not list the test images in the dataset's order")


def scored_map(heatmap: np.ndarray, sample: Sample) -> np.ndarray:
    """A stored map as Table II scores it: float32, resized bilinearly to the sample's image."""
    return resize_heatmap(heatmap.astype(np.float32), sample.height, sample.width)


def gt_mask(sample: Sample) -> np.ndarray:
    """Table II's ground truth: the union of all the sample's boxes (`boxes_to_mask`)."""
    return boxes_to_mask(sample.boxes, sample.height, sample.width)


def mean_otsu_fmeasure(samples: Sequence[Sample], map_of: Callable[[int, Sample], np.ndarray]) -> float:
    """Mean over images of the Otsu F-measure of map_of(i, sample) (at image size) against the union of
    the sample's boxes, accumulated in chunks (constant memory at full VOC image sizes)."""
    accumulator = OtsuFMeasure()
    for chunk in image_chunks(len(samples), OTSU_CHUNK):
        accumulator.update([map_of(i, samples[i]) for i in chunk], [gt_mask(samples[i]) for i in chunk])
    return float(accumulator.compute())


def centre_prior_map(height: int, width: int, sigma: float = CENTRE_PRIOR_SIGMA) -> np.ndarray:
    """exp(-((x - cx)^2 / (2 (sigma W)^2) + (y - cy)^2 / (2 (sigma H)^2))) at pixel centres: the
    classic centre-bias saliency baseline (a constant map would score F = 0 by definition)."""
    ys = (np.arange(height) + 0.5 - height / 2) / (sigma * height)
    xs = (np.arange(width) + 0.5 - width / 2) / (sigma * width)
    return np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2)).astype(np.float32)


def centre_prior_fmeasure(samples: Sequence[Sample]) -> float:
    return mean_otsu_fmeasure(samples, lambda _, s: centre_prior_map(s.height, s.width))


def evaluate_predictions(predictions: dict[str, np.ndarray], samples: Sequence[Sample],
                         class_names: Sequence[str]) -> dict[str, object]:
    """The run's metrics.json content."""
    check_alignment(predictions, samples)
    labels = np.stack([s.labels for s in samples])
    ap = voc_classification_ap(predictions["logits"].astype(np.float64), labels)
    maps = predictions["maps"]
    fmeasure = {
        str(name): mean_otsu_fmeasure(samples, lambda i, s, k=k: scored_map(maps[i, k], s))
        for k, name in enumerate(predictions["map_names"])
    }
    return {
        "cls_map": 100 * mean_ap(ap),
        "per_class_ap": {name: 100 * float(value) for name, value in zip(class_names, ap)},
        "otsu_fmeasure": fmeasure,
        "test_images": len(samples),
    }
