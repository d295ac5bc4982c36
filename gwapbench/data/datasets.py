"""Torch datasets over `Sample` lists: multi-label (VOC), single-label (ILSVRC) and detection.

Images are decoded with PIL to float32 (3, H, W) tensors in [0, 1], then passed with their
target through `transform(image, target)` (see `gwapbench.data.transforms`; classification
datasets pass `target=None`). A file that does not decode, or whose size differs from its
annotation, raises `InputError` naming the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from gwapbench.data.sample import Sample
from gwapbench.data.transforms import Target, Transform, file_boxes_to_tensor
from gwapbench.errors import InputError


def load_image_uint8(path: str | Path) -> torch.Tensor:
    """Decode an image file to a uint8 RGB tensor (3, H, W); InputError naming the file on failure."""
    try:
        with Image.open(path) as image:
            pixels = np.array(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise InputError(f"{path}: cannot decode image ({err})") from err
    return torch.from_numpy(pixels).permute(2, 0, 1)


def load_image(path: str | Path) -> torch.Tensor:
    """Decode an image file to a float32 RGB tensor (3, H, W) in [0, 1] (`load_image_uint8` / 255)."""
    return load_image_uint8(path).float().div_(255.0)


class _SampleDataset(Dataset):
    """Shared part: a list of samples, image loading with a size check, and an optional transform."""

    def __init__(self, samples: Sequence[Sample], transform: Transform | None = None) -> None:
        self.samples = list(samples)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.samples)

    def _load(self, index: int, target: Target) -> tuple[torch.Tensor, Target]:
        sample = self.samples[index]
        image = load_image(sample.image_path)
        if tuple(image.shape[1:]) != (sample.height, sample.width):
            raise InputError(
                f"{sample.image_path}: image is {image.shape[2]}x{image.shape[1]} but its annotation says "
                f"{sample.width}x{sample.height}"
            )
        return self.transform(image, target) if self.transform is not None else (image, target)


class MultiLabelDataset(_SampleDataset):
    """VOC classification: item = (image, target, mask).

    target: (C,) float32, 1 where the label is 1, else 0; mask: (C,) bool, False where the label is 0
    (the class appears only as difficult objects: excluded from losses and AP, as VOC does).
    """

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        image, _ = self._load(index, None)
        labels = torch.from_numpy(self.samples[index].labels.astype(np.int64))
        return image, (labels == 1).float(), labels != 0


class SingleLabelDataset(_SampleDataset):
    """ILSVRC classification: item = (image, class index), the one class labelled 1."""

    def __init__(self, samples: Sequence[Sample], transform: Transform | None = None) -> None:
        super().__init__(samples, transform)
        positives = [np.flatnonzero(s.labels == 1) for s in self.samples]
        bad = next((s.image_id for s, p in zip(self.samples, positives) if len(p) != 1), None)
        if bad is not None:
            raise ValueError(f"samples: image {bad} does not have exactly one positive label")
        self.classes = [int(p[0]) for p in positives]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image, _ = self._load(index, None)
        return image, self.classes[index]


class DetectionDataset(_SampleDataset):
    """Boxes with their image: item = (image, target) with target keys
    "boxes" (G, 4) float32 0-based continuous x1, y1, x2, y2 (see `gwapbench.data.transforms`),
    "labels" (G,) int64, "difficult" (G,) bool, "image_index" () int64 (position in `samples`).

    `first_pixel` is the index of the first pixel in the samples' inclusive box corners: 1 for VOC
    (the default), 0 for ILSVRC.
    """

    def __init__(self, samples: Sequence[Sample], transform: Transform | None = None, first_pixel: int = 1) -> None:
        super().__init__(samples, transform)
        file_boxes_to_tensor(np.zeros((0, 4)), first_pixel)  # validates first_pixel up front
        self.first_pixel = first_pixel

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        sample = self.samples[index]
        target = {
            "boxes": file_boxes_to_tensor(sample.boxes, self.first_pixel),
            "labels": torch.from_numpy(sample.box_labels.astype(np.int64)),
            "difficult": torch.from_numpy(sample.difficult.astype(bool)),
            "image_index": torch.tensor(index, dtype=torch.int64),
        }
        image, target = self._load(index, target)
        return image, target


def detection_collate(
    batch: Sequence[tuple[torch.Tensor, dict[str, torch.Tensor]]],
) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    """Batch detection items as (list of images, list of targets): images may differ in size and
    hold different numbers of boxes, which is what torchvision detection models take."""
    return [image for image, _ in batch], [target for _, target in batch]
