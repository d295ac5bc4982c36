"""Evaluate any method's stored heat maps against a dataset's boxes (`gwapbench evaluate`).

One map per image (class-agnostic, or the map of the predicted or ground-truth class: the method
decides), of any size; maps are streamed from their store in chunks, so 50,000 maps never sit in
memory at once. Definitions are those of `gwapbench.metrics` (docs/metrics.md); the frames:

- boxes (GT-known accuracy, localization error): the map normalized at its own resolution
  (`normalize`: "minmax" by default, "none" keeps it as stored), resized bilinearly to its image
  (`heatmaps_to_boxes` with image sizes), box of the largest 8-connected component above
  `threshold` x max, compared in 0-based image pixels with the GT boxes (VOC's 1-based corners
  shifted by -1);
- Otsu F-measure: the map resized to its image, against the union of all the image's boxes;
- MaxBoxAcc / MaxBoxAccV2: `FramedBoxAcc`, wsolevaluation's frame (the map resized to `box_acc_size`
  squared and min-max normalized, GT boxes scaled as its `resize_bbox` does, int(x * 224 / width)),
  boxes under `box_convention` ("wsolevaluation" reproduces its code);
- PxAP: pixel masks given by the caller (wsolevaluation's OpenImages masks: `gwapbench.data.wsol_masks`,
  in its 224 x 224 frame, where its samples have that size), with optional ignore masks; the map resized to
  the sample's size and min-max normalized, wsolevaluation's `MaskEvaluator` histograms and AUC rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from gwapbench.data.sample import Sample
from gwapbench.errors import InputError
from gwapbench.evaluation.chunks import image_chunks, maps_at_image_size
from gwapbench.evaluation.heatmaps_io import HeatmapStore, iter_heatmaps, match_keys
from gwapbench.evaluation.predictions import ClassPredictions
from gwapbench.metrics import (
    DEFAULT_CAM_CURVE_INTERVAL,
    NORMALIZATIONS,
    FramedBoxAcc,
    OtsuFMeasure,
    PxAP,
    boxes_to_mask,
    gt_known_accuracy,
    heatmaps_to_boxes,
    localization_error,
    minmax_normalize,
    normalize_heatmap,
)
from gwapbench.metrics.pxap import pxap_bin_edges

METRICS = ("fmeasure", "gt-known", "loc-error", "max-box-acc", "max-box-acc-v2", "pxap")
BOX_METRICS = ("fmeasure", "gt-known", "loc-error", "max-box-acc", "max-box-acc-v2")
ON_MISSING_CHOICES = ("fail", "skip")
LOC_TOP_K = (1, 5)


def _chosen_metrics(metrics: Sequence[str] | None, has_predictions: bool, has_masks: bool, has_boxes: bool
                    ) -> list[str]:
    if metrics is None:
        return [m for m in METRICS if (m != "loc-error" or has_predictions) and (m != "pxap" or has_masks)
                and (m not in BOX_METRICS or has_boxes)]
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise InputError(f"--metrics: unknown metric {unknown[0]!r} (choose from {', '.join(METRICS)})")
    boxed = [m for m in metrics if m in BOX_METRICS]
    if boxed and not has_boxes:
        raise InputError(f"--metrics {boxed[0]} needs boxes; this ground truth has pixel masks only (use pxap)")
    if "loc-error" in metrics and not has_predictions:
        raise InputError("--metrics loc-error needs class predictions (--predictions CSV)")
    if "pxap" in metrics and not has_masks:
        raise InputError("--metrics pxap needs pixel masks; the dataset readers provide boxes only")
    return [m for m in METRICS if m in metrics]


def _single_labels(samples: Sequence[Sample]) -> np.ndarray:
    """(N,) the one class of each image; InputError for an image with several (localization error is ILSVRC's)."""
    labels = np.empty(len(samples), dtype=np.int64)
    for i, sample in enumerate(samples):
        positives = sample.positive_classes
        if len(positives) != 1:
            raise InputError(
                f"image {sample.image_id} has {len(positives)} classes: the localization error needs exactly one "
                "class per image (ILSVRC)"
            )
        labels[i] = positives[0]
    return labels


def _present(
    samples: Sequence[Sample], keys: list[str | None], on_missing: str, what: str
) -> np.ndarray:
    """(N,) bool: the samples that have an entry; InputError for the first missing one under "fail"."""
    present = np.array([key is not None for key in keys], dtype=bool)
    if on_missing == "fail" and not present.all():
        missing = samples[int(np.flatnonzero(~present)[0])]
        raise InputError(f"{what}: nothing for image {missing.image_id} ({int((~present).sum())} images lack one)")
    return present


def _load_batches(loaded: Iterator[np.ndarray], count: int, max_bytes: int) -> Iterator[list[np.ndarray]]:
    """The `count` maps of `loaded` in batches of at most `max_bytes` as stored (at least one map each)."""
    taken = 0
    while taken < count:
        batch, size = [], 0
        while taken + len(batch) < count and (not batch or size < max_bytes):
            batch.append(next(loaded))
            size += batch[-1].nbytes
        taken += len(batch)
        yield batch


class _Accumulators:
    """The per-chunk metric accumulators the chosen metrics need."""

    def __init__(self, chosen: list[str], box_acc_size: int, box_convention: str, cam_curve_interval: float
                 ) -> None:
        self.fmeasure = OtsuFMeasure() if "fmeasure" in chosen else None
        self.pxap = PxAP(cam_curve_interval) if "pxap" in chosen else None
        v1, v2 = "max-box-acc" in chosen, "max-box-acc-v2" in chosen
        cams = pxap_bin_edges(cam_curve_interval)[:-3]  # np.arange(0, 1, interval), as wsolevaluation
        self.box_acc = FramedBoxAcc(box_convention, box_acc_size, v1, v2, cams) if v1 or v2 else None

    def update(
        self, maps: list[np.ndarray], samples: list[Sample], box_origin: int, masks: list[np.ndarray] | None,
        ignore_masks: list[np.ndarray | None] | None,
    ) -> None:
        if self.fmeasure is not None or self.pxap is not None:
            at_image = maps_at_image_size(maps, samples)
            if self.fmeasure is not None:
                union = [boxes_to_mask(s.boxes + (1 - box_origin), s.height, s.width) for s in samples]
                self.fmeasure.update(at_image, union)
            if self.pxap is not None:
                self.pxap.update([minmax_normalize(m) for m in at_image], masks, ignore_masks)
        if self.box_acc is not None:
            self.box_acc.update(maps, [s.boxes - box_origin for s in samples], [(s.height, s.width) for s in samples])

    def results(self) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.fmeasure is not None:
            out["otsu_fmeasure"] = self.fmeasure.compute()
        if self.box_acc is not None:
            out.update(self.box_acc.results())
        if self.pxap is not None:
            out["pxap"] = self.pxap.compute()
        return out


def _box_metrics(
    boxes: np.ndarray, samples: list[Sample], box_origin: int, guesses: np.ndarray | None, chosen: list[str]
) -> dict[str, float]:
    gt = [s.boxes - box_origin for s in samples]
    out: dict[str, float] = {}
    if "gt-known" in chosen:
        out["gt_known_loc_accuracy"] = gt_known_accuracy(boxes, gt)
    if guesses is not None:
        labels = _single_labels(samples)
        for k in (k for k in LOC_TOP_K if k <= guesses.shape[1]):
            pred_boxes = np.repeat(boxes[:, None], k, axis=1)
            out[f"top{k}_loc_error"] = localization_error(guesses[:, :k], pred_boxes, labels, gt, k=k)
            out[f"top{k}_cls_error"] = float(np.mean(~(guesses[:, :k] == labels[:, None]).any(axis=1)))
    return out


def evaluate_heatmaps(
    maps: HeatmapStore,
    samples: Sequence[Sample],
    predictions: ClassPredictions | None = None,
    *,
    box_origin: int = 0,
    images_root: Path | None = None,
    masks: Sequence[np.ndarray] | None = None,
    ignore_masks: Sequence[np.ndarray | None] | None = None,
    metrics: Sequence[str] | None = None,
    on_missing: str = "fail",
    threshold: float = 0.2,
    normalize: str = "minmax",
    box_convention: str = "wsolevaluation",
    box_acc_size: int = 224,
    cam_curve_interval: float = DEFAULT_CAM_CURVE_INTERVAL,
    chunk_size: int = 256,
    batch_bytes: int = 1 << 28,
) -> dict:
    """Evaluate one heat map per sample; returns {"metrics": {name: value}, "images": ..., counts, settings}.

    Args:
        maps: the store (`open_heatmaps`); each sample's map is found by `heatmaps_io.match_keys`.
        samples: the ground truth (any reader's `Sample`s).
        predictions: ranked class guesses per image, for top-1/top-5 localization and classification
            error (one map per image: every guess is scored with that map's box); single-label data only.
        box_origin: 1 if the boxes are 1-based (VOC), 0 if 0-based (ILSVRC).
        images_root: the folder image paths are relative to (map ids may be relative paths).
        masks: optional (H, W) bool pixel masks at image size, one per sample, for PxAP; indexed one chunk
            at a time, so a lazy sequence (`gwapbench.data.wsol_masks.WsolMaskFiles`) streams from disk.
        ignore_masks: optional, beside `masks`: per sample a bool mask of pixels left out of PxAP (those
            outside the sample's mask) or None.
        metrics: names from METRICS (default: all that the inputs allow).
        on_missing: "fail": InputError for the first image without a map (or prediction); "skip":
            leave such images out of every metric and count them.
        threshold: the box threshold, a fraction of the map's max (CAM: 0.2).
        normalize: "minmax" (default: maps of any method, as wsolevaluation and the GWAP paper read them) or
            "none" (as stored; the CAM release's rule) before the box threshold (GT-known, localization error).
        box_convention: MaxBoxAcc's boxes, "wsolevaluation" (its code, default) or "components".
        box_acc_size: the square frame of MaxBoxAcc (wsolevaluation: 224).
        cam_curve_interval: the CAM threshold spacing of PxAP and MaxBoxAcc, thresholds np.arange(0, 1, interval)
            (wsolevaluation's command line: 0.01).
        chunk_size: maps resized to image size (or to the MaxBoxAcc frame) at a time.
        batch_bytes: stored map bytes loaded at a time (boxes are computed per batch; 256 MB holds all
            50,000 14x14 float32 maps, or ~1,300 at 224x224).
    A map that is not 2-D, is empty or holds NaN or infinity raises InputError naming the image.
    """
    if on_missing not in ON_MISSING_CHOICES:
        raise ValueError(f"on_missing must be one of {ON_MISSING_CHOICES}, got {on_missing!r}")
    if box_origin not in (0, 1):
        raise ValueError(f"box_origin must be 0 or 1, got {box_origin!r}")
    if masks is not None and len(masks) != len(samples):
        raise ValueError(f"masks: {len(masks)} masks for {len(samples)} samples")
    if ignore_masks is not None and (masks is None or len(ignore_masks) != len(samples)):
        raise ValueError("ignore_masks: give one per sample, beside masks")
    samples = list(samples)
    has_boxes = masks is None or any(len(s.boxes) for s in samples)
    chosen = _chosen_metrics(metrics, predictions is not None, masks is not None, has_boxes)
    map_keys = match_keys(samples, maps.keys, images_root, f"--heatmaps {maps.path}")
    keep = _present(samples, map_keys, on_missing, f"--heatmaps {maps.path}")
    guesses = None
    skipped_predictions = 0
    if predictions is not None and "loc-error" in chosen:
        rows = match_keys(samples, frozenset(predictions.image_ids), images_root, predictions.source)
        has_row = _present(samples, rows, on_missing, predictions.source)
        skipped_predictions = int((keep & ~has_row).sum())
        keep &= has_row
        row_of = {image_id: i for i, image_id in enumerate(predictions.image_ids)}
        guesses = predictions.guesses[[row_of[key] for key, k in zip(rows, keep) if k]]
    kept = [s for s, k in zip(samples, keep) if k]
    if not kept:
        raise InputError(f"--heatmaps {maps.path}: no image of the dataset has a heat map (and a prediction)")
    keys = [key for key, k in zip(map_keys, keep) if k]
    kept_index = np.flatnonzero(keep)

    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    accumulators = _Accumulators(chosen, box_acc_size, box_convention, cam_curve_interval)
    boxes = np.zeros((len(kept), 4), dtype=np.int64)
    start = 0
    for batch in _load_batches(iter_heatmaps(maps, keys), len(kept), batch_bytes):
        part = slice(start, start + len(batch))
        start = part.stop
        if "gt-known" in chosen or guesses is not None:  # the compiled path is fastest on many maps at once
            sizes = np.array([(s.height, s.width) for s in kept[part]], dtype=np.int64)
            normalized = [normalize_heatmap(m, normalize) for m in batch]
            boxes[part] = heatmaps_to_boxes(normalized, threshold, image_sizes=sizes)
        for sub in image_chunks(len(batch), chunk_size):  # maps at image size: a few hundred at a time
            images = slice(part.start + sub.start, part.start + sub.stop)
            rows = kept_index[images]
            accumulators.update(batch[sub.start : sub.stop], kept[images], box_origin,
                                [masks[i] for i in rows] if masks is not None else None,
                                [ignore_masks[i] for i in rows] if ignore_masks is not None else None)

    results = {**_box_metrics(boxes, kept, box_origin, guesses, chosen), **accumulators.results()}
    curve = {"pxap_curve": accumulators.pxap.curve()} if accumulators.pxap is not None else {}
    return {
        "metrics": results,
        **curve,
        "images": len(kept),
        "dataset_images": len(samples),
        "skipped_no_map": int((~np.array([k is not None for k in map_keys])).sum()),
        "skipped_no_prediction": skipped_predictions,
        "unused_maps": len(maps.keys) - len(set(key for key in map_keys if key is not None)),
        "settings": {"metrics": chosen, "threshold": threshold, "normalize": normalize,
                     "box_convention": box_convention, "box_acc_size": box_acc_size,
                     "box_origin": box_origin, "on_missing": on_missing, "cam_curve_interval": cam_curve_interval},
    }
