"""Transforms: hand-worked box moves under flip and resize, torchvision pixel agreement, normalization."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from gwapbench.data.transforms import (
    Compose,
    Normalize,
    RandomHorizontalFlip,
    Resize,
    file_boxes_to_tensor,
    hflip,
)


def _mask_box(mask: np.ndarray) -> list[float]:
    """0-based continuous box of a pixel mask: (first col, first row, last col + 1, last row + 1)."""
    rows, cols = np.nonzero(mask)
    return [cols.min(), rows.min(), cols.max() + 1.0, rows.max() + 1.0]


def test_file_boxes_to_tensor_conventions():
    # VOC 1-based inclusive: the whole 10x6 image (1, 1, 10, 6) -> (0, 0, 10, 6); pixel cols 2..4 -> [2, 5).
    voc = file_boxes_to_tensor(np.array([[1, 1, 10, 6], [3, 2, 5, 4]]), first_pixel=1)
    assert voc.dtype == torch.float32
    assert voc.tolist() == [[0, 0, 10, 6], [2, 1, 5, 4]]
    # ILSVRC 0-based inclusive: (0, 0, 9, 5) is the whole 10x6 image.
    assert file_boxes_to_tensor(np.array([[0, 0, 9, 5]]), first_pixel=0).tolist() == [[0, 0, 10, 6]]
    assert file_boxes_to_tensor(np.zeros((0, 4)), 1).shape == (0, 4)
    with pytest.raises(ValueError, match="first_pixel"):
        file_boxes_to_tensor(np.zeros((0, 4)), 2)


def test_hflip_moves_boxes_with_the_pixels():
    # Hand-worked: width 10, box [2, 5) x [1, 4) -> x1' = 10 - 5 = 5, x2' = 10 - 2 = 8.
    image = torch.zeros(3, 6, 10)
    image[:, 1:4, 2:5] = 1.0
    flipped, target = hflip(image, {"boxes": torch.tensor([[2.0, 1, 5, 4]]), "labels": torch.tensor([3])})
    assert target["boxes"].tolist() == [[5, 1, 8, 4]]
    assert target["labels"].tolist() == [3]
    mask = flipped[0].numpy() > 0.5
    np.testing.assert_array_equal(mask, (image[0].numpy() > 0.5)[:, ::-1])
    assert target["boxes"][0].tolist() == _mask_box(mask)


def test_resize_fixed_and_shorter_side_hand_worked():
    image = torch.rand(3, 6, 10)
    box = {"boxes": torch.tensor([[2.0, 1, 5, 4]])}
    resized, target = Resize((12, 5))(image, box)  # x * 0.5, y * 2
    assert resized.shape == (3, 12, 5)
    assert target["boxes"].tolist() == [[1, 2, 2.5, 8]]
    resized, target = Resize(3)(image, box)  # shorter side 6 -> 3: both axes * 0.5
    assert resized.shape == (3, 3, 5)
    assert target["boxes"].tolist() == [[1, 0.5, 2.5, 2]]
    # Integer upscale: the box of the pixels [2, 5) becomes [4, 10) after doubling.
    _, target = Resize((12, 20))(image, box)
    assert target["boxes"].tolist() == [[4, 2, 10, 8]]


@pytest.mark.parametrize("size", [7, 64, (20, 33)])
def test_resize_pixels_and_size_match_torchvision(size):
    image = torch.rand(3, 37, 50, generator=torch.Generator().manual_seed(0))
    ours, _ = Resize(size)(image)
    reference = TF.resize(image, [size] if isinstance(size, int) else list(size), antialias=True)
    assert ours.shape == reference.shape
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=0)


def test_normalize_uses_the_given_statistics():
    image = torch.rand(3, 4, 5)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    ours, target = Normalize(mean, std)(image, None)
    assert target is None
    for channel in range(3):
        expected = (image[channel] - mean[channel]) / std[channel]
        torch.testing.assert_close(ours[channel], expected)
    other, _ = Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))(image)
    torch.testing.assert_close(other, (image - 0.5) * 4)
    with pytest.raises(ValueError, match="std"):
        Normalize((0.5,), (0.0,))
    with pytest.raises(ValueError, match="channels"):
        Normalize((0.5,), (1.0,))(image)


def test_random_flip_is_seeded_by_its_generator():
    image = torch.arange(12.0).reshape(1, 3, 4)
    box = {"boxes": torch.tensor([[0.0, 0, 1, 3]])}
    flip = RandomHorizontalFlip(0.5, torch.Generator().manual_seed(123))
    draws = torch.rand(200, generator=torch.Generator().manual_seed(123))
    for draw in draws:
        out, target = flip(image, box)
        should_flip = bool(draw < 0.5)
        assert torch.equal(out, image.flip(-1) if should_flip else image)
        assert target["boxes"].tolist() == ([[3, 0, 4, 3]] if should_flip else [[0, 0, 1, 3]])
    assert 60 < int((draws < 0.5).sum()) < 140
    assert torch.equal(RandomHorizontalFlip(1.0)(image)[0], image.flip(-1))
    assert torch.equal(RandomHorizontalFlip(0.0)(image)[0], image)
    with pytest.raises(ValueError, match="p"):
        RandomHorizontalFlip(1.5)


def test_compose_applies_in_order_and_rejects_bad_input():
    image = torch.zeros(3, 6, 10)
    pipeline = Compose([Resize((3, 5)), lambda im, t: hflip(im, t)])
    _, target = pipeline(image, {"boxes": torch.tensor([[2.0, 1, 5, 4]])})
    assert target["boxes"].tolist() == [[5 - 2.5, 0.5, 5 - 1, 2]]  # resize (x0.5), then flip in width 5
    with pytest.raises(ValueError, match="float tensor"):
        Resize(4)(torch.zeros(3, 6, 10, dtype=torch.uint8))
    with pytest.raises(ValueError, match="size"):
        Resize(0)
