"""Counts that describe a list of samples: images, objects and difficult objects, overall and per class."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gwapbench.data.sample import Sample


@dataclass(frozen=True)
class ClassCounts:
    """For one class: images labelled 1, images labelled 0 (difficult only), objects, difficult objects."""

    name: str
    positive_images: int
    difficult_only_images: int
    objects: int
    difficult_objects: int


def class_counts(samples: Sequence[Sample], class_names: Sequence[str]) -> list[ClassCounts]:
    """Per-class counts over `samples` (labels (C,) 1/-1/0 and per-box classes and difficult flags)."""
    num_classes = len(class_names)
    if samples:
        labels = np.stack([s.labels for s in samples])
        if labels.shape[1] != num_classes:
            raise ValueError(f"samples have {labels.shape[1]} classes but {num_classes} class names were given")
    else:
        labels = np.zeros((0, num_classes), dtype=np.int8)
    box_labels = np.concatenate([s.box_labels for s in samples] or [np.zeros(0, dtype=np.int64)])
    difficult = np.concatenate([s.difficult for s in samples] or [np.zeros(0, dtype=bool)])
    objects = np.bincount(box_labels, minlength=num_classes)
    hard = np.bincount(box_labels[difficult], minlength=num_classes)
    positive = (labels == 1).sum(axis=0)
    difficult_only = (labels == 0).sum(axis=0)
    return [
        ClassCounts(name, int(positive[c]), int(difficult_only[c]), int(objects[c]), int(hard[c]))
        for c, name in enumerate(class_names)
    ]
