"""Image decoding: exact pixels, the annotation's size checked, bad files named in one InputError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gwapbench.data.decode import load_image, load_image_uint8, load_sample_image
from gwapbench.data.sample import Sample
from gwapbench.errors import InputError


def _png(tmp_path: Path, pixels: np.ndarray) -> Path:
    path = tmp_path / "x.png"
    Image.fromarray(pixels).save(path)
    return path


def test_load_image_exact_pixels(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    path = _png(tmp_path, pixels)
    expected = torch.from_numpy(pixels).permute(2, 0, 1)
    assert torch.equal(load_image_uint8(path), expected)
    image = load_image(path)
    assert image.shape == (3, 5, 7) and image.dtype == torch.float32
    torch.testing.assert_close(image, expected.float() / 255)


def test_sample_image_size_is_checked_unless_the_sample_lists_none(tmp_path):
    pixels = np.random.default_rng(1).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    path = _png(tmp_path, pixels)
    labels = np.array([1], np.int8)
    assert torch.equal(load_sample_image(Sample("x", path, 6, 4, labels)), torch.from_numpy(pixels).permute(2, 0, 1))
    assert load_sample_image(Sample("x", path, 0, 0, labels)).shape == (3, 4, 6)  # width 0: no size listed
    with pytest.raises(InputError, match=r"x.png: image is 6x4 but its annotation says 7x4"):
        load_sample_image(Sample("x", path, 7, 4, labels))


def test_bad_image_files_raise_input_error_naming_the_file(tmp_path):
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(InputError, match="broken.jpg"):
        load_image(corrupt)
    with pytest.raises(InputError, match="missing.jpg"):
        load_sample_image(Sample("m", tmp_path / "missing.jpg", 2, 2, np.array([1], np.int8)))
