"""Decode image files to tensors: RGB (3, H, W), uint8 or float32 in [0, 1].

A file that does not decode raises `InputError` naming it; `load_sample_image` also checks the decoded
size against the sample's annotation. The torch datasets of the engine (`engine/batches.py`,
`engine/detection_data.py`) decode through it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gwapbench.data.sample import Sample
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


def load_sample_image(sample: Sample) -> torch.Tensor:
    """The sample's image as uint8 (3, H, W); InputError naming the file when its size is not the annotation's
    (a sample with width 0 lists no size, e.g. an ILSVRC train image: not checked)."""
    image = load_image_uint8(sample.image_path)
    if sample.width and tuple(image.shape[1:]) != (sample.height, sample.width):
        raise InputError(
            f"{sample.image_path}: image is {image.shape[2]}x{image.shape[1]} but its annotation says "
            f"{sample.width}x{sample.height}"
        )
    return image
