"""Global pooling heads: GAP, GMP, LSE, GWAP (class-agnostic, its ablations, oracle) and class-specific GWAP.

Each op is a pure function over a feature map `F` of shape (N, K, H, W) plus an `nn.Module`, and
every head returns a `Pooled(output, weights)`: the pooled vector and the spatial weights that
produced it, so that `output[n, k] == sum_{x,y} weights[n, k or 0, y, x] * F[n, k, y, x]` for the
averaging heads. Each head class declares its localization map kind (`map_kind`: "cam", "alpha"
or "alpha_c"). Heads are registered by name (`register_pooling`, which refuses a name twice), and
the factory `build_pooling(name, in_channels, num_classes, **options)` builds any registered head
(docs/models.md lists the names).

Equations refer to Qiu, "Global Weighted Average Pooling Bridges Pixel-level Localization and
Image-level Classification", 2018.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    if features.shape[2] == 0 or features.shape[3] == 0:
        size = f"{features.shape[2]}x{features.shape[3]}"
        raise ValueError(f"features have an empty {size} map: the image is too small for the backbone")


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


MAP_KINDS = ("cam", "alpha", "alpha_c")


def _check_count(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


class PoolingHead(nn.Module):
    """Base of every head.

    in_channels: K, the channels of the feature map the head takes (checked at every call).
    out_features: length of `Pooled.output` per image.
    map_kind: the localization map `WSLClassifier` gives for this head: "cam" (class activation
        maps from the classifier weights), "alpha" (the class-agnostic weights), "alpha_c" (per class).
    outputs_scores: True when the output already is the class scores (no classifier after it).
    needs_gt_mask: True when `forward` takes the ground-truth coverage (the oracle head).
    """

    map_kind: str
    outputs_scores: bool = False
    needs_gt_mask: bool = False

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = _check_count(in_channels, "in_channels")
        self.out_features = in_channels

    def _check_input(self, features: Tensor) -> None:
        _check_features(features)
        if features.shape[1] != self.in_channels:
            name, got = type(self).__name__, features.shape[1]
            raise ValueError(f"{name} was built for {self.in_channels} channels, got features with {got}")


class GAP(PoolingHead):
    map_kind = "cam"

    def forward(self, features: Tensor) -> Pooled:
        self._check_input(features)
        return gap_pool(features)


class GMP(PoolingHead):
    map_kind = "cam"

    def forward(self, features: Tensor) -> Pooled:
        self._check_input(features)
        return gmp_pool(features)


class LSE(PoolingHead):
    map_kind = "cam"

    def __init__(self, in_channels: int, r: float = 10.0) -> None:
        super().__init__(in_channels)
        if not r > 0:
            raise ValueError(f"r must be positive, got {r}")
        self.r = r

    def forward(self, features: Tensor) -> Pooled:
        self._check_input(features)
        return lse_pool(features, self.r)

    def extra_repr(self) -> str:
        return f"r={self.r}"


class GWAP(PoolingHead):
    """Class-agnostic GWAP with a 1x1 convolution s = wF + b as the pixel-level classifier (eq. 3)."""

    map_kind = "alpha"

    def __init__(self, in_channels: int, score: str = "sigmoid_exp") -> None:
        super().__init__(in_channels)
        if score not in GWAP_SCORE_FUNCTIONS:
            raise ValueError(f"score must be one of {sorted(GWAP_SCORE_FUNCTIONS)}, got {score!r}")
        self.score = score
        self.conv = nn.Conv2d(in_channels, 1, kernel_size=1)

    def forward(self, features: Tensor) -> Pooled:
        self._check_input(features)
        return gwap_pool(features, self.conv.weight, self.conv.bias, self.score)

    def extra_repr(self) -> str:
        return f"score={self.score!r}"


class OracleGWAP(PoolingHead):
    """GWAP-gt (Table I): the weights are the normalized ground-truth box union, not learned."""

    map_kind = "alpha"
    needs_gt_mask = True

    def forward(self, features: Tensor, gt_mask: Tensor) -> Pooled:
        self._check_input(features)
        alpha = oracle_alpha(gt_mask.to(features.dtype))
        if alpha.shape[2:] != features.shape[2:] or alpha.shape[0] != features.shape[0]:
            raise ValueError(f"gt_mask shape {tuple(gt_mask.shape)} does not match features {tuple(features.shape)}")
        return weighted_average_pool(features, alpha)


class ClassSpecificGWAP(PoolingHead):
    """Class-specific GWAP (eqs. 6-9): a 1x1 conv to C class maps plus one background map."""

    map_kind = "alpha_c"
    outputs_scores = True

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__(in_channels)
        self.out_features = _check_count(num_classes, "num_classes")
        self.conv = nn.Conv2d(in_channels, num_classes + 1, kernel_size=1)

    def forward(self, features: Tensor) -> Pooled:
        self._check_input(features)
        maps = self.conv(features)
        return class_specific_gwap_pool(maps[:, :-1], maps[:, -1:])


# --- registry and factory --------------------------------------------------------------------


@dataclass(frozen=True)
class HeadSpec:
    """A registered head: its class and the constructor options the name fixes (e.g. GWAP's score)."""

    head: type[PoolingHead]
    fixed: Mapping[str, object] = field(default_factory=dict)

    def options(self) -> list[str]:
        """The constructor options a caller may still pass (besides in_channels and num_classes)."""
        names = inspect.signature(self.head).parameters
        return [n for n in names if n not in ("in_channels", "num_classes") and n not in self.fixed]


_REGISTRY: dict[str, HeadSpec] = {}


def register_pooling(name: str, head: type[PoolingHead], **fixed: object) -> None:
    """Register `head` under `name` (with constructor options `fixed`); ValueError when the name is taken."""
    if name in _REGISTRY:
        raise ValueError(f"pooling {name!r} is already registered ({_REGISTRY[name].head.__name__})")
    if getattr(head, "map_kind", None) not in MAP_KINDS:
        raise ValueError(f"{head.__name__}.map_kind must be one of {MAP_KINDS}")
    _REGISTRY[name] = HeadSpec(head, dict(fixed))


def pooling_names() -> tuple[str, ...]:
    """The registered head names, in registration order."""
    return tuple(_REGISTRY)


register_pooling("gap", GAP)
register_pooling("gmp", GMP)
register_pooling("lse", LSE)
register_pooling("gwap", GWAP, score="sigmoid_exp")
register_pooling("gwap_no_sigmoid", GWAP, score="exp")
register_pooling("gwap_no_exp", GWAP, score="sigmoid")
register_pooling("gwap_gt", OracleGWAP)
register_pooling("gwap_cs", ClassSpecificGWAP)

POOLING_NAMES: tuple[str, ...] = pooling_names()  # the built-in heads


def build_pooling(name: str, in_channels: int, num_classes: int, **options: object) -> PoolingHead:
    """Build a registered head by name (built in: gap, gmp, lse (option r), gwap, gwap_no_sigmoid,
    gwap_no_exp, gwap_gt, gwap_cs); ValueError for an unknown name, a count below 1, or an option the
    head does not take or its name already fixes."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown pooling {name!r}; choose one of {', '.join(pooling_names())}")
    _check_count(in_channels, "in_channels")
    _check_count(num_classes, "num_classes")
    spec = _REGISTRY[name]
    fixed = sorted(set(options) & set(spec.fixed))
    if fixed:
        raise ValueError(f"pooling {name!r} fixes {', '.join(f'{k}={spec.fixed[k]!r}' for k in fixed)}; "
                         f"choose another name (one of {', '.join(pooling_names())}) instead of passing it")
    unknown = sorted(set(options) - set(spec.options()))
    if unknown:
        raise ValueError(f"pooling {name!r} takes no option {', '.join(unknown)}; "
                         f"accepted: {', '.join(spec.options()) or 'none'}")
    arguments = {"num_classes": num_classes} if "num_classes" in inspect.signature(spec.head).parameters else {}
    return spec.head(in_channels, **arguments, **spec.fixed, **options)
