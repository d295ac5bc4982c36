"""Table V's data: training images with boxes on a proportion of them, as R-FCN batches.

- `split_boxes`: the nested, seeded box-proportion split (`gwapbench.data.box_proportion_split`);
  the other images keep only their image-level labels (`drop_boxes`).
- `DetectionDataset`: an image at its own size as uint8 (R-FCN's transform resizes it to the
  schedule's shorter side) and its target: "boxes" (0-based continuous corners,
  `file_boxes_to_tensor`) and "labels" of the non-difficult boxes, and "image_labels" (classes
  labelled 1). Difficult boxes are left out of training, as py-faster-rcnn does
  (`USE_DIFF = False`); an image whose boxes are all difficult (or that lost its boxes) has no
  "boxes" key and is image-level only. Mirrored when its key says so.
- `DetectionBatches`: each iteration plain R-FCN's batch of box images (Table I's seeded
  `TrainBatches` over the box images: order and flips from (seed, epoch) alone), then, for the
  weak methods, image-level images from a second seeded stream (`image_level_stream`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from gwapbench.data.decode import load_sample_image
from gwapbench.data.sample import Sample
from gwapbench.data.splits import box_proportion_split, drop_boxes
from gwapbench.data.transforms import file_boxes_to_tensor, hflip_boxes
from gwapbench.engine.batches import DEFAULT_CACHE_BYTES, TrainBatches, epoch_keys
from gwapbench.errors import InputError

IMAGE_LEVEL_STREAM = (1,)  # image-level stream: SeedSequence([seed, epoch, 1]); the box stream's is [seed, epoch]


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


def training_target(sample: Sample, flip: bool) -> dict[str, Tensor]:
    """R-FCN's target of a sample (see the module docstring), mirrored when `flip`."""
    target = {"image_labels": torch.from_numpy((sample.labels == 1).astype(np.float32))}
    keep = ~sample.difficult.astype(bool)
    if keep.any():
        boxes = file_boxes_to_tensor(sample.boxes[keep], first_pixel=1)
        target["boxes"] = hflip_boxes(boxes, sample.width) if flip else boxes
        target["labels"] = torch.from_numpy(sample.box_labels[keep].astype(np.int64))
    return target


class DetectionDataset(Dataset):
    """Item for key (index, flip): (image uint8 (3, H, W), target, index), or the InputError of an
    image that does not decode (returned, so that it reaches the main process whole)."""

    def __init__(self, samples: Sequence[Sample], cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.samples = list(samples)
        self.cache: list[Tensor] | None = None
        if sum(3 * s.width * s.height for s in self.samples) <= cache_bytes:
            self.cache = [load_sample_image(s) for s in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, bool]) -> tuple | InputError:
        index, flip = key
        sample = self.samples[index]
        try:
            image = self.cache[index] if self.cache is not None else load_sample_image(sample)
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


def image_level_stream(seed: int, count: int, flip_probability: float, first: int) -> Iterator[tuple[int, bool]]:
    """Keys (position in the image-level pool, flip) from position `first` on: the pool's epochs one after
    another, none cut short, epoch e's order and flips from SeedSequence([seed, e, 1]) (`epoch_keys`)."""
    epoch, offset = divmod(first, count)
    while True:
        yield from epoch_keys(seed, epoch, count, flip_probability, IMAGE_LEVEL_STREAM)[offset:]
        epoch, offset = epoch + 1, 0


class DetectionBatches(Sampler[list[tuple[int, bool]]]):
    """Table V's batches of dataset keys (index, flip) for iterations `start`..`stop - 1`, this process's share.

    Iteration t: plain R-FCN's batch, the `batch_size` box images `TrainBatches` draws over `box_indices`,
    then `image_level` images of `image_level_indices`, positions t x image_level .. (t + 1) x image_level - 1
    of `image_level_stream` (none when that pool is empty). Under torchrun rank r takes the keys r, r + W, ...
    of each part, so W processes see exactly the images of one; a resumed run, those of one never stopped.
    """

    def __init__(self, box_indices: Sequence[int], image_level_indices: Sequence[int], batch_size: int,
                 image_level: int, seed: int, flip_probability: float, start: int, stop: int, rank: int = 0,
                 world_size: int = 1) -> None:
        self.image_level = image_level if len(image_level_indices) else 0
        if self.image_level % world_size:
            raise InputError(f"{image_level} image-level images per batch cannot be split over {world_size} processes")
        self.boxes = TrainBatches(len(box_indices), batch_size, seed, flip_probability, start, stop, rank, world_size)
        self.box_indices, self.image_level_indices = list(box_indices), list(image_level_indices)
        self.seed, self.flip_probability, self.start = seed, flip_probability, start
        self.rank, self.world_size = rank, world_size

    def __len__(self) -> int:
        return len(self.boxes)

    def __iter__(self) -> Iterator[list[tuple[int, bool]]]:
        count = len(self.image_level_indices)
        stream = (image_level_stream(self.seed, count, self.flip_probability, self.start * self.image_level)
                  if self.image_level else iter(()))
        for box_keys in self.boxes:
            extra = list(islice(stream, self.image_level))[self.rank :: self.world_size]
            yield ([(self.box_indices[i], flip) for i, flip in box_keys]
                   + [(self.image_level_indices[i], flip) for i, flip in extra])
