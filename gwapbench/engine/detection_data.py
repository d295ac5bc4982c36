"""Table V's data: training images with boxes on a proportion of them, as R-FCN batches.

- `split_boxes`: the nested, seeded box-proportion split (`gwapbench.data.box_proportion_split`);
  the other images keep only their image-level labels (`drop_boxes`).
- `DetectionDataset`: an image at its own size as uint8 (R-FCN's transform resizes it to the
  schedule's shorter side) and its target: "boxes" (0-based continuous corners,
  `file_boxes_to_tensor`) and "labels" of the non-difficult boxes, and "image_labels" (classes
  labelled 1). Difficult boxes are left out of training, as py-faster-rcnn does
  (`USE_DIFF = False`); an image whose boxes are all difficult (or that lost its boxes) has no
  "boxes" key and is image-level only. Mirrored when its key says so.
- Batches reuse Table I's seeded `TrainBatches` keys (order and flips from (seed, epoch) alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from gwapbench.data.datasets import load_image_uint8
from gwapbench.data.sample import Sample
from gwapbench.data.splits import box_proportion_split, drop_boxes
from gwapbench.data.transforms import file_boxes_to_tensor
from gwapbench.engine.batches import DEFAULT_CACHE_BYTES
from gwapbench.errors import InputError


class DetectionBatch(NamedTuple):
    """images: per image (3, H, W) uint8; targets: per image the R-FCN target dict; indices (N,)."""

    images: list[Tensor]
    targets: list[dict[str, Tensor]]
    indices: Tensor


def split_boxes(samples: Sequence[Sample], proportion: float, seed: int) -> list[Sample]:
    """The training samples with boxes kept on the `proportion` ranking of `seed` and dropped elsewhere."""
    return drop_boxes(samples, box_proportion_split(samples, proportion, seed))


def has_training_boxes(sample: Sample) -> bool:
    """True when the sample has a non-difficult box (it then takes part in the detection loss)."""
    return bool((~sample.difficult.astype(bool)).any())


def _decode(sample: Sample) -> Tensor:
    image = load_image_uint8(sample.image_path)
    if tuple(image.shape[1:]) != (sample.height, sample.width):
        raise InputError(
            f"{sample.image_path}: image is {image.shape[2]}x{image.shape[1]} but its annotation says "
            f"{sample.width}x{sample.height}"
        )
    return image


def training_target(sample: Sample, flip: bool) -> dict[str, Tensor]:
    """R-FCN's target of a sample (see the module docstring), mirrored when `flip`."""
    target = {"image_labels": torch.from_numpy((sample.labels == 1).astype(np.float32))}
    keep = ~sample.difficult.astype(bool)
    if keep.any():
        boxes = file_boxes_to_tensor(sample.boxes[keep], first_pixel=1)
        if flip:
            boxes = torch.stack([sample.width - boxes[:, 2], boxes[:, 1], sample.width - boxes[:, 0], boxes[:, 3]], 1)
        target["boxes"] = boxes
        target["labels"] = torch.from_numpy(sample.box_labels[keep].astype(np.int64))
    return target


class DetectionDataset(Dataset):
    """Item for key (index, flip): (image uint8 (3, H, W), target, index), or the InputError of an
    image that does not decode (returned, so that it reaches the main process whole)."""

    def __init__(self, samples: Sequence[Sample], cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.samples = list(samples)
        self.cache: list[Tensor] | None = None
        if sum(3 * s.width * s.height for s in self.samples) <= cache_bytes:
            self.cache = [_decode(s) for s in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, bool]) -> tuple | InputError:
        index, flip = key
        sample = self.samples[index]
        try:
            image = self.cache[index] if self.cache is not None else _decode(sample)
        except InputError as err:
            return err
        return (image.flip(-1) if flip else image), training_target(sample, flip), index


def collate_detection(items: Sequence[tuple | InputError]) -> DetectionBatch | InputError:
    """Items as a DetectionBatch; the first InputError among them is passed on instead."""
    error = next((item for item in items if isinstance(item, InputError)), None)
    if error is not None:
        return error
    images, targets, indices = zip(*items)
    return DetectionBatch(list(images), list(targets), torch.tensor(indices))
