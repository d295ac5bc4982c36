"""Images and labels as batches for training and prediction.

Every image is resized to a fixed square `image_size` (the paper's single-scale 600x600 input),
normalized with the backbone's statistics and, in training, mirrored. Determinism: the order of
the training images and every flip decision derive from (seed, epoch) alone (`TrainBatches`),
never from a worker's random state, so a run resumed at iteration i sees the same batches as
one that never stopped, with any number of loader workers or processes.

Small datasets (decoded size below `cache_bytes`) are decoded once into memory as uint8; large
ones are decoded by the loader workers at every use.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Sampler

from gwapbench.data.decode import load_sample_image
from gwapbench.data.sample import Sample
from gwapbench.data.transforms import file_boxes_to_tensor, hflip_boxes
from gwapbench.errors import InputError

DEFAULT_CACHE_BYTES = 2 * 1024**3


class Batch(NamedTuple):
    """images (N, 3, S, S) normalized; targets (N, C) 1 where labelled present; label_mask (N, C) False
    where the label is 0 (difficult only); boxes: per image (G, 4) 0-based continuous corners in the
    resized (and mirrored) image; indices (N,) positions in the sample list."""

    images: torch.Tensor
    targets: torch.Tensor
    label_mask: torch.Tensor
    boxes: list[torch.Tensor]
    indices: torch.Tensor


def _resized_uint8(sample: Sample, size: int) -> torch.Tensor:
    """The sample's image resized to (size, size): bilinear with antialiasing on [0, 1] floats, rounded to uint8."""
    image = load_sample_image(sample).float().div_(255.0)
    resized = F.interpolate(image[None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return resized[0].mul_(255).round_().clamp_(0, 255).to(torch.uint8)


class ImageLabelDataset(Dataset):
    """Item for key (index, flip): (image uint8 (3, S, S), targets, label mask, boxes, index)."""

    def __init__(self, samples: Sequence[Sample], image_size: int, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.samples = list(samples)
        self.image_size = image_size
        self.cache: list[torch.Tensor] | None = None
        if len(self.samples) * 3 * image_size**2 <= cache_bytes:
            self.cache = [_resized_uint8(s, image_size) for s in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: tuple[int, bool]) -> tuple | InputError:
        """The item, or the InputError of an image that does not decode, returned rather than raised so
        that it reaches the main process whole (a DataLoader worker would wrap it in a traceback)."""
        index, flip = key
        sample = self.samples[index]
        try:
            image = self.cache[index] if self.cache is not None else _resized_uint8(sample, self.image_size)
        except InputError as err:
            return err
        scale = torch.tensor([self.image_size / max(sample.width, 1), self.image_size / max(sample.height, 1)] * 2)
        boxes = file_boxes_to_tensor(sample.boxes, first_pixel=1) * scale
        if flip:
            image, boxes = image.flip(-1), hflip_boxes(boxes, self.image_size)
        labels = torch.from_numpy(sample.labels.astype(np.int64))
        return image, (labels == 1).float(), labels != 0, boxes, index


class Normalizer:
    """uint8 images -> float, (x / 255 - mean) / std, on the batch's device."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(mean).reshape(1, -1, 1, 1) * 255
        self.std = torch.tensor(std).reshape(1, -1, 1, 1) * 255

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean.to(images.device), self.std.to(images.device)
        return (images.float() - mean) / std


def collate(items: Sequence[tuple | InputError]) -> Batch | InputError:
    """Stack items into a Batch; the first InputError among them is passed on instead."""
    error = next((item for item in items if isinstance(item, InputError)), None)
    if error is not None:
        return error
    images, targets, masks, boxes, indices = zip(*items)
    return Batch(torch.stack(images), torch.stack(targets), torch.stack(masks), list(boxes), torch.tensor(indices))


def epoch_keys(seed: int, epoch: int, count: int, flip_probability: float,
               stream: tuple[int, ...] = ()) -> list[tuple[int, bool]]:
    """The epoch's image order and flips: a permutation and uniforms from numpy's generator seeded
    SeedSequence([seed, epoch, *stream]); `stream` tells apart independent sequences of one run."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, epoch, *stream]))
    order = rng.permutation(count)
    flips = rng.random(count) < flip_probability
    return [(int(i), bool(f)) for i, f in zip(order, flips)]


class TrainBatches(Sampler[list[tuple[int, bool]]]):
    """Batches of keys for iterations `start`..`stop - 1`; this process's share of each global batch.

    Iteration t uses epoch t // per_epoch, where per_epoch = len(dataset) // global batch (the last
    incomplete batch of an epoch is dropped). With `world_size` processes, rank r takes the keys
    r, r + world_size, ... of each global batch, so N processes see exactly the images one process would.
    """

    def __init__(self, count: int, batch_size: int, seed: int, flip_probability: float, start: int, stop: int,
                 rank: int = 0, world_size: int = 1) -> None:
        if batch_size % world_size:
            raise InputError(f"batch size {batch_size} is not divisible by the {world_size} processes")
        if count < batch_size:
            raise InputError(f"the training split has {count} images, fewer than one batch of {batch_size}")
        self.count, self.batch_size, self.seed, self.flip_probability = count, batch_size, seed, flip_probability
        self.start, self.stop, self.rank, self.world_size = start, stop, rank, world_size
        self.per_epoch = count // batch_size

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __iter__(self) -> Iterator[list[tuple[int, bool]]]:
        epoch, keys = -1, []
        for iteration in range(self.start, self.stop):
            if iteration // self.per_epoch != epoch:
                epoch = iteration // self.per_epoch
                keys = epoch_keys(self.seed, epoch, self.count, self.flip_probability)
            first = (iteration % self.per_epoch) * self.batch_size
            yield keys[first + self.rank : first + self.batch_size : self.world_size]


def shard_keys(count: int, rank: int = 0, world_size: int = 1) -> list[tuple[int, bool]]:
    """Prediction keys of this process: images rank, rank + world_size, ... unflipped."""
    return [(i, False) for i in range(rank, count, world_size)]
