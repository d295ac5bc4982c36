"""R-FCN's position-sensitive RoI head (Dai et al. 2016), on torchvision's `RoIHeads` machinery.

Shared feature map -> 1x1 conv + ReLU to `mid_channels` (R-FCN's conv_new_1) -> two 1x1 convs:
k*k*(C+1) position-sensitive class score maps and k*k*4 class-agnostic box maps. For a RoI, bin
(i, j) of the k x k grid reads channel (d*k + i)*k + j of output d (torchvision's
`ps_roi_align` layout: row i, column j), and the k*k bins are averaged ("voting") into C+1
class logits and 4 box deltas.

Training reuses `RoIHeads.select_training_samples` (GT boxes added to the proposals, `Matcher`,
`BalancedPositiveNegativeSampler`, `BoxCoder` targets) and `fastrcnn_loss`; inference reuses
`RoIHeads.postprocess_detections` (softmax, decode, clip, score threshold, per-class
`batched_nms`, top detections). The class-agnostic deltas are repeated for the C+1 classes
so that both torchvision functions apply unchanged. With OHEM, every matched RoI is scored and
the `ohem_rois` highest-loss ones per image are kept (R-FCN: 128 of 300); otherwise the sampler
draws `batch_size_per_image` RoIs at `positive_fraction` positives. Labels follow torchvision:
0 is background, 1..C the classes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models.detection.roi_heads import RoIHeads, fastrcnn_loss
from torchvision.ops import ps_roi_align

from reference_models.rfcn_loss import hardest_rois, per_roi_detection_loss


def position_sensitive_pool(maps: Tensor, rois: list[Tensor], k: int, stride: float, sampling_ratio: int = 2) -> Tensor:
    """(K, D, k, k): bin (i, j) of output d pooled from channel (d*k + i)*k + j of (N, k*k*D, h, w) maps.

    rois: per image (R_n, 4) x1, y1, x2, y2 in input-image pixels; a cell of `maps` is `stride` pixels.
    Pools in float32 (under mixed precision too: torchvision's CPU kernel has no bfloat16 version).
    """
    rois = [r.float() for r in rois]
    return ps_roi_align(maps.float(), rois, output_size=k, spatial_scale=1.0 / stride, sampling_ratio=sampling_ratio)


def vote(pooled: Tensor) -> Tensor:
    """R-FCN's voting: the mean over the k x k bins, (K, D, k, k) -> (K, D)."""
    return pooled.mean(dim=(2, 3))


class PositionSensitiveHead(RoIHeads):
    """R-FCN head. The `box_roi_pool`, `box_head` and `box_predictor` slots of `RoIHeads` stay
    empty: position-sensitive pooling of whole-image score maps replaces the per-RoI head."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        stride: float,
        *,
        mid_channels: int = 1024,
        k: int = 7,
        batch_size_per_image: int = 128,
        positive_fraction: float = 0.25,
        ohem_rois: int | None = 128,
        score_thresh: float = 0.05,
        nms_thresh: float = 0.3,
        detections_per_img: int = 100,
    ) -> None:
        super().__init__(
            box_roi_pool=None,
            box_head=None,
            box_predictor=None,
            fg_iou_thresh=0.5,
            bg_iou_thresh=0.5,
            batch_size_per_image=batch_size_per_image,
            positive_fraction=positive_fraction,
            bbox_reg_weights=None,  # (10, 10, 5, 5): py-faster-rcnn's BBOX_NORMALIZE_STDS (0.1, 0.1, 0.2, 0.2)
            score_thresh=score_thresh,
            nms_thresh=nms_thresh,
            detections_per_img=detections_per_img,
        )
        if ohem_rois is not None and ohem_rois < 1:
            raise ValueError(f"ohem_rois must be positive or None, got {ohem_rois}")
        self.num_classes = num_classes
        self.stride = stride
        self.k = k
        self.ohem_rois = ohem_rois
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, mid_channels, kernel_size=1), nn.ReLU(inplace=True))
        self.class_maps = nn.Conv2d(mid_channels, k * k * (num_classes + 1), kernel_size=1)
        self.box_maps = nn.Conv2d(mid_channels, k * k * 4, kernel_size=1)
        for conv in (self.class_maps, self.box_maps):
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)

    def subsample(self, labels: list[Tensor]) -> list[Tensor]:
        """Without OHEM, torchvision's balanced sampling; with it, every RoI that is not ignored."""
        if self.ohem_rois is None:
            return super().subsample(labels)
        return [torch.where(image_labels >= 0)[0] for image_labels in labels]

    def score_rois(self, features: Tensor, rois: list[Tensor]) -> tuple[Tensor, Tensor]:
        """(K, C+1) class logits and (K, 4) class-agnostic deltas of the RoIs of each image."""
        shared = self.reduce(features)
        logits = vote(position_sensitive_pool(self.class_maps(shared), rois, self.k, self.stride))
        deltas = vote(position_sensitive_pool(self.box_maps(shared), rois, self.k, self.stride))
        return logits, deltas

    def forward(  # type: ignore[override]
        self,
        features: Tensor,
        proposals: list[Tensor],
        image_shapes: list[tuple[int, int]],
        targets: list[dict[str, Tensor]] | None = None,
    ) -> tuple[list[dict[str, Tensor]], dict[str, Tensor]]:
        """Training: ([], {"loss_classifier", "loss_box_reg"}); inference: per image {"boxes", "labels", "scores"}."""
        if self.training:
            proposals, _, labels, regression_targets = self.select_training_samples(proposals, targets)
            logits, deltas = self.score_rois(features, proposals)
            if self.ohem_rois is not None:
                with torch.no_grad():
                    per_roi = per_roi_detection_loss(logits, deltas, torch.cat(labels), torch.cat(regression_targets))
                keep = hardest_rois(per_roi, [len(p) for p in proposals], self.ohem_rois)
                logits, deltas = logits[keep], deltas[keep]
                labels, regression_targets = [torch.cat(labels)[keep]], [torch.cat(regression_targets)[keep]]
            loss_classifier, loss_box_reg = fastrcnn_loss(logits, self._per_class(deltas), labels, regression_targets)
            return [], {"loss_classifier": loss_classifier, "loss_box_reg": loss_box_reg}
        logits, deltas = self.score_rois(features, proposals)
        boxes, scores, labels = self.postprocess_detections(logits, self._per_class(deltas), proposals, image_shapes)
        return [{"boxes": b, "labels": lab, "scores": s} for b, s, lab in zip(boxes, scores, labels)], {}

    def _per_class(self, deltas: Tensor) -> Tensor:
        """(K, 4) class-agnostic deltas as the (K, 4*(C+1)) layout torchvision's functions index by class."""
        return deltas.repeat(1, self.num_classes + 1)
