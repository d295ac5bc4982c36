"""ILSVRC models: CAM's GoogLeNet-GAP family, torchvision's classifiers as shipped, backprop saliency.

- `cam_backbone`: a truncated backbone (GoogLeNet after `inception4e`) followed, as in CAM's
  GoogLeNet-GAP (Zhou et al. 2016, `deploy_googlenetCAM.prototxt`: layer CAM_conv), by a 3x3
  convolution with 1024 units, stride 1, pad 1, and a ReLU; `extra_conv=False` omits it.
- `SingleLabelTask`: softmax cross-entropy over the classes (one label per image); stored maps
  are, for CAM heads (gap, gmp), the CAMs of the top-5 classes and of the ground-truth class,
  for GWAP its class-agnostic weights alpha.
- `PretrainedTask`: torchvision's full ImageNet classifier (googlenet, vgg16, alexnet) as
  shipped, no training. `original` stores logits only; `backprop` also stores the gradient
  saliency of Simonyan et al. 2014 for the top-1 and the ground-truth class:
  S(x, y) = max_c |d score_k / d I_c(x, y)|, I the image in [0, 1] units (the network input
  x = (I - mean_c) / std_c, so d/dI_c = (d/dx_c) / std_c), score_k the class's logit.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision.models as tvm
from torch import Tensor, nn

from gwapbench.config import RunConfig
from gwapbench.engine.batches import Batch
from gwapbench.engine.distributed import Dist
from gwapbench.engine.ilsvrc_evaluate import evaluate_ilsvrc
from gwapbench.engine.inputs import RunData
from gwapbench.engine.models import MultiLabelTask
from gwapbench.engine.runner import RunTask
from gwapbench.engine.schedules import Schedule
from gwapbench.data.ilsvrc import ILSVRC_NUM_CLASSES
from gwapbench.engine.ilsvrc_methods import BACKPROP_NETS, PRETRAINED_METHODS, PRETRAINED_NETS, TRAINED_METHODS
from gwapbench.errors import InputError
from reference_models.backbones import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Backbone,
    backbone_state,
    build_backbone,
    resolve_state_dict,
)
from reference_models.classifier import WSLClassifier
from reference_models.pooling import build_pooling

CAM_CONV_UNITS = 1024
TOP_K = 5


def cam_backbone(net: str, weights: object = "default", extra_conv: bool = True) -> Backbone:
    """`build_backbone(net)`, then (extra_conv) conv 3x3 / 1024 units / stride 1 / pad 1 + ReLU."""
    backbone = build_backbone(net, weights)
    if not extra_conv:
        return backbone
    conv = nn.Conv2d(backbone.out_channels, CAM_CONV_UNITS, kernel_size=3, stride=1, padding=1)
    backbone.body = nn.Sequential(backbone.body, conv, nn.ReLU(inplace=True))  # name, stride, mean, std kept
    backbone.out_channels = CAM_CONV_UNITS
    return backbone


def cam_map_names(num_classes: int) -> tuple[str, ...]:
    """("top1", ..., "topk", "gt") with k = min(5, classes)."""
    return tuple(f"top{r + 1}" for r in range(min(TOP_K, num_classes))) + ("gt",)


def true_classes(batch: Batch, device: torch.device) -> Tensor:
    """(N,) the labelled class of each image (its first class labelled 1)."""
    return batch.targets.to(device).argmax(dim=1)


class SingleLabelTask(MultiLabelTask):
    """A WSLClassifier trained with softmax cross-entropy on one label per image (ILSVRC)."""

    @property
    def map_names(self) -> tuple[str, ...]:
        return cam_map_names(self.num_classes) if self.classifier.map_kind == "cam" else ("alpha",)

    def forward(self, batch: Batch, images: Tensor) -> dict[str, Tensor]:
        logits = self.classifier(images).logits
        return {"loss_cls": F.cross_entropy(logits.float(), true_classes(batch, images.device))}

    @torch.no_grad()
    def predict(self, batch: Batch, images: Tensor, map_classes: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(N, C) logits and (N, K, h, w) maps: CAMs of the top-k classes (or of `map_classes` (N, k), the
        ranking of another scale) and of the true class; or alpha (N, 1, h, w)."""
        if self.classifier.map_kind != "cam":
            logits, maps = self.classifier(images, return_maps=True)
            return logits, maps[:, :1]
        logits, cams = self.classifier(images, return_maps=True)  # one pass: all C class maps
        if map_classes is None:  # ties to the lower class index, as the evaluation's ranking
            map_classes = logits.sort(dim=1, descending=True, stable=True).indices[:, : len(self.map_names) - 1]
        ranked = map_classes
        chosen = torch.cat([ranked.to(images.device), true_classes(batch, images.device)[:, None]], dim=1)
        return logits, cams.gather(1, chosen[:, :, None, None].expand(-1, -1, *cams.shape[2:]))


def _classifier_state(net: str, weights: object) -> dict[str, Tensor] | None:
    """The state dict of torchvision's full classifier `net` ("default": its ImageNet weights)."""
    if net not in PRETRAINED_NETS:
        raise InputError(f"--net {net!r}: pretrained rows exist for {', '.join(PRETRAINED_NETS)}")
    default = {"googlenet": tvm.GoogLeNet_Weights.DEFAULT, "vgg16": tvm.VGG16_Weights.DEFAULT,
               "alexnet": tvm.AlexNet_Weights.DEFAULT}[net]
    return resolve_state_dict(weights, default)




def _torchvision_classifier(net: str, weights: object) -> nn.Module:
    """torchvision's full ImageNet classifier `net` with `weights` ("default", "none" or a path)."""
    state = _classifier_state(net, weights)
    if net == "googlenet":
        model = tvm.googlenet(weights=None, aux_logits=False, transform_input=True, init_weights=state is None)
        state = None if state is None else {k: v for k, v in state.items() if not k.startswith("aux")}
    else:
        model = getattr(tvm, net)(weights=None)
    if state is not None:
        try:
            model.load_state_dict(state)
        except RuntimeError as err:  # missing / unexpected keys, shape mismatches
            raise InputError(f"--weights {weights}: not a state dict of torchvision's {net} "
                             f"({str(err).splitlines()[0][:200]})") from err
    return model


def backprop_saliency(model: nn.Module, images: Tensor, classes: Tensor, std: Tensor) -> Tensor:
    """(N, H, W) max over colour channels of |d logit_{classes[n]} / d image| (image in [0, 1] units)."""
    with torch.enable_grad():
        inputs = images.detach().requires_grad_(True)
        scores = model(inputs).gather(1, classes[:, None]).sum()  # images are independent: one backward
        (grad,) = torch.autograd.grad(scores, inputs)
    return (grad.float() / std.to(grad.device).view(1, -1, 1, 1)).abs().amax(dim=1)


class PretrainedTask(nn.Module):
    """torchvision's classifier as shipped: `original` (logits) or `backprop` (logits + saliency maps)."""

    trainable = False
    mean, std = IMAGENET_MEAN, IMAGENET_STD
    num_classes = ILSVRC_NUM_CLASSES

    def __init__(self, net: str, method: str, image_size: int, weights: object = "default") -> None:
        super().__init__()
        if method not in PRETRAINED_METHODS:
            raise InputError(f"method {method!r}: pretrained rows are {', '.join(PRETRAINED_METHODS)}")
        if method == "backprop" and net not in BACKPROP_NETS:
            raise InputError(f"--net {net!r}: backprop rows exist for {', '.join(BACKPROP_NETS)}")
        self.model = _torchvision_classifier(net, weights).eval()
        self.method = method
        self.image_size = image_size
        self.feature_size = (image_size, image_size) if method == "backprop" else (1, 1)

    @property
    def map_names(self) -> tuple[str, ...]:
        return ("top1", "gt") if self.method == "backprop" else ()

    @torch.no_grad()
    def predict(self, batch: Batch, images: Tensor, map_classes: Tensor | None = None) -> tuple[Tensor, Tensor]:
        logits = self.model(images)
        if self.method == "original":
            return logits, logits.new_zeros((len(images), 0, 1, 1))
        top1 = map_classes[:, 0].to(images.device) if map_classes is not None else logits.argmax(dim=1)
        std = torch.tensor(self.std)
        maps = [backprop_saliency(self.model, images, c, std) for c in (top1, true_classes(batch, images.device))]
        return logits, torch.stack(maps, dim=1)


def build_ilsvrc_task(net: str, method: str, num_classes: int, image_size: int, weights: object = "default",
                      extra_conv: bool = True) -> nn.Module:
    """The model of one ILSVRC row: a CAM-style WSL classifier (gap, gmp, gwap) or a pretrained one."""
    if method in PRETRAINED_METHODS:
        if num_classes != ILSVRC_NUM_CLASSES:
            raise InputError(f"method {method}: torchvision's classifiers predict the {ILSVRC_NUM_CLASSES} ILSVRC "
                             f"classes, the dataset has {num_classes}")
        return PretrainedTask(net, method, image_size, weights)
    if method not in TRAINED_METHODS:
        raise InputError(f"method {method!r}: choose from {', '.join(TRAINED_METHODS + PRETRAINED_METHODS)}")
    backbone = cam_backbone(net, weights, extra_conv)
    head = build_pooling(method, backbone.out_channels, num_classes)
    return SingleLabelTask(WSLClassifier(backbone, head, num_classes), image_size)


class IlsvrcClassification(RunTask):
    """Tables III-IV's runs: `build_ilsvrc_task` (trained CAM-style rows and pretrained ones), metrics by
    `evaluate_ilsvrc` (top-k classification and localization error)."""

    def build(self, config: RunConfig, num_classes: int, schedule: Schedule, info: Dist) -> nn.Module:
        return build_ilsvrc_task(config.net, config.method, num_classes, schedule.image_size, config.weights,
                                 **dict(config.model))

    def evaluate(self, predictions: dict, data: RunData) -> dict[str, object]:
        return evaluate_ilsvrc(predictions, data.test)

    def weights_key(self, config: RunConfig) -> tuple[object, ...]:
        return (*super().weights_key(config), config.method in PRETRAINED_METHODS)

    def check_weights(self, config: RunConfig) -> None:
        """A pretrained row's classifier weights, else the backbone's (resolved, no model built)."""
        if config.method in PRETRAINED_METHODS:
            _classifier_state(config.net, config.weights)
        else:
            backbone_state(config.net, config.weights)


TASK = IlsvrcClassification()
