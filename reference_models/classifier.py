"""WSLClassifier: backbone -> global pooling head -> linear classifier, with localization maps.

Localization map per head (its `map_kind`; docs/architecture.md, docs/models.md):
- gap, gmp, lse: the class activation map (Zhou et al. 2016), CAM_c(x,y) = sum_k w_k^c F_k(x,y),
  with w the classifier weights (no bias);
- gwap, gwap_no_sigmoid, gwap_no_exp, gwap_gt: the class-agnostic weights alpha (eq. 4);
- gwap_cs: the class-specific weights alpha_c (eq. 8).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reference_models.backbones import Backbone
from reference_models.pooling import PoolingHead


class WSLOutput(NamedTuple):
    """logits: (N, C). maps: localization maps at feature resolution, or None when not requested."""

    logits: Tensor
    maps: Tensor | None


class WSLClassifier(nn.Module):
    """Image-level classifier whose pooling head also localizes.

    Args:
        backbone: feature extractor (see `reference_models.backbones.build_backbone`).
        head: pooling head (see `reference_models.pooling.build_pooling`), built for
            `backbone.out_channels` input channels.
        num_classes: C. A linear layer maps the pooled features to C logits unless the head
            already outputs class scores (`gwap_cs`).
    """

    def __init__(self, backbone: Backbone, head: PoolingHead, num_classes: int) -> None:
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
        if head.in_channels != backbone.out_channels:
            raise ValueError(
                f"{type(head).__name__} was built for {head.in_channels} channels but the {backbone.name} backbone "
                f"gives {backbone.out_channels}: build it with in_channels=backbone.out_channels"
            )
        if head.map_kind == "cam" and head.outputs_scores:
            raise ValueError(f"{type(head).__name__}: a CAM head needs a classifier, so it cannot output class scores")
        if head.outputs_scores and head.out_features != num_classes:
            raise ValueError(f"head outputs {head.out_features} class scores but num_classes={num_classes}")
        self.backbone = backbone
        self.head = head
        self.num_classes = num_classes
        self.classifier = None if head.outputs_scores else nn.Linear(head.out_features, num_classes)

    @property
    def map_kind(self) -> str:
        """"cam" (class activation maps), "alpha" (class-agnostic weights) or "alpha_c" (per class): the head's own."""
        return self.head.map_kind

    def forward(
        self,
        images: Tensor,
        *,
        gt_mask: Tensor | None = None,
        return_maps: bool = False,
        map_classes: Tensor | None = None,
    ) -> WSLOutput:
        """Classify `images` (N, 3, H, W) and optionally return localization maps.

        gt_mask: box coverage at feature resolution, required by `gwap_gt` only.
        return_maps: return maps; with `map_classes` (N, k) long, maps[:, j] is the map for
            class map_classes[:, j] (class-agnostic alpha is broadcast to all k); without it,
            all C class maps (cam, alpha_c) or the single alpha map (N, 1, h, w).
        """
        features = self.backbone(images)
        if self.head.needs_gt_mask:
            if gt_mask is None:
                raise ValueError(f"{type(self.head).__name__} needs gt_mask (box coverage at feature resolution)")
            pooled = self.head(features, gt_mask)
        else:
            if gt_mask is not None:
                raise ValueError(f"{type(self.head).__name__} does not take a gt_mask")
            pooled = self.head(features)
        logits = pooled.output if self.classifier is None else self.classifier(pooled.output)
        maps = None
        if return_maps or map_classes is not None:
            maps = self._localization_maps(features, pooled.weights, map_classes)
        return WSLOutput(logits, maps)

    def _localization_maps(self, features: Tensor, weights: Tensor, classes: Tensor | None) -> Tensor:
        kind = self.map_kind
        if classes is not None:
            if classes.dim() != 2 or classes.shape[0] != features.shape[0]:
                raise ValueError(f"map_classes must be (N, k), got shape {tuple(classes.shape)}")
            if classes.numel() and not (0 <= int(classes.min()) and int(classes.max()) < self.num_classes):
                raise ValueError(f"map_classes must lie in 0..{self.num_classes - 1}")
        if kind == "cam":
            assert self.classifier is not None
            w = self.classifier.weight  # (C, K)
            if classes is None:
                return torch.einsum("ck,nkhw->nchw", w, features)
            return torch.einsum("njk,nkhw->njhw", w[classes], features)
        if kind == "alpha":
            return weights if classes is None else weights.expand(-1, classes.shape[1], -1, -1)
        if classes is None:
            return weights
        index = classes[:, :, None, None].expand(-1, -1, *weights.shape[2:])
        return weights.gather(1, index)


def upsample_maps(maps: Tensor, size: tuple[int, int], mode: str = "bilinear") -> Tensor:
    """Resize (N, k, h, w) maps to an image size (H, W) (bilinear, half-pixel centres as OpenCV's resize)."""
    if maps.dim() != 4:
        raise ValueError(f"maps must be (N, k, h, w), got shape {tuple(maps.shape)}")
    return F.interpolate(maps, size=size, mode=mode, align_corners=False if mode in ("bilinear", "bicubic") else None)
