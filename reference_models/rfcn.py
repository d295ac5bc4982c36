"""R-FCN (Dai et al. 2016) with the weak image-level branches of Qiu 2018 (Sec. III-D, Table V).

Built from torchvision parts: `GeneralizedRCNN`'s structure (transform -> backbone -> RPN -> RoI
head -> postprocess), `GeneralizedRCNNTransform` (normalize with the backbone's mean/std, resize
the shorter side to `min_size` capped at `max_size`, pad to a multiple of the backbone stride so
that a feature cell is exactly `stride` pixels), `AnchorGenerator` (3 sizes x 3 ratios),
`RegionProposalNetwork` + `RPNHead` (its 3x3 conv narrowed to `rpn_channels`, R-FCN's
rpn_conv/3x3), and the position-sensitive head of `rfcn_head.py`. The RPN and the head share
the backbone's last map (ResNet-50 with a dilated layer4: stride 16).

Methods (`METHODS`, Table V rows): `rfcn` (detection only), `rfcn_gap` (+ GAP + fc),
`rfcn_gwap` (+ class-specific GWAP, eqs. 6-9), `rfcn_gwap_gap` (both). The weak branches pool
the same backbone map.

Losses in training, returned as a dict whose values are already weighted (total = their sum):
- loss_objectness, loss_rpn_box_reg, loss_classifier, loss_box_reg: detection, computed only on
  the images whose target has "boxes"; exactly 0 (no graph) when the batch has none;
- loss_weak_gwap, loss_weak_gap: lambda * sigmoid cross-entropy of the branch's image logits
  against "image_labels", on every image (lambda = `weak_weight`, 0.1 in the paper);
- loss_region (gwap methods): lambda * `region_weight` * the mean over the GT boxes of the
  batch of the hinge r_g = max(0, m - (mean_in(g) M_c - mean_neg(c) M_c)) (`rfcn_loss.region_hinge`),
  0 when the batch has no box.

Local region regularization, the form chosen: the paper says only that "the average score of
the object region is larger than the negative samples" (Fig. 6). We apply it to
M_c = O_c * sigmoid(S_c) (eq. 7), the map whose spatial softmax is the weight map alpha_c:
(a) M_c lies in (0, 1), so a fixed margin (m = 0.5) means the same at every scale, and the
hinge cannot be met by inflating the logits S_c, which the classification loss also sees;
(b) the constraint then shapes alpha_c, the map Fig. 9 shows. One hinge per box, not per
class union, so each object, small ones included, must stand out ("local region"); inside
means weight cells by their area inside the box; negatives of class c are the cells that no
class-c box touches. Since log alpha_c = M_c - logsumexp(M_c) and the hinge only takes
differences of means, it is computed from log alpha_c, which the GWAP head returns.

Targets (training), one dict per image:
- "boxes": (G, 4) float x1, y1, x2, y2 in input-image pixels (x2 > x1, y2 > y1), with
  "labels": (G,) int64 class indices 0..C-1. The image then takes part in the detection
  loss; G = 0 means an image known to hold no object. Without the "boxes" key the image is
  image-level only: no detection loss, weak losses only.
- "image_labels": (C,) {0, 1} multi-hot; required for images without "boxes" when the model
  has a weak branch; for images with boxes it defaults to the classes of "labels".
Detections (eval), one dict per image: "boxes" (D, 4) float in input-image pixels clipped to
the image, "labels" (D,) int64 in 0..C-1 (not torchvision's 1-based), "scores" (D,) in
(score_thresh, 1], descending, D <= detections_per_img, per-class NMS at `nms_thresh`; gwap
methods add "weight_maps" (C, ceil(h'/s), ceil(w'/s)), alpha_c at feature resolution cropped
to the resized image h' x w' (covering it with < s pixels overhang; resize to the input
image's size to overlay).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.generalized_rcnn import GeneralizedRCNN
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.models.detection.transform import GeneralizedRCNNTransform
from torchvision.ops import Conv2dNormActivation

from reference_models.backbones import Backbone, WeightsArg, build_backbone
from reference_models.pooling import Pooled, PoolingHead, build_pooling
from reference_models.rfcn_head import PositionSensitiveHead
from reference_models.rfcn_loss import multilabel_loss, region_hinge

METHODS: dict[str, tuple[str, ...]] = {
    "rfcn": (),
    "rfcn_gap": ("gap",),
    "rfcn_gwap": ("gwap",),
    "rfcn_gwap_gap": ("gwap", "gap"),
}
DETECTION_LOSSES = ("loss_objectness", "loss_rpn_box_reg", "loss_classifier", "loss_box_reg")
_POOLING_OF_BRANCH = {"gwap": "gwap_cs", "gap": "gap"}


@dataclass(frozen=True)
class RFCNConfig:
    """Hyper-parameters; the defaults are R-FCN's (py-R-FCN end-to-end OHEM) and Qiu 2018's."""

    min_size: int = 600  # shorter side (one scale)
    max_size: int = 1000  # longer side cap
    anchor_sizes: tuple[int, ...] = (128, 256, 512)
    aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    rpn_channels: int = 512
    rpn_pre_nms_top_n: int = 6000
    rpn_post_nms_top_n: int = 300  # proposals per image, training and test
    rpn_nms_thresh: float = 0.7
    rpn_batch_size_per_image: int = 256
    mid_channels: int = 1024
    k: int = 7
    roi_batch_size_per_image: int = 128  # without OHEM
    roi_positive_fraction: float = 0.25
    ohem_rois: int | None = 128  # None: no OHEM
    score_thresh: float = 0.05
    nms_thresh: float = 0.3
    detections_per_img: int = 100
    weak_weight: float = 0.1  # lambda
    region_weight: float = 1.0
    region_margin: float = 0.5


class ImageLevelBranch(nn.Module):
    """A weak branch: a pooling head, then a linear classifier unless the head already gives class scores."""

    def __init__(self, head: PoolingHead, num_classes: int) -> None:
        super().__init__()
        self.head = head
        self.classifier = None if head.outputs_scores else nn.Linear(head.out_features, num_classes)

    def forward(self, features: Tensor) -> Pooled:
        """Pooled(logits (N, C), spatial weights)."""
        pooled = self.head(features)
        logits = pooled.output if self.classifier is None else self.classifier(pooled.output)
        return Pooled(logits, pooled.weights)


def check_targets(
    targets: list[dict[str, Tensor]] | None, num_images: int, num_classes: int, needs_image_labels: bool
) -> Tensor:
    """Validate training targets up front; return the (N, C) float image labels (zeros where not needed)."""
    if targets is None or len(targets) != num_images:
        given = "None" if targets is None else len(targets)
        raise ValueError(f"training needs one target dict per image ({num_images}), got {given}")
    rows = []
    for i, target in enumerate(targets):
        if "boxes" in target:
            boxes, labels = target["boxes"], target.get("labels")
            if boxes.dim() != 2 or boxes.shape[1] != 4:
                raise ValueError(f"targets[{i}]['boxes'] must be (G, 4), got {tuple(boxes.shape)}")
            if labels is None or labels.shape != (boxes.shape[0],) or labels.dtype != torch.int64:
                raise ValueError(f"targets[{i}] needs 'labels' (G,) int64 beside 'boxes' (G = {boxes.shape[0]})")
            if labels.numel() and not (0 <= int(labels.min()) and int(labels.max()) < num_classes):
                raise ValueError(f"targets[{i}]['labels'] must lie in 0..{num_classes - 1}")
            if (boxes[:, 2:] <= boxes[:, :2]).any():
                raise ValueError(f"targets[{i}]['boxes'] has a box with x2 <= x1 or y2 <= y1")
        if "image_labels" in target:
            row = target["image_labels"]
            if row.shape != (num_classes,) or not ((row == 0) | (row == 1)).all():
                raise ValueError(f"targets[{i}]['image_labels'] must be ({num_classes},) of 0/1")
        elif "boxes" in target:
            row = torch.zeros(num_classes).index_fill_(0, target["labels"].cpu(), 1.0)
        elif needs_image_labels:
            raise ValueError(f"targets[{i}] has neither 'boxes' nor 'image_labels'")
        else:
            row = torch.zeros(num_classes)
        rows.append(row.float().cpu())
    return torch.stack(rows)


class RFCN(GeneralizedRCNN):
    """R-FCN with optional weak branches ("gwap", "gap") on the shared backbone map; see the module docstring."""

    def __init__(
        self,
        backbone: Backbone,
        num_classes: int,
        weak_branches: tuple[str, ...] = (),
        config: RFCNConfig = RFCNConfig(),
    ) -> None:
        unknown = set(weak_branches) - set(_POOLING_OF_BRANCH)
        if unknown:
            raise ValueError(f"unknown weak branches {sorted(unknown)}; choose from {sorted(_POOLING_OF_BRANCH)}")
        num_anchors = len(config.anchor_sizes) * len(config.aspect_ratios)
        rpn_head = RPNHead(config.rpn_channels, num_anchors)
        rpn_head.conv = nn.Sequential(
            Conv2dNormActivation(backbone.out_channels, config.rpn_channels, kernel_size=3, norm_layer=None)
        )
        nn.init.normal_(rpn_head.conv[0][0].weight, std=0.01)
        nn.init.zeros_(rpn_head.conv[0][0].bias)
        rpn = RegionProposalNetwork(
            AnchorGenerator((config.anchor_sizes,), (config.aspect_ratios,)),
            rpn_head,
            fg_iou_thresh=0.7,
            bg_iou_thresh=0.3,
            batch_size_per_image=config.rpn_batch_size_per_image,
            positive_fraction=0.5,
            pre_nms_top_n={"training": config.rpn_pre_nms_top_n, "testing": config.rpn_pre_nms_top_n},
            post_nms_top_n={"training": config.rpn_post_nms_top_n, "testing": config.rpn_post_nms_top_n},
            nms_thresh=config.rpn_nms_thresh,
        )
        roi_heads = PositionSensitiveHead(
            backbone.out_channels,
            num_classes,
            backbone.stride,
            mid_channels=config.mid_channels,
            k=config.k,
            batch_size_per_image=config.roi_batch_size_per_image,
            positive_fraction=config.roi_positive_fraction,
            ohem_rois=config.ohem_rois,
            score_thresh=config.score_thresh,
            nms_thresh=config.nms_thresh,
            detections_per_img=config.detections_per_img,
        )
        transform = GeneralizedRCNNTransform(
            config.min_size, config.max_size, list(backbone.mean), list(backbone.std), size_divisible=backbone.stride
        )
        super().__init__(backbone, rpn, roi_heads, transform)
        self.num_classes = num_classes
        self.config = config
        self.weak = nn.ModuleDict()
        for name in weak_branches:
            head = build_pooling(_POOLING_OF_BRANCH[name], backbone.out_channels, num_classes)
            self.weak[name] = ImageLevelBranch(head, num_classes)

    @property
    def uses_image_labels(self) -> bool:
        """True when images without boxes contribute to training (the model has a weak branch)."""
        return len(self.weak) > 0

    def forward(  # type: ignore[override]
        self, images: list[Tensor], targets: list[dict[str, Tensor]] | None = None
    ) -> dict[str, Tensor] | list[dict[str, Tensor]]:
        """Training: the dict of weighted losses. Eval: one detection dict per image. images: (3, H, W) in [0, 1]."""
        if not self.training:
            return self._detect(images)
        image_labels = check_targets(targets, len(images), self.num_classes, self.uses_image_labels)
        has_boxes = [i for i, target in enumerate(targets) if "boxes" in target]
        no_boxes = images[0].new_zeros((0, 4))
        detection_targets = [
            {"boxes": t["boxes"], "labels": t["labels"] + 1} if "boxes" in t else {"boxes": no_boxes} for t in targets
        ]
        image_list, detection_targets = self.transform(images, detection_targets)
        features = self.backbone(image_list.tensors)
        losses = self._detection_losses(image_list, features, [detection_targets[i] for i in has_boxes], has_boxes)
        weight = self.config.weak_weight
        for name, branch in self.weak.items():
            pooled = branch(features)
            losses[f"loss_weak_{name}"] = weight * multilabel_loss(pooled.output, image_labels.to(features.device))
            if name == "gwap":
                losses["loss_region"] = weight * self.config.region_weight * self._region_loss(
                    pooled.weights.log(), [detection_targets[i] for i in has_boxes], has_boxes
                )
        return losses

    def _detection_losses(
        self, image_list: ImageList, features: Tensor, targets: list[dict[str, Tensor]], index: list[int]
    ) -> dict[str, Tensor]:
        if not index:
            return {name: features.new_zeros(()) for name in DETECTION_LOSSES}
        if len(index) < len(image_list.image_sizes):
            image_list = ImageList(image_list.tensors[index], [image_list.image_sizes[i] for i in index])
            features = features[index]
        proposals, rpn_losses = self.rpn(image_list, {"0": features}, targets)
        _, head_losses = self.roi_heads(features, proposals, image_list.image_sizes, targets)
        return {**rpn_losses, **head_losses}

    def _region_loss(self, log_alpha: Tensor, targets: list[dict[str, Tensor]], index: list[int]) -> Tensor:
        """Mean hinge over all GT boxes of the box-annotated images (0 when there is none)."""
        hinges = [
            region_hinge(log_alpha[i], t["boxes"], t["labels"] - 1, self.backbone.stride, self.config.region_margin)
            for i, t in zip(index, targets)
        ]
        hinges = torch.cat(hinges) if hinges else log_alpha.new_zeros(0)
        return hinges.mean() if hinges.numel() else log_alpha.new_zeros(())

    @torch.no_grad()
    def _detect(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        original_sizes = [(int(image.shape[-2]), int(image.shape[-1])) for image in images]
        image_list, _ = self.transform(images)
        features = self.backbone(image_list.tensors)
        proposals, _ = self.rpn(image_list, {"0": features})
        detections, _ = self.roi_heads(features, proposals, image_list.image_sizes)
        detections = self.transform.postprocess(detections, image_list.image_sizes, original_sizes)
        for detection in detections:
            detection["labels"] = detection["labels"] - 1
        if "gwap" in self.weak:
            alpha = self.weak["gwap"](features).weights
            stride = self.backbone.stride
            for i, (height, width) in enumerate(image_list.image_sizes):
                detections[i]["weight_maps"] = alpha[i, :, : math.ceil(height / stride), : math.ceil(width / stride)]
        return detections


def build_rfcn(
    method: str,
    num_classes: int,
    backbone: str = "resnet50",
    weights: WeightsArg = "default",
    config: RFCNConfig = RFCNConfig(),
    **backbone_options: object,
) -> RFCN:
    """Build a Table V method by name (`METHODS`). resnet50 is dilated (stride 16) unless told otherwise."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if backbone == "resnet50":
        backbone_options.setdefault("dilated", True)
    return RFCN(build_backbone(backbone, weights, **backbone_options), num_classes, METHODS[method], config)
