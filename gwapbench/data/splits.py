"""Box-proportion splits for Table V: which training images keep their boxes.

For a seed, one random permutation of the images fixes a single ranking:
1. cover: walk the permutation and take each image that has a box of a class not yet covered
   (greedy, so every class with any box gets at least one box-keeping image);
2. then every other image, in permutation order.
Proportion p keeps boxes on the first max(len(cover), round(p * N)) images of that ranking. The
ranking does not depend on p, so for one seed the sets are nested (1% inside 2% inside 5% ...);
when the cover alone exceeds p * N, the set is the cover (documented minimum size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from gwapbench.data.sample import Sample


def box_ranking(samples: Sequence[Sample], seed: int) -> tuple[np.ndarray, int]:
    """(order, cover_size): all sample indices, the greedy class cover first, then the rest, by seed."""
    if len(samples) == 0:
        raise ValueError("samples must not be empty")
    permutation = np.random.default_rng(seed).permutation(len(samples))
    uncovered = set(np.unique(np.concatenate([sample.box_labels for sample in samples])).tolist())
    cover = []
    for index in permutation:
        if not uncovered:
            break
        classes = uncovered.intersection(samples[index].box_labels.tolist())
        if classes:
            cover.append(index)
            uncovered -= classes
    in_cover = np.zeros(len(samples), dtype=bool)
    in_cover[cover] = True
    order = np.concatenate([np.array(cover, dtype=np.int64), permutation[~in_cover[permutation]]])
    return order, len(cover)


def box_proportion_split(samples: Sequence[Sample], proportion: float, seed: int) -> np.ndarray:
    """(N,) bool mask of the images that keep their boxes for `proportion` p in (0, 1] (see module doc)."""
    if not 0 < proportion <= 1:
        raise ValueError(f"proportion must be in (0, 1], got {proportion}")
    order, cover_size = box_ranking(samples, seed)
    count = max(cover_size, int(round(proportion * len(samples))))
    keeps = np.zeros(len(samples), dtype=bool)
    keeps[order[:count]] = True
    return keeps


def drop_boxes(samples: Sequence[Sample], keeps_boxes: np.ndarray) -> list[Sample]:
    """Samples where `keeps_boxes` is False lose their boxes and keep only image-level labels."""
    keeps_boxes = np.asarray(keeps_boxes, dtype=bool)
    if keeps_boxes.shape != (len(samples),):
        raise ValueError(f"keeps_boxes must have shape ({len(samples)},), got {keeps_boxes.shape}")
    return [
        sample
        if keep
        else replace(
            sample,
            boxes=np.zeros((0, 4), dtype=np.float64),
            box_labels=np.zeros(0, dtype=np.int64),
            difficult=np.zeros(0, dtype=bool),
        )
        for sample, keep in zip(samples, keeps_boxes)
    ]
