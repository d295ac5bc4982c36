"""Global pooling heads: GAP, GMP, LSE, GWAP (class-agnostic, its ablations, oracle) and class-specific GWAP.

Each op is a pure function over a feature map `F` of shape (N, K, H, W) plus an `nn.Module`, and
every head returns a `Pooled(output, weights)`: the pooled vector and the spatial weights that
produced it, so that `output[n, k] == sum_{x,y} weights[n, k or 0, y, x] * F[n, k, y, x]` for the
averaging heads. A factory `build_pooling(name, in_channels, num_classes, **options)` builds a head
by the names of DESIGN.md's table.

Equations refer to Qiu, "Global Weighted Average Pooling Bridges Pixel-level Localization and
Image-level Classification", 2018.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Pooled(NamedTuple):
    """A head's result.

    output: (N, K) pooled features for the class-agnostic heads, (N, C) class scores for `gwap_cs`.
    weights: the spatial weights, summing to 1 over (H, W): (N, 1, H, W) when shared by all
        channels (gap, gwap*), (N, K, H, W) per channel (gmp, lse), (N, C, H, W) per class (gwap_cs).
    """

    output: Tensor
    weights: Tensor


def _check_features(features: Tensor) -> None:
    if features.dim() != 4:
        raise ValueError(f"features must be (N, K, H, W), got shape {tuple(features.shape)}")


def _spatial_softmax(scores: Tensor) -> Tensor:
    """Softmax over the positions (H, W) of each (n, channel): exp(s) / sum_{x,y} exp(s)."""
    n, c, h, w = scores.shape
    return torch.softmax(scores.flatten(2), dim=2).view(n, c, h, w)


def _weighted_sum(weights: Tensor, values: Tensor) -> Tensor:
    """sum_{x,y} weights * values -> (N, channels); weights broadcast over channels when they have one."""
    return (weights * values).sum(dim=(2, 3))


# --- pure functions --------------------------------------------------------------------------


def gap_pool(features: Tensor) -> Pooled:
    """Global average pooling: f_k = (1/HW) sum_{x,y} F_k(x,y) (Lin et al. 2014; Zhou et al. 2016)."""
    _check_features(features)
    n, _, h, w = features.shape
    weights = features.new_full((n, 1, h, w), 1.0 / (h * w))
    return Pooled(features.mean(dim=(2, 3)), weights)


def gmp_pool(features: Tensor) -> Pooled:
    """Global max pooling: f_k = max_{x,y} F_k(x,y); weights = one-hot at the first arg-max per channel."""
    _check_features(features)
    flat = features.flatten(2)
    values, index = flat.max(dim=2)
    weights = torch.zeros_like(flat).scatter_(2, index.unsqueeze(2), 1.0).view_as(features)
    return Pooled(values, weights)


def lse_pool(features: Tensor, r: float = 10.0) -> Pooled:
    """Log-sum-exp pooling: f_k = (1/r) log( (1/HW) sum_{x,y} exp(r F_k(x,y)) ) (Pinheiro & Collobert 2015).

    Computed in the stable form (logsumexp(r F) - log HW) / r, which never overflows; it tends
    to GAP as r -> 0 and to GMP as r -> inf. The weights are d f_k / d F_k = softmax_{x,y}(r F_k).
    """
    _check_features(features)
    if not r > 0:
        raise ValueError(f"r must be positive, got {r}")
    n, k, h, w = features.shape
    scaled = r * features.flatten(2)
    output = (torch.logsumexp(scaled, dim=2) - math.log(h * w)) / r
    weights = torch.softmax(scaled, dim=2).view(n, k, h, w)
    return Pooled(output, weights)


def weighted_average_pool(features: Tensor, alpha: Tensor) -> Pooled:
    """Eq. 5: f = sum_{x,y} alpha(x,y) F(x,y), with alpha (N, 1, H, W) summing to 1 over positions."""
    _check_features(features)
    return Pooled(_weighted_sum(alpha, features), alpha)


# Score functions of the pixel-level prediction module, applied to s = wF + b (eqs. 3-4).
# Each maps s (N, 1, H, W) to alpha (N, 1, H, W), non-negative and summing to 1 over positions.
def _alpha_sigmoid_exp(s: Tensor) -> Tensor:
    """GWAP, eqs. 3-4: M = exp(sigmoid(s)), alpha = M / sum M, i.e. a spatial softmax of sigmoid(s)."""
    return _spatial_softmax(torch.sigmoid(s))


def _alpha_exp(s: Tensor) -> Tensor:
    """GWAP without sigmoid (the soft-attention form): M = exp(s), alpha = softmax_{x,y}(s)."""
    return _spatial_softmax(s)


def _alpha_sigmoid(s: Tensor) -> Tensor:
    """GWAP without exp: M = sigmoid(s), alpha = M / sum M."""
    m = torch.sigmoid(s)
    return m / m.sum(dim=(2, 3), keepdim=True)


GWAP_SCORE_FUNCTIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "sigmoid_exp": _alpha_sigmoid_exp,
    "exp": _alpha_exp,
    "sigmoid": _alpha_sigmoid,
}


def gwap_pool(features: Tensor, weight: Tensor, bias: Tensor, score: str = "sigmoid_exp") -> Pooled:
    """Class-agnostic GWAP (eqs. 3-5): s = wF + b, alpha = normalized M(s), f = sum alpha F.

    weight: (1, K, 1, 1) or (K,) 1x1-conv weight w; bias: (1,) bias b; score: "sigmoid_exp"
    (GWAP), "exp" (without sigmoid) or "sigmoid" (without exp).
    """
    _check_features(features)
    if score not in GWAP_SCORE_FUNCTIONS:
        raise ValueError(f"score must be one of {sorted(GWAP_SCORE_FUNCTIONS)}, got {score!r}")
    s = F.conv2d(features, weight.reshape(1, -1, 1, 1), bias.reshape(1))
    return weighted_average_pool(features, GWAP_SCORE_FUNCTIONS[score](s))


def oracle_alpha(gt_mask: Tensor) -> Tensor:
    """GWAP-gt weights (Table I): alpha = mask / sum mask, the normalized union of the GT boxes.

    gt_mask: (N, 1, H, W) or (N, H, W) non-negative coverage of each cell by object boxes (see
    `box_coverage`). An image whose mask is all zero gets uniform weights (GAP).
    """
    if gt_mask.dim() == 3:
        gt_mask = gt_mask.unsqueeze(1)
    if gt_mask.dim() != 4 or gt_mask.shape[1] != 1:
        raise ValueError(f"gt_mask must be (N, 1, H, W) or (N, H, W), got shape {tuple(gt_mask.shape)}")
    if (gt_mask < 0).any():
        raise ValueError("gt_mask must be non-negative")
    total = gt_mask.sum(dim=(2, 3), keepdim=True)
    uniform = torch.full_like(gt_mask, 1.0 / (gt_mask.shape[2] * gt_mask.shape[3]))
    return torch.where(total > 0, gt_mask / total.clamp_min(torch.finfo(gt_mask.dtype).tiny), uniform)


def box_coverage(boxes: Tensor, image_size: tuple[int, int], map_size: tuple[int, int]) -> Tensor:
    """Fraction of each cell of an (h, w) feature grid covered by the union of `boxes`.

    boxes: (G, 4) x1, y1, x2, y2 in continuous image coordinates (0-based, x2/y2 exclusive, as
    torchvision uses); image_size: (H, W) of the image the boxes refer to. Returns (h, w) in [0, 1]:
    the union mask rasterized at image resolution, then area-averaged onto the grid.
    """
    height, width = image_size
    boxes = boxes.reshape(-1, 4).float()
    ys = torch.arange(height, dtype=torch.float32, device=boxes.device) + 0.5  # pixel centres
    xs = torch.arange(width, dtype=torch.float32, device=boxes.device) + 0.5
    inside_y = (ys >= boxes[:, 1:2]) & (ys < boxes[:, 3:4])  # (G, H)
    inside_x = (xs >= boxes[:, 0:1]) & (xs < boxes[:, 2:3])  # (G, W)
    mask = (inside_y[:, :, None] & inside_x[:, None, :]).any(dim=0).float()
    return F.adaptive_avg_pool2d(mask[None, None], map_size)[0, 0]


def class_specific_gwap_pool(class_scores: Tensor, background: Tensor) -> Pooled:
    """Class-specific GWAP (eqs. 6-9).

    class_scores S: (N, C, H, W); background B: (N, 1, H, W).
    O = softmax over the C+1 channels of [S, B] (eq. 6, the background included in the sum);
    M_c = O_c * sigmoid(S_c) (eq. 7); alpha_c = exp(M_c) / sum_{x,y} exp(M_c) (eq. 8);
    s_c = sum_{x,y} alpha_c S_c (eq. 9). Returns (s (N, C), alpha (N, C, H, W)).
    """
    _check_features(class_scores)
    if background.shape != (class_scores.shape[0], 1, *class_scores.shape[2:]):
        raise ValueError(
            f"background must be (N, 1, H, W) = {(class_scores.shape[0], 1, *class_scores.shape[2:])}, "
            f"got {tuple(background.shape)}"
        )
    num_classes = class_scores.shape[1]
    o = torch.softmax(torch.cat([class_scores, background], dim=1), dim=1)[:, :num_classes]
    alpha = _spatial_softmax(o * torch.sigmoid(class_scores))
    return Pooled(_weighted_sum(alpha, class_scores), alpha)


# --- modules ---------------------------------------------------------------------------------


class PoolingHead(nn.Module):
    """Base of every head.

    out_features: length of `Pooled.output` per image.
    outputs_scores: True when the output already is the class scores (no classifier after it).
    needs_gt_mask: True when `forward` takes the ground-truth coverage (the oracle head).
    """

    out_features: int
    outputs_scores: bool = False
    needs_gt_mask: bool = False


class GAP(PoolingHead):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.out_features = in_channels

    def forward(self, features: Tensor) -> Pooled:
        return gap_pool(features)


class GMP(PoolingHead):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.out_features = in_channels

    def forward(self, features: Tensor) -> Pooled:
        return gmp_pool(features)


class LSE(PoolingHead):
    def __init__(self, in_channels: int, r: float = 10.0) -> None:
        super().__init__()
        if not r > 0:
            raise ValueError(f"r must be positive, got {r}")
        self.out_features = in_channels
        self.r = r

    def forward(self, features: Tensor) -> Pooled:
        return lse_pool(features, self.r)

    def extra_repr(self) -> str:
        return f"r={self.r}"


class GWAP(PoolingHead):
    """Class-agnostic GWAP with a 1x1 convolution s = wF + b as the pixel-level classifier (eq. 3)."""

    def __init__(self, in_channels: int, score: str = "sigmoid_exp") -> None:
        super().__init__()
        if score not in GWAP_SCORE_FUNCTIONS:
            raise ValueError(f"score must be one of {sorted(GWAP_SCORE_FUNCTIONS)}, got {score!r}")
        self.out_features = in_channels
        self.score = score
        self.conv = nn.Conv2d(in_channels, 1, kernel_size=1)

    def forward(self, features: Tensor) -> Pooled:
        return gwap_pool(features, self.conv.weight, self.conv.bias, self.score)

    def extra_repr(self) -> str:
        return f"score={self.score!r}"


class OracleGWAP(PoolingHead):
    """GWAP-gt (Table I): the weights are the normalized ground-truth box union, not learned."""

    needs_gt_mask = True

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.out_features = in_channels

    def forward(self, features: Tensor, gt_mask: Tensor) -> Pooled:
        alpha = oracle_alpha(gt_mask.to(features.dtype))
        if alpha.shape[2:] != features.shape[2:] or alpha.shape[0] != features.shape[0]:
            raise ValueError(f"gt_mask shape {tuple(gt_mask.shape)} does not match features {tuple(features.shape)}")
        return weighted_average_pool(features, alpha)


class ClassSpecificGWAP(PoolingHead):
    """Class-specific GWAP (eqs. 6-9): a 1x1 conv to C class maps plus one background map."""

    outputs_scores = True

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.out_features = num_classes
        self.conv = nn.Conv2d(in_channels, num_classes + 1, kernel_size=1)

    def forward(self, features: Tensor) -> Pooled:
        maps = self.conv(features)
        return class_specific_gwap_pool(maps[:, :-1], maps[:, -1:])


# --- factory ---------------------------------------------------------------------------------

_BUILDERS: dict[str, Callable[..., PoolingHead]] = {
    "gap": lambda k, c, **o: GAP(k, **o),
    "gmp": lambda k, c, **o: GMP(k, **o),
    "lse": lambda k, c, **o: LSE(k, **o),
    "gwap": lambda k, c, **o: GWAP(k, score="sigmoid_exp", **o),
    "gwap_no_sigmoid": lambda k, c, **o: GWAP(k, score="exp", **o),
    "gwap_no_exp": lambda k, c, **o: GWAP(k, score="sigmoid", **o),
    "gwap_gt": lambda k, c, **o: OracleGWAP(k, **o),
    "gwap_cs": lambda k, c, **o: ClassSpecificGWAP(k, c, **o),
}

POOLING_NAMES: tuple[str, ...] = tuple(_BUILDERS)


def build_pooling(name: str, in_channels: int, num_classes: int, **options: object) -> PoolingHead:
    """Build a head by name: gap, gmp, lse (option r), gwap, gwap_no_sigmoid, gwap_no_exp, gwap_gt, gwap_cs."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown pooling {name!r}; choose one of {', '.join(POOLING_NAMES)}")
    return _BUILDERS[name](in_channels, num_classes, **options)
