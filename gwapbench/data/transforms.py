"""Paired image/box transforms for float image tensors (3, H, W).

Box convention inside tensors: 0-based continuous corners x1, y1, x2, y2 in pixels, where the
pixel with 0-based index i covers [i, i + 1) -- what torchvision detection models expect. A file
box with inclusive integer corners and first pixel index `first_pixel` (1 for VOC, 0 for ILSVRC)
maps to (xmin - first_pixel, ymin - first_pixel, xmax - first_pixel + 1, ymax - first_pixel + 1),
so an image-wide VOC box (1, 1, W, H) becomes (0, 0, W, H). In this convention resizing scales
coordinates by new/old size exactly, and a horizontal flip maps x to W - x (x1' = W - x2, x2' = W - x1).

Every transform is called as `transform(image, target)` and returns `(image, target)`; `target` is
None (classification) or a dict whose "boxes" entry is an (N, 4) float tensor; other entries pass through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

Target = dict[str, torch.Tensor] | None
Transform = Callable[[torch.Tensor, Target], tuple[torch.Tensor, Target]]


def file_boxes_to_tensor(boxes: np.ndarray, first_pixel: int) -> torch.Tensor:
    """(G, 4) inclusive file corners with first pixel index `first_pixel` -> float32 0-based continuous corners."""
    if first_pixel not in (0, 1):
        raise ValueError(f"first_pixel: expected 0 (ILSVRC) or 1 (VOC), got {first_pixel}")
    shift = np.array([first_pixel, first_pixel, first_pixel - 1, first_pixel - 1], dtype=np.float64)
    return torch.from_numpy((np.asarray(boxes, dtype=np.float64).reshape(-1, 4) - shift).astype(np.float32))


def _with_boxes(target: Target, boxes: torch.Tensor) -> Target:
    return {**target, "boxes": boxes} if target is not None else None


def _check_image(image: torch.Tensor) -> None:
    if image.ndim != 3 or not image.is_floating_point():
        raise ValueError(f"image: expected a float tensor (C, H, W), got {image.dtype} of shape {tuple(image.shape)}")


class Resize:
    """Resize to a fixed `(height, width)`, or, given one int, so that the shorter side equals it
    (longer side = int(size * longer / shorter), truncated as torchvision's `Resize` does). Bilinear
    with antialiasing; boxes scale by new/old size per axis."""

    def __init__(self, size: int | tuple[int, int]) -> None:
        sides = (size,) if isinstance(size, int) else tuple(size)
        if len(sides) not in (1, 2) or any(not isinstance(s, int) or s < 1 for s in sides):
            raise ValueError(f"size: expected a positive int or (height, width), got {size!r}")
        self.size = size

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        if not isinstance(self.size, int):
            return self.size[0], self.size[1]
        if height <= width:
            return self.size, max(1, int(self.size * width / height))
        return max(1, int(self.size * height / width)), self.size

    def __call__(self, image: torch.Tensor, target: Target = None) -> tuple[torch.Tensor, Target]:
        _check_image(image)
        height, width = image.shape[-2:]
        new_height, new_width = self.output_size(height, width)
        resized = F.interpolate(
            image[None], size=(new_height, new_width), mode="bilinear", align_corners=False, antialias=True
        )[0]
        if target is None:
            return resized, None
        scale = torch.tensor([new_width / width, new_height / height] * 2, dtype=target["boxes"].dtype)
        return resized, _with_boxes(target, target["boxes"] * scale)


class RandomHorizontalFlip:
    """Flip with probability `p`, drawing from `generator` (a seeded `torch.Generator`) or, when None,
    from torch's global RNG (which DataLoader seeds differently in each worker). A generator is
    copied into every DataLoader worker, so with workers > 0 each worker repeats the same draws:
    use it for reproducible single-process runs."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p: expected a probability in [0, 1], got {p}")
        self.p = p
        self.generator = generator

    def __call__(self, image: torch.Tensor, target: Target = None) -> tuple[torch.Tensor, Target]:
        _check_image(image)
        if torch.rand(1, generator=self.generator).item() >= self.p:
            return image, target
        return hflip(image, target)


def hflip(image: torch.Tensor, target: Target = None) -> tuple[torch.Tensor, Target]:
    """Mirror left-right: x -> W - x, so (x1, y1, x2, y2) -> (W - x2, y1, W - x1, y2)."""
    flipped = image.flip(-1)
    if target is None:
        return flipped, None
    width = image.shape[-1]
    boxes = target["boxes"]
    mirrored = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], dim=1)
    return flipped, _with_boxes(target, mirrored)


class Normalize:
    """(image - mean) / std per channel, with a backbone's statistics (e.g. ImageNet's
    mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225) for images in [0, 1])."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32).reshape(-1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).reshape(-1, 1, 1)
        if self.mean.shape != self.std.shape:
            raise ValueError(f"mean and std: expected the same length, got {len(mean)} and {len(std)}")
        if not bool((self.std > 0).all()):
            raise ValueError(f"std: expected positive values, got {list(std)}")

    def __call__(self, image: torch.Tensor, target: Target = None) -> tuple[torch.Tensor, Target]:
        _check_image(image)
        if image.shape[0] != self.mean.shape[0]:
            raise ValueError(f"image: {image.shape[0]} channels, but mean/std have {self.mean.shape[0]}")
        return (image - self.mean) / self.std, target


class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: torch.Tensor, target: Target = None) -> tuple[torch.Tensor, Target]:
        for transform in self.transforms:
            image, target = transform(image, target)
        return image, target
