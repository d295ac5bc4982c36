"""Maps in chunks of images, for every evaluation path (`engine/evaluate.py`, `engine/ilsvrc_evaluate.py`,
`evaluation/evaluate.py`): a map resized to its image (up to ~1 MB as float32 at VOC or ILSVRC sizes) is
built for one chunk at a time, so memory stays bounded at any dataset size."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from gwapbench.data.sample import Sample
from gwapbench.metrics import resize_heatmap


def image_chunks(count: int, size: int) -> Iterator[range]:
    """range(0, size), range(size, 2 size), ... up to `count`: consecutive image indices, `size` at a time
    (the last chunk may be shorter)."""
    if size < 1:
        raise ValueError(f"chunk size must be at least 1, got {size}")
    for first in range(0, count, size):
        yield range(first, min(first + size, count))


def maps_at_image_size(maps: Iterable[np.ndarray], samples: Iterable[Sample]) -> list[np.ndarray]:
    """Each map resized bilinearly (`resize_heatmap`: half-pixel centres, as OpenCV) to its sample's size."""
    return [resize_heatmap(m, s.height, s.width) for m, s in zip(maps, samples)]
