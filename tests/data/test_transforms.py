"""Box conventions inside tensors: file corners to continuous corners, flips moving boxes with the pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gwapbench.data.transforms import file_boxes_to_tensor, hflip_boxes


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
    boxes = hflip_boxes(torch.tensor([[2.0, 1, 5, 4], [0, 0, 10, 6]]), 10)
    assert boxes.tolist() == [[5, 1, 8, 4], [0, 0, 10, 6]]  # the whole image stays the whole image
    assert boxes[0].tolist() == _mask_box(image[0].numpy()[:, ::-1] > 0.5)
    assert hflip_boxes(torch.zeros(0, 4), 10).shape == (0, 4)
