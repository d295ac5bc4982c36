"""The VOC classification task (`TASK`, registered in `engine.runner.TASK_MODULES`): a WSLClassifier
trained with the multi-label loss, its logits and class-agnostic maps stored, scored by `engine.evaluate`.

Loss (Table I): sigmoid cross-entropy on the image labels, averaged over the (image, class)
pairs whose label is known. A class present only as difficult objects (VOC label 0) is left out
of the loss, as the devkit leaves it out of AP: such an image is neither a reliable positive
(the objects are hard to recognize) nor a negative (the class is there). Training with it as a
negative would teach the model to ignore visible objects; as a positive, to fire on near-invisible ones.

Class-agnostic maps for Table II, one per image: for a GWAP head its weights alpha; for a CAM
head (gap, gmp, lse) three are stored, so that the choice never needs a rerun:
`predicted` (default): the per-pixel maximum of the CAMs of the classes predicted present
(sigmoid > 0.5; the top-1 class if none), `gt`: the same over the ground-truth classes (labels
1 or 0), `top1`: the CAM of the top-scoring class alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gwapbench.config import CAM_MAP_NAMES, RunConfig
from gwapbench.engine.batches import Batch
from gwapbench.engine.distributed import Dist
from gwapbench.engine.evaluate import evaluate_predictions
from gwapbench.engine.inputs import RunData
from gwapbench.engine.runner import RunTask
from gwapbench.engine.schedules import Schedule
from reference_models.backbones import build_backbone
from reference_models.classifier import WSLClassifier
from reference_models.pooling import box_coverage, build_pooling

ALPHA_MAP_NAMES = ("alpha",)


def multilabel_loss(logits: Tensor, targets: Tensor, label_mask: Tensor) -> Tensor:
    """sum over known labels of BCE-with-logits / number of known labels (difficult-only labels masked)."""
    losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (losses * label_mask).sum() / label_mask.sum().clamp_min(1)


class MultiLabelTask(nn.Module):
    """Wraps a WSLClassifier: `forward(batch)` -> {"loss_cls": ...}; `predict(batch)` -> (logits, maps)."""

    trainable = True  # False for models evaluated as shipped (gwapbench.engine.ilsvrc_models.PretrainedTask)

    def __init__(self, classifier: WSLClassifier, image_size: int) -> None:
        super().__init__()
        self.classifier = classifier
        self.image_size = image_size
        with torch.no_grad():
            training = classifier.backbone.training
            classifier.backbone.eval()
            self.feature_size = tuple(classifier.backbone(torch.zeros(1, 3, image_size, image_size)).shape[-2:])
            classifier.backbone.train(training)

    num_classes = property(lambda self: self.classifier.num_classes)
    mean = property(lambda self: self.classifier.backbone.mean)
    std = property(lambda self: self.classifier.backbone.std)

    @property
    def map_names(self) -> tuple[str, ...]:
        return CAM_MAP_NAMES if self.classifier.map_kind == "cam" else ALPHA_MAP_NAMES

    def gt_mask(self, boxes: list[Tensor], device: torch.device) -> Tensor | None:
        """Box coverage at feature resolution for the oracle head, else None."""
        if not self.classifier.head.needs_gt_mask:
            return None
        size = (self.image_size, self.image_size)
        return torch.stack([box_coverage(b.to(device), size, self.feature_size) for b in boxes])[:, None]

    def forward(self, batch: Batch, images: Tensor) -> dict[str, Tensor]:
        logits = self.classifier(images, gt_mask=self.gt_mask(batch.boxes, images.device)).logits
        return {"loss_cls": multilabel_loss(logits.float(), batch.targets.to(images.device),
                                            batch.label_mask.to(images.device))}

    @torch.no_grad()
    def predict(self, batch: Batch, images: Tensor) -> tuple[Tensor, Tensor]:
        """(N, C) logits and (N, K, h, w) class-agnostic maps, K = len(map_names)."""
        gt_mask = self.gt_mask(batch.boxes, images.device)
        if self.classifier.map_kind != "cam":
            logits, maps = self.classifier(images, gt_mask=gt_mask, return_maps=True)
            return logits, maps[:, :1]
        logits, cams = self.classifier(images, return_maps=True)  # (N, C, h, w)
        predicted = logits.sigmoid() > 0.5
        top1 = F.one_hot(logits.argmax(dim=1), logits.shape[1]).bool()
        predicted = torch.where(predicted.any(dim=1, keepdim=True), predicted, top1)
        present = (batch.targets > 0) | ~batch.label_mask  # labels 1 or 0
        present = present.to(images.device)
        present = torch.where(present.any(dim=1, keepdim=True), present, top1)
        maps = [_masked_max(cams, chosen) for chosen in (predicted, present, top1)]
        return logits, torch.stack(maps, dim=1)


def _masked_max(cams: Tensor, chosen: Tensor) -> Tensor:
    """Per-pixel maximum over the chosen classes' maps: (N, C, h, w), (N, C) bool -> (N, h, w)."""
    return cams.masked_fill(~chosen[:, :, None, None], float("-inf")).amax(dim=1)


def build_task(net: str, method: str, num_classes: int, image_size: int, weights: object = "default") -> MultiLabelTask:
    """Backbone `net` + pooling head `method` + classifier, wrapped for the multi-label task."""
    backbone = build_backbone(net, weights)
    head = build_pooling(method, backbone.out_channels, num_classes)
    return MultiLabelTask(WSLClassifier(backbone, head, num_classes), image_size)


class VocClassification(RunTask):
    """Table I's runs: `build_task`, metrics by `evaluate_predictions` (VOC07 mAP, Otsu F of each map)."""

    def build(self, config: RunConfig, num_classes: int, schedule: Schedule, info: Dist) -> MultiLabelTask:
        return build_task(config.net, config.method, num_classes, schedule.image_size, config.weights)

    def evaluate(self, predictions: dict, data: RunData) -> dict[str, object]:
        return evaluate_predictions(predictions, data.test, data.classes)


TASK = VocClassification()
