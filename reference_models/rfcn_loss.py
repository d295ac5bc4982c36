"""Losses of R-FCN with weak branches that torchvision does not provide.

- `multilabel_loss`: the weak branches' image-level loss, sigmoid cross-entropy averaged over
  images and classes: -(1/NC) sum_{n,c} [y log sigmoid(s) + (1 - y) log(1 - sigmoid(s))].
- `region_hinge`: the local region regularization of the class-specific score map (Qiu 2018,
  Sec. III-D, Fig. 6), one hinge per ground-truth box g of class c:

      r_g = max(0, m - (mean_in(g) M_c - mean_neg(c) M_c))

  mean_in(g): the mean of M_c over the cells of the feature grid, each weighted by the fraction
  of its area inside g (so a box smaller than a cell still has an inside mean);
  mean_neg(c): the plain mean of M_c over the cells that no box of class c touches (other
  classes' objects and the background are negatives for c). A box whose class leaves no
  negative cell gets r_g = 0.
- `per_roi_detection_loss` and `hardest_rois`: online hard example mining (Shrivastava et al.
  2016, as R-FCN uses it): rank every RoI by its own classification + box loss and keep the
  hardest ones per image; torchvision's `fastrcnn_loss` then averages over the kept RoIs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def multilabel_loss(logits: Tensor, image_labels: Tensor) -> Tensor:
    """Sigmoid cross-entropy of (N, C) logits against (N, C) {0, 1} labels, mean over all N*C terms."""
    return F.binary_cross_entropy_with_logits(logits, image_labels.to(logits.dtype))


def cell_box_overlap(boxes: Tensor, map_size: tuple[int, int], stride: float) -> Tensor:
    """(G, h, w): the fraction of each feature cell's area inside each box.

    boxes: (G, 4) x1, y1, x2, y2 in continuous image coordinates (torchvision's convention);
    cell (y, x) covers [x * stride, (x + 1) * stride) x [y * stride, (y + 1) * stride).
    """
    height, width = map_size
    boxes = boxes.reshape(-1, 4)

    def axis_overlap(lo: Tensor, hi: Tensor, cells: int) -> Tensor:  # (G, cells), in [0, 1]
        start = torch.arange(cells, dtype=boxes.dtype, device=boxes.device) * stride
        length = torch.minimum(hi[:, None], start + stride) - torch.maximum(lo[:, None], start)
        return length.clamp(min=0) / stride

    rows = axis_overlap(boxes[:, 1], boxes[:, 3], height)
    columns = axis_overlap(boxes[:, 0], boxes[:, 2], width)
    return rows[:, :, None] * columns[:, None, :]


def region_hinge(class_maps: Tensor, boxes: Tensor, labels: Tensor, stride: float, margin: float) -> Tensor:
    """(G,) hinge r_g = max(0, margin - (mean_in(g) - mean_neg(c))) per box g of class c = labels[g].

    class_maps: (C, h, w) score maps of one image; adding a constant per class does not change
    the result (so log alpha_c serves for M_c, see rfcn.py). boxes: (G, 4) in the image
    coordinates of the grid (cell = stride pixels); labels: (G,) class indices 0..C-1.
    """
    if boxes.numel() == 0:
        return class_maps.new_zeros(0)
    overlap = cell_box_overlap(boxes.to(class_maps.dtype), class_maps.shape[1:], stride).flatten(1)  # (G, hw)
    maps = class_maps[labels].flatten(1)  # (G, hw): M_c of each box's class
    inside_weight = overlap.sum(dim=1)
    inside = (overlap * maps).sum(dim=1) / inside_weight.clamp_min(torch.finfo(maps.dtype).tiny)
    same_class = (labels[:, None] == labels[None, :]).to(maps.dtype)
    negative = (same_class @ (overlap > 0).to(maps.dtype)) == 0  # cells no box of the class touches
    negative_count = negative.sum(dim=1)
    negative_mean = (maps * negative).sum(dim=1) / negative_count.clamp_min(1)
    hinge = torch.relu(margin - (inside - negative_mean))
    return torch.where((negative_count > 0) & (inside_weight > 0), hinge, torch.zeros_like(hinge))


def per_roi_detection_loss(
    class_logits: Tensor, box_deltas: Tensor, labels: Tensor, regression_targets: Tensor
) -> Tensor:
    """(K,) loss of each RoI: cross-entropy + smooth L1 (beta 1/9) of its 4 deltas when it is a positive.

    The per-RoI terms of torchvision's `fastrcnn_loss`, with class-agnostic (K, 4) deltas.
    """
    classification = F.cross_entropy(class_logits, labels, reduction="none")
    box = F.smooth_l1_loss(box_deltas, regression_targets, beta=1 / 9, reduction="none").sum(dim=1)
    return classification + box * (labels > 0).to(box.dtype)


def hardest_rois(per_roi_loss: Tensor, rois_per_image: list[int], keep: int) -> Tensor:
    """Indices (into the concatenated RoIs) of the `keep` highest-loss RoIs of each image (all when fewer)."""
    chosen = []
    start = 0
    for count, losses in zip(rois_per_image, per_roi_loss.split(rois_per_image)):
        chosen.append(start + losses.topk(min(keep, count)).indices)
        start += count
    return torch.cat(chosen) if chosen else per_roi_loss.new_zeros(0, dtype=torch.long)
