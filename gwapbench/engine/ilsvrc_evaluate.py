"""ILSVRC metrics from stored predictions (Tables III-IV), with gwapbench.metrics; all in percent.

- `top{k}_cls_error`: `topk_error` of the logits against each image's class (sorted-wnid index);
- `top{k}_loc_error`: devkit `eval_clsloc` (`localization_error`): guess r is the r-th ranked
  class with the box of its map (CAM of that class, or GWAP's class-agnostic alpha for every
  guess), normalized as its kind asks (`map_normalization`: alpha min-max normalized to [0, 1] at
  feature resolution, paper IV-B/IV-C; CAM and saliency maps as stored), resized bilinearly to the
  image, thresholded at `threshold` x max, largest 8-connected component (`heatmaps_to_boxes`, or
  another `box_method`);
- `gt_known_loc_accuracy`: the box of the true class's map (alpha for GWAP) hits a GT box
  (IoU >= 0.5); `max_box_acc` / `max_box_acc_v2` (Choe et al. 2020, optional, single-scale):
  `FramedBoxAcc`, the one MaxBoxAcc path of `gwapbench evaluate` too.

Multi-scale (Table IV's last row): the maps of each scale are normalized (as above), resized to the
image and averaged (`multiscale_average`), and the mean normalized again; the classes are those
ranked at the training scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from gwapbench.data.sample import Sample
from gwapbench.errors import InputError
from gwapbench.evaluation.chunks import image_chunks, maps_at_image_size
from gwapbench.metrics import (
    NORMALIZATIONS,
    FramedBoxAcc,
    gt_known_accuracy,
    heatmap_to_box,
    heatmaps_to_boxes,
    localization_error,
    multiscale_average,
    normalize_heatmap,
    topk_error,
)
from gwapbench.metrics.box_methods import BOX_CONVENTIONS, DEFAULT_BOX_METHOD

CHUNK = 2048  # images per multi-scale / MaxBoxAcc chunk (bounds memory at image size)


@dataclass(frozen=True)
class LocalizationOptions:
    """threshold: fraction of the map's max; box_method: a `heatmap_to_box` method; exclude: (N,) bool mask
    of images left out of the localization denominators (the devkit blacklist); max_box_acc: also compute
    MaxBoxAcc (IoU 0.5) and MaxBoxAccV2 (single-scale maps only); top_ks: the k of the top-k errors;
    normalize: "minmax" or "none" before the threshold, None for the map kind's default
    (`map_normalization`); box_convention: MaxBoxAcc's ("wsolevaluation" reproduces its published numbers)."""

    threshold: float = 0.2
    box_method: str = DEFAULT_BOX_METHOD
    exclude: np.ndarray | None = None
    max_box_acc: bool = False
    top_ks: tuple[int, ...] = (1, 5)
    normalize: str | None = None
    box_convention: str = "wsolevaluation"

    def __post_init__(self) -> None:
        if self.normalize is not None and self.normalize not in NORMALIZATIONS:
            raise ValueError(f"normalize must be one of {NORMALIZATIONS} or None, got {self.normalize!r}")
        if self.box_convention not in BOX_CONVENTIONS:
            raise ValueError(f"box_convention must be one of {BOX_CONVENTIONS}, got {self.box_convention!r}")


def map_normalization(map_names: Sequence[str], options: LocalizationOptions) -> str:
    """What the box rule reads: `options.normalize` when set, else by map kind: "minmax" for a class-agnostic
    weight map (GWAP's alpha; the paper, IV-B: "we convert a weight map to a heat map normalized to [0,1]",
    IV-C: thresholding as in CAM), "none" for class maps (CAM, saliency: the CAM release divides each map by
    its max, ILSVRC_generate_heatmap.m line 124, which the t x max rule already does)."""
    if options.normalize is not None:
        return options.normalize
    return "minmax" if [str(n) for n in map_names] == ["alpha"] else "none"


def _resolved(options: LocalizationOptions) -> str:
    if options.normalize is None:
        raise ValueError("options.normalize is None: resolve it with map_normalization(map_names, options) "
                         "(or call prediction_boxes, which does)")
    return options.normalize


def true_labels(samples: Sequence[Sample]) -> np.ndarray:
    """(N,) each image's class: the class of its first box, else its first class labelled 1."""
    labels = []
    for s in samples:
        positives = s.box_labels if len(s.box_labels) else s.positive_classes
        if len(positives) == 0:
            raise InputError(f"{s.image_path}: image {s.image_id} has no class label")
        labels.append(int(positives[0]))
    return np.array(labels, dtype=np.int64)


def ranked_classes(logits: np.ndarray, k: int) -> np.ndarray:
    """(N, k) classes by descending logit, ties to the lower class index (as `topk_error`): k argmax passes,
    each masking the class it found (argmax returns the first maximum)."""
    work = np.array(logits, dtype=np.float64)
    ranked = np.empty((len(work), k), dtype=np.int64)
    rows = np.arange(len(work))
    for r in range(k):
        ranked[:, r] = work.argmax(axis=1)
        work[rows, ranked[:, r]] = -np.inf
    return ranked


def map_of(maps: np.ndarray, map_names: Sequence[str], name: str) -> np.ndarray:
    """(N, h, w) float32: the stored map `name` ("top1".."top5", "gt"), or the class-agnostic alpha."""
    names = [str(n) for n in map_names]
    if names == ["alpha"]:
        return maps[:, 0].astype(np.float32)
    if name not in names:
        raise InputError(f"the stored predictions have no {name!r} map (they hold {', '.join(names) or 'none'})")
    return maps[:, names.index(name)].astype(np.float32)


def box_method_available(method: str) -> bool:
    """Whether `heatmap_to_box` knows `method` in this installation (e.g. "cam_legacy")."""
    try:
        heatmap_to_box(np.ones((2, 2), np.float32), method=method)
    except ValueError:
        return False
    return True


def _boxes_at_image_size(maps: Sequence[np.ndarray], options: LocalizationOptions) -> np.ndarray:
    """(N, 4) boxes of maps already at their image's size: `heatmaps_to_boxes`, or one `heatmap_to_box`
    call per map for the other box methods (cam_legacy)."""
    if options.box_method == DEFAULT_BOX_METHOD:
        return heatmaps_to_boxes(list(maps), options.threshold)
    boxes = [heatmap_to_box(m, options.threshold, options.box_method) for m in maps]
    return np.array(boxes, dtype=np.int64).reshape(-1, 4)


def image_boxes(maps: Sequence[np.ndarray], samples: Sequence[Sample], options: LocalizationOptions) -> np.ndarray:
    """(N, 4) boxes in the image frame of maps at any size: each normalized at its own resolution
    (`options.normalize`, resolved: `map_normalization`), then resized bilinearly to its image (the default
    method never builds the resized map). Normalizing first keeps the compiled upsampling kernel: bilinear
    weights are a convex combination, so the resized map stays in [0, 1] (docs/ilsvrc.md)."""
    how = _resolved(options)
    maps = [normalize_heatmap(m, how) for m in maps]
    if options.box_method != DEFAULT_BOX_METHOD:
        return _boxes_at_image_size(maps_at_image_size(maps, samples), options)
    sizes = np.array([[s.height, s.width] for s in samples], dtype=np.int64)
    return heatmaps_to_boxes(list(maps), options.threshold, options.box_method, sizes)


def multiscale_boxes(scale_maps: Sequence[np.ndarray], samples: Sequence[Sample],
                     options: LocalizationOptions) -> np.ndarray:
    """(N, 4) boxes of each image's mean map over scales: each scale's map normalized (`options.normalize`,
    resolved), resized to the image and averaged (`multiscale_average`), the mean normalized again; in chunks
    of `CHUNK` images (the averaged maps are image-sized)."""
    how = _resolved(options)
    boxes = []
    for chunk in image_chunks(len(samples), CHUNK):
        averaged = [normalize_heatmap(multiscale_average([normalize_heatmap(m[i], how) for m in scale_maps],
                                                         samples[i].height, samples[i].width), how)
                    .astype(np.float32) for i in chunk]
        boxes.append(_boxes_at_image_size(averaged, options))
    return np.concatenate(boxes) if boxes else np.zeros((0, 4), np.int64)


def max_box_acc_metrics(maps: np.ndarray | list[np.ndarray], samples: Sequence[Sample],
                        box_convention: str = "wsolevaluation") -> dict[str, float]:
    """MaxBoxAcc at IoU 0.5 and MaxBoxAccV2 (percent) in wsolevaluation's 224 x 224 frame (`FramedBoxAcc`)."""
    accuracy = FramedBoxAcc(box_convention)
    for chunk in image_chunks(len(samples), CHUNK):
        accuracy.update([maps[i] for i in chunk], [samples[i].boxes for i in chunk],
                        [(samples[i].height, samples[i].width) for i in chunk])
    return {name: 100 * value for name, value in accuracy.results().items()}


def ilsvrc_metrics(logits: np.ndarray, samples: Sequence[Sample], guess_boxes: Sequence[np.ndarray] | None = None,
                   gt_class_boxes: np.ndarray | None = None,
                   options: LocalizationOptions = LocalizationOptions()) -> dict[str, object]:
    """Classification errors, and with boxes the localization metrics (module doc).

    guess_boxes[r]: (N, 4) boxes of each image's r-th ranked class (one entry for class-agnostic maps,
    used for every guess); gt_class_boxes: (N, 4) boxes of the true class's map."""
    labels = true_labels(samples)
    metrics: dict[str, object] = {"test_images": len(samples)}
    for k in options.top_ks:
        if k <= logits.shape[1]:
            metrics[f"top{k}_cls_error"] = 100 * topk_error(logits, labels, k)
    if guess_boxes is None:
        return metrics
    gt_boxes = [s.boxes for s in samples]
    ranked = ranked_classes(logits, min(max(options.top_ks), logits.shape[1]))
    for k in options.top_ks:
        if k <= ranked.shape[1]:
            guesses = np.stack([guess_boxes[min(r, len(guess_boxes) - 1)] for r in range(k)], axis=1)
            metrics[f"top{k}_loc_error"] = 100 * localization_error(ranked[:, :k], guesses, labels, gt_boxes, k=k,
                                                                     exclude=options.exclude)
    if options.exclude is not None:
        metrics["excluded_from_loc"] = int(np.count_nonzero(options.exclude))
    if gt_class_boxes is not None:
        metrics["gt_known_loc_accuracy"] = 100 * gt_known_accuracy(gt_class_boxes, gt_boxes)
    return metrics


def stored_guess_maps(predictions: dict[str, np.ndarray]) -> tuple[list[np.ndarray] | None, np.ndarray | None]:
    """(maps per rank, true-class maps) of one prediction file; (None, None) when it stores no maps."""
    names = [str(n) for n in predictions["map_names"]]
    maps = predictions["maps"]
    if not names:
        return None, None
    if names == ["alpha"]:
        alpha = map_of(maps, names, "alpha")
        return [alpha], alpha
    ranks = [map_of(maps, names, n) for n in names if n.startswith("top")]
    return ranks, map_of(maps, names, "gt")


def _check_ids(predictions: dict[str, np.ndarray], samples: Sequence[Sample]) -> None:
    if [str(i) for i in predictions["image_ids"]] != [s.image_id for s in samples]:
        raise ValueError("stored predictions do not list the val images in the dataset's order")


def prediction_boxes(scale_predictions: Sequence[dict[str, np.ndarray]], samples: Sequence[Sample],
                     options: LocalizationOptions) -> tuple[list[np.ndarray] | None, np.ndarray | None]:
    """(boxes per ranked guess, boxes of the true class's map) in the image frame: from one scale's maps,
    or from each image's maps averaged over several scales; (None, None) without maps."""
    for predictions in scale_predictions:
        _check_ids(predictions, samples)
    stored = [stored_guess_maps(p) for p in scale_predictions]
    options = replace(options, normalize=map_normalization(scale_predictions[0]["map_names"], options))
    if stored[0][0] is None:
        if len(stored) > 1:
            raise InputError("multi-scale maps need a method with maps (not `original`)")
        return None, None
    guesses = min(len(stored[0][0]), max(options.top_ks))  # boxes only for the ranks some top-k error uses
    if len(stored) == 1:
        ranks, gt = stored[0]
        guess = [image_boxes(maps, samples, options) for maps in ranks[:guesses]]
        return guess, guess[0] if gt is ranks[0] else image_boxes(gt, samples, options)  # alpha: one map
    guess = [multiscale_boxes([s[0][r] for s in stored], samples, options) for r in range(guesses)]
    same = stored[0][1] is stored[0][0][0]
    return guess, guess[0] if same else multiscale_boxes([s[1] for s in stored], samples, options)


def evaluate_ilsvrc_boxes(scale_predictions: Sequence[dict[str, np.ndarray]], samples: Sequence[Sample],
                          options: LocalizationOptions = LocalizationOptions(),
                          ranking: dict[str, np.ndarray] | None = None) -> tuple[dict[str, object], np.ndarray | None]:
    """(metrics, (N, 4) top-1 boxes or None) of one scale's maps or of several scales' maps averaged; logits
    and class ranking from `ranking` (the training scale's predictions; default the first given), which
    the stored maps of every scale follow."""
    if options.max_box_acc and len(scale_predictions) > 1:
        raise InputError("--max-box-acc: MaxBoxAcc scores one map per image (single-scale maps); drop --scales or "
                         "--max-box-acc")
    guess_boxes, gt_class_boxes = prediction_boxes(scale_predictions, samples, options)
    logits = (scale_predictions[0] if ranking is None else ranking)["logits"].astype(np.float64)
    metrics = ilsvrc_metrics(logits, samples, guess_boxes, gt_class_boxes, options)
    if options.max_box_acc and guess_boxes is not None:
        metrics.update(max_box_acc_metrics(stored_guess_maps(scale_predictions[0])[1], samples,
                                           options.box_convention))
    return metrics, None if guess_boxes is None else guess_boxes[0]


def evaluate_ilsvrc(predictions: dict[str, np.ndarray], samples: Sequence[Sample],
                    options: LocalizationOptions = LocalizationOptions()) -> dict[str, object]:
    """A run's metrics.json content from its single-scale predictions."""
    return evaluate_ilsvrc_boxes([predictions], samples, options)[0]
