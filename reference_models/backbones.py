"""Truncated torchvision backbones and a small CPU backbone, with weight resolution.

| name      | torchvision model, truncated after            | channels | stride          |
| --------- | --------------------------------------------- | -------- | --------------- |
| caffenet  | AlexNet `features` through conv5 + ReLU        | 256      | 16              |
| googlenet | GoogLeNet through `inception4e`                | 832      | 16              |
| vgg16     | VGG-16 `features` through conv5_3 + ReLU       | 512      | 16              |
| resnet50  | ResNet-50 through `layer4` (`dilated`: 16)     | 2048     | 32 (16 dilated) |
| tiny      | a 4-block CNN trained from scratch (CPU runs)  | 128      | 8               |

The stride is nominal: padding and ceil/floor rounding make the map size differ from
input / stride by at most one cell. torchvision's AlexNet is the "one weird trick" variant
(Krizhevsky 2014: 64-192-384-256-256 channels), not the Caffe reference CaffeNet the paper used.

Weights: "default" or its alias "imagenet" (torchvision's default weights enum, cached under
$TORCH_HOME/hub/checkpoints), a member name of the backbone's torchvision weights enum
("IMAGENET1K_V1", or qualified "ResNet50_Weights.IMAGENET1K_V2"), a `WeightsEnum`, a path to a
local state dict (a torchvision full-model state dict, as the hub file; for `tiny` the backbone's
own state dict), or None / "none" for random initialization. Anything unusable raises a
`reference_models.errors.WeightsError` that lists the accepted values.

Each backbone declares `min_size`, the smallest image side that gives a feature map of at least
1x1 (found by running the layers); a smaller image raises a ValueError that says so.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import torch
import torchvision.models as tvm
from torch import Tensor, nn
from torchvision.models import WeightsEnum

from reference_models import BACKBONE_NAMES
from reference_models.errors import WeightsError, WeightsNotFoundError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

WeightsArg = str | os.PathLike[str] | WeightsEnum | None
DEFAULT_ALIASES = ("default", "imagenet")

__all__ = [
    "BACKBONE_NAMES", "Backbone", "GoogLeNetInputTransform", "IMAGENET_MEAN", "IMAGENET_STD", "WeightsError",
    "WeightsNotFoundError", "backbone_state", "build_backbone", "resolve_state_dict", "tiny_body",
]  # fmt: skip


class Backbone(nn.Module):
    """A feature extractor: images (N, 3, H, W), normalized with `mean`/`std`, to (N, out_channels, h, w)."""

    def __init__(
        self,
        name: str,
        body: nn.Module,
        out_channels: int,
        stride: int,
        min_size: int = 1,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.name = name
        self.body = body
        self.out_channels = out_channels
        self.stride = stride
        self.min_size = min_size
        self.mean = mean
        self.std = std

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"{self.name}: images must be (N, 3, H, W), got shape {tuple(images.shape)}")
        height, width = images.shape[2:]
        if min(height, width) < self.min_size:
            raise ValueError(
                f"{self.name}: images must be at least {self.min_size}x{self.min_size} pixels, got {height}x{width}"
            )
        return self.body(images)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, out_channels={self.out_channels}, stride={self.stride}, min_size={self.min_size}"


class GoogLeNetInputTransform(nn.Module):
    """Map ImageNet-normalized input to the normalization the original GoogLeNet weights expect.

    x' = x * std / 0.5 + (mean - 0.5) / 0.5 per channel (torchvision's `transform_input=True`).
    """

    def __init__(self) -> None:
        super().__init__()
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self.register_buffer("scale", std / 0.5, persistent=False)
        self.register_buffer("shift", (mean - 0.5) / 0.5, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale + self.shift


# --- weights ---------------------------------------------------------------------------------


def _load_file(path: Path, cached: bool = False) -> dict[str, Tensor]:
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure means an unusable file
        hint = "; delete it and it is downloaded again" if cached else ""
        raise WeightsError(f"{path}: not a readable PyTorch state dict ({type(err).__name__}){hint}") from err
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: holds a {type(state).__name__}, not a state dict")
    return state


def _load_enum(weights: WeightsEnum) -> dict[str, Tensor]:
    """The state dict of a torchvision weights enum: from the hub cache, else downloaded into it."""
    filename = os.path.basename(urlparse(weights.url).path)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if cached.is_file():
        return _load_file(cached, cached=True)
    try:
        return torch.hub.load_state_dict_from_url(weights.url, map_location="cpu", progress=True, check_hash=True)
    except Exception as err:  # noqa: BLE001 - no network, proxy, TLS, hash mismatch: all mean "not available"
        raise WeightsNotFoundError(
            f"cannot download {weights.url} ({type(err).__name__}: {err}); without network, place the file "
            f"{filename} in {cached.parent} ($TORCH_HOME/hub/checkpoints), or pass weights=PATH "
            "(--weights PATH) to a local copy, or weights=None for random initialization"
        ) from err


def weights_names(default: WeightsEnum | None) -> list[str]:
    """The weights names a backbone accepts besides a PATH: none, default, imagenet and its enum's members."""
    if default is None:
        return ["none", "default (random initialization)"]
    return ["none", *DEFAULT_ALIASES, *(name for name in type(default).__members__ if name != "DEFAULT")]


def _weights_enum(weights: str, default: WeightsEnum | None) -> WeightsEnum | None:
    """The enum member a weights name means (None when it is no name of this backbone's enum)."""
    if default is None:
        return None
    enum = type(default)
    name = weights.removeprefix(f"{enum.__name__}.")
    if weights.lower() in DEFAULT_ALIASES:
        return default
    return enum.__members__.get(name)


def resolve_state_dict(weights: WeightsArg, default: WeightsEnum | None) -> dict[str, Tensor] | None:
    """Turn a weights argument into a state dict (None = random initialization); WeightsError if unusable."""
    if weights is None or (isinstance(weights, str) and weights.lower() == "none"):
        return None
    if isinstance(weights, WeightsEnum):
        return _load_enum(weights)
    if not isinstance(weights, (str, os.PathLike)):
        raise WeightsError(
            f"weights={weights!r}: give a weights name ({', '.join(weights_names(default))}), a PATH, or None"
        )
    if isinstance(weights, str):
        if weights.lower() in DEFAULT_ALIASES and default is None:
            raise WeightsError(f"weights={weights!r}: this backbone has no pretrained weights; use None or a PATH")
        member = _weights_enum(weights, default)
        if member is not None:
            return _load_enum(member)
    path = Path(weights)
    if not path.exists():
        raise WeightsNotFoundError(
            f"weights {str(weights)!r}: no such file, and not a weights name ({', '.join(weights_names(default))})"
        )
    return _load_file(path)


def _load_into(model: nn.Module, state: dict[str, Tensor], source: str) -> None:
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise WeightsError(f"{source}: state dict does not fit the model ({err})") from err
    if missing or unexpected:
        raise WeightsError(
            f"{source}: state dict does not fit the model: missing keys {missing[:3]}, unexpected keys {unexpected[:3]}"
        )


# --- builders --------------------------------------------------------------------------------


def _caffenet(state: dict[str, Tensor] | None, source: str) -> Backbone:
    model = tvm.alexnet(weights=None)
    if state is not None:
        _load_into(model, state, source)
    return Backbone("caffenet", model.features[:12], out_channels=256, stride=16, min_size=31)


def _googlenet(state: dict[str, Tensor] | None, source: str) -> Backbone:
    model = tvm.googlenet(weights=None, aux_logits=False, init_weights=state is None)
    layers: list[nn.Module] = []
    if state is not None:
        _load_into(model, {k: v for k, v in state.items() if not k.startswith("aux")}, source)
        layers.append(GoogLeNetInputTransform())  # the pretrained weights expect Google's normalization
    for name, module in model.named_children():
        layers.append(module)
        if name == "inception4e":
            break
    return Backbone("googlenet", nn.Sequential(*layers), out_channels=832, stride=16, min_size=15)


def _vgg16(state: dict[str, Tensor] | None, source: str) -> Backbone:
    model = tvm.vgg16(weights=None)
    if state is not None:
        _load_into(model, state, source)
    return Backbone("vgg16", model.features[:30], out_channels=512, stride=16, min_size=16)


def _resnet50(state: dict[str, Tensor] | None, source: str, dilated: bool = False) -> Backbone:
    model = tvm.resnet50(weights=None, replace_stride_with_dilation=[False, False, dilated])
    if state is not None:
        _load_into(model, state, source)
    body = nn.Sequential(*(getattr(model, n) for n in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")))
    return Backbone("resnet50", body, out_channels=2048, stride=16 if dilated else 32, min_size=1)


def tiny_body(width: int = 32) -> nn.Sequential:
    """Four conv3x3-BN-ReLU blocks, the first three followed by 2x2 max pooling (stride 8)."""
    channels = [3, width, 2 * width, 4 * width, 4 * width]
    layers: list[nn.Module] = []
    for i in range(4):
        layers += [
            nn.Conv2d(channels[i], channels[i + 1], kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(channels[i + 1]),
            nn.ReLU(inplace=True),
        ]
        if i < 3:
            layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def _tiny(state: dict[str, Tensor] | None, source: str, width: int = 32) -> Backbone:
    body = tiny_body(width)
    if state is not None:
        _load_into(body, state, source)
    return Backbone("tiny", body, out_channels=4 * width, stride=8, min_size=8)


_BUILDERS: dict[str, tuple[Callable[..., Backbone], WeightsEnum | None]] = {
    "caffenet": (_caffenet, tvm.AlexNet_Weights.DEFAULT),
    "googlenet": (_googlenet, tvm.GoogLeNet_Weights.DEFAULT),
    "vgg16": (_vgg16, tvm.VGG16_Weights.DEFAULT),
    "resnet50": (_resnet50, tvm.ResNet50_Weights.DEFAULT),
    "tiny": (_tiny, None),
}

if tuple(_BUILDERS) != BACKBONE_NAMES:  # the package's torch-free list names exactly the backbones built here
    raise ImportError(f"reference_models.BACKBONE_NAMES {BACKBONE_NAMES} != the builders {tuple(_BUILDERS)}")


def build_backbone(name: str, weights: WeightsArg = "default", **options: object) -> Backbone:
    """Build a backbone by name (caffenet, googlenet, vgg16, resnet50 [dilated], tiny [width]).

    weights: "default" / "imagenet" (torchvision's default enum; for `tiny`, random init), an enum
    member name such as "IMAGENET1K_V1", a `WeightsEnum`, a local PATH, or None / "none" for random
    initialization (see the module docstring).
    """
    if name not in _BUILDERS:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONE_NAMES)}")
    builder = _BUILDERS[name][0]
    accepted = [p for p in inspect.signature(builder).parameters if p not in ("state", "source")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"{name}: unknown option(s) {unknown}; accepted: {', '.join(accepted) or 'none'}")
    return builder(backbone_state(name, weights), source=str(weights), **options)


def backbone_state(name: str, weights: WeightsArg = "default") -> dict[str, Tensor] | None:
    """The state dict `build_backbone(name, weights)` loads (None: random initialization), without building the
    model: a missing or unreadable weights file is reported (WeightsError) before any work."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONE_NAMES)}")
    default = _BUILDERS[name][1]
    if default is None and isinstance(weights, str) and weights.lower() == "default":
        weights = None
    return resolve_state_dict(weights, default)
