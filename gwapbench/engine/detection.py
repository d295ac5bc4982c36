"""Table V runs: R-FCN (with its weak branches) trained, predicted and evaluated through the run store.

- `DetectionTask` adapts `reference_models.rfcn.RFCN` to the loop's `model(batch, images)`.
- Training images: every image for the weak methods (boxes on the proportion, image labels on
  all); for plain `rfcn`, which learns nothing from image labels, only the images with boxes.
  Every method's batch holds plain R-FCN's box images (one seeded stream over the box images);
  the weak methods add `IMAGE_LEVEL_PER_BOX_IMAGE` image-level images per box image
  (`detection_data.DetectionBatches`).
- `predict_detections`: per test image the detections (boxes as VOC 1-based inclusive corners,
  the inverse of `file_boxes_to_tensor`: x1 + 1, y1 + 1, x2, y2; sub-pixel boxes one pixel wide), and for the first
  `STORED_WEIGHT_MAPS` images the class-specific weight maps alpha_c (float16, Fig. 9).
- `evaluate_detections`: VOC07 11-point detection AP (`voc_detection_ap`, devkit semantics with exact
  thresholds, IoU >= 0.5, as Table I) and the same detections under py-faster-rcnn's `voc_eval`
  (`ap_rule="py_faster_rcnn"`: IoU > 0.5, its float thresholds), the convention of the paper's
  numbers; mAP in percent over the classes with non-difficult GT.
- `VocDetection` (`TASK`): the registered task; `engine.runner.execute` carries a run through the
  store with it (train, resuming -> predictions.npz -> metrics.json), as every other task.

Under torchrun (as Table I, `engine.runner`): every rank takes its share of each global batch
(`TrainBatches`) under DistributedDataParallel, predicts its share of the test images, and rank 0
gathers the detections and writes every file. A rank's detection losses are means over its own box
images, and a shard may hold none, so `share_box_losses` weights them by the rank's share of the
global batch's box images: DDP's gradient average is then the gradient of one process's mean over
all of them (exact for the RPN and head losses, which average per image; `loss_region`, a mean over
boxes, is weighted by images too).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from gwapbench.config import RunConfig
from gwapbench.data.sample import Sample
from gwapbench.engine.batches import shard_keys
from gwapbench.engine import distributed
from gwapbench.engine.distributed import Dist
from gwapbench.engine.detection_data import (
    DetectionBatch,
    DetectionBatches,
    DetectionDataset,
    collate_detection,
    has_training_boxes,
)
from gwapbench.engine.detection_schedules import IMAGE_LEVEL_PER_BOX_IMAGE, rfcn_settings
from gwapbench.engine.precision import autocast
from gwapbench.engine.inputs import EngineOptions, RunData
from gwapbench.engine.runner import RunTask, batched, resume_and_train
from gwapbench.engine.schedules import Schedule
from gwapbench.engine.store import Run
from gwapbench.errors import InputError
from gwapbench.metrics import voc_detection_ap
from reference_models.rfcn import DETECTION_LOSSES, RFCN, RFCNConfig, build_rfcn

STORED_WEIGHT_MAPS = 16  # test images whose weight maps predictions.npz keeps (Fig. 9)
PREDICT_BATCH = 1  # one image per call, as R-FCN tests: no padding to, or kernel choice by, batch neighbours
BOX_LOSSES = (*DETECTION_LOSSES, "loss_region")  # the losses computed on the box images only


def box_loss_scale(box_images: int, total_box_images: float, world_size: int) -> float:
    """world_size * n_r / sum_r n_r (0 when no rank has a box image): rank r's factor for its mean box losses,
    so that DDP's average (1/W) sum_r of the scaled gradients equals the gradient of the mean over all box images."""
    return world_size * box_images / total_box_images if total_box_images > 0 else 0.0


def share_box_losses(losses: dict[str, Tensor], box_images: int, info: Dist, device: torch.device) -> dict[str, Tensor]:
    """The box losses scaled by `box_loss_scale` under torchrun (one all-reduce); unchanged in one process."""
    if not info.active:
        return losses
    scale = box_loss_scale(box_images, distributed.all_sum(info, box_images, device), info.world_size)
    return {name: value * scale if name in BOX_LOSSES else value for name, value in losses.items()}


class DetectionTask(nn.Module):
    """`forward(batch, images)` -> R-FCN's weighted losses; `detect(images)` -> R-FCN's detections.

    R-FCN draws random numbers in training (the RPN's and the head's balanced samplers). Each training
    step draws them from torch's generator seeded with SeedSequence([seed, step]) (the global state is
    restored afterwards); `step` is a buffer, saved in checkpoints, so a resumed run draws what an
    uninterrupted one would.
    """

    trainable = True

    def __init__(self, model: RFCN, seed: int = 0, info: Dist = Dist()) -> None:
        super().__init__()
        self.model = model
        self.seed = seed
        self.info = info
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))

    def forward(self, batch: DetectionBatch, images: list[Tensor]) -> dict[str, Tensor]:
        device = images[0].device
        targets = [{key: value.to(device) for key, value in target.items()} for target in batch.targets]
        step_seed = int(np.random.SeedSequence([self.seed, int(self.step)]).generate_state(1)[0])
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(step_seed)
            losses = self.model(images, targets)
        self.step += 1
        return share_box_losses(losses, sum("boxes" in target for target in targets), self.info, device)

    @torch.no_grad()
    def detect(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        return self.model(images)


def build_detection_task(config: RunConfig, num_classes: int, head: dict, info: Dist = Dist()) -> DetectionTask:
    model = build_rfcn(config.method, num_classes, backbone=config.net, weights=config.weights,
                       config=RFCNConfig(**head))
    return DetectionTask(model, config.seed, info)


def training_samples(task: DetectionTask, samples: Sequence[Sample]) -> list[Sample]:
    """All samples for a model with a weak branch; the ones with boxes for plain R-FCN."""
    return list(samples) if task.model.uses_image_labels else [s for s in samples if has_training_boxes(s)]


def _prepare(device: torch.device):
    def prepare(batch: DetectionBatch | InputError) -> list[Tensor]:
        if isinstance(batch, InputError):
            raise batch
        return [image.to(device, non_blocking=True).float().div_(255) for image in batch.images]

    return prepare


def _loader(dataset: DetectionDataset, batch_sampler, workers: int) -> DataLoader:
    return DataLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate_detection,
                      num_workers=0 if dataset.cache is not None else workers)


def stream_indices(task: DetectionTask, samples: Sequence[Sample]) -> tuple[list[int], list[int]]:
    """(positions of the samples with training boxes, of the image-level ones a weak branch learns from;
    none for plain R-FCN)."""
    boxed = [has_training_boxes(s) for s in samples]
    image_level = [i for i, b in enumerate(boxed) if not b] if task.model.uses_image_labels else []
    return [i for i, b in enumerate(boxed) if b], image_level


def image_level_per_batch(schedule: Schedule) -> int:
    """k = IMAGE_LEVEL_PER_BOX_IMAGE x batch_size: the image-level images a weak method adds to each batch."""
    return IMAGE_LEVEL_PER_BOX_IMAGE * schedule.batch_size


def train_detection(run: Run, task: DetectionTask, config: RunConfig, schedule: Schedule, samples: list[Sample],
                    device: torch.device, options: EngineOptions, info: Dist = Dist()) -> None:
    """Train to `schedule.iterations` on `samples`, continuing from the run's checkpoint: each iteration plain
    R-FCN's `batch_size` box images plus, for a weak method, `image_level_per_batch` image-level images
    (`DetectionBatches`); this rank's share of each batch under torchrun."""
    box_indices, image_level_indices = stream_indices(task, samples)
    if len(box_indices) < schedule.batch_size:
        raise InputError(f"{config.method}: {len(box_indices)} training images with boxes, fewer than one batch of "
                         f"{schedule.batch_size} (lower batch_size with --override batch_size=N)")

    def batches_from(start: int) -> DataLoader:
        sampler = DetectionBatches(box_indices, image_level_indices, schedule.batch_size,
                                   image_level_per_batch(schedule), config.seed, schedule.flip_probability, start,
                                   schedule.iterations, info.rank, info.world_size)
        return _loader(DetectionDataset(samples), sampler, options.workers)

    # a batch (or a rank's shard) without box images leaves the RPN and the head without gradient
    resume_and_train(run, task, schedule, device, options, info, batches_from, _prepare(device),
                     find_unused_parameters=True, precision=config.precision)


def file_corners(boxes: Tensor) -> np.ndarray:
    """0-based continuous (x1, y1, x2, y2) -> VOC 1-based inclusive corners (x1 + 1, y1 + 1, x2, y2); a box
    thinner than a pixel (x2 - x1 < 1) would get x2 < x1 there and keeps x2 = x1 (one pixel wide)."""
    corners = boxes.double().cpu().numpy() + np.array([1.0, 1.0, 0.0, 0.0])
    corners[:, 2:] = np.maximum(corners[:, 2:], corners[:, :2])
    return corners.astype(np.float32)


@torch.no_grad()
def predict_detections(task: DetectionTask, samples: Sequence[Sample], device: torch.device, workers: int,
                       info: Dist = Dist(), precision: str = "fp32") -> dict[str, np.ndarray] | None:
    """predictions.npz content: image_ids, det_image (M,), det_boxes (M, 4), det_scores, det_labels and
    weight_map_<i> (C, h, w) float16 for the first STORED_WEIGHT_MAPS images of gwap methods. Under torchrun
    each rank detects its share of the images and rank 0 gathers them (None on the other ranks)."""
    task.eval()
    keys = shard_keys(len(samples), info.rank, info.world_size)
    batches = batched(keys, PREDICT_BATCH)
    prepare = _prepare(device)
    per_image = []  # (index, boxes, scores, labels, weight map or None)
    for batch in _loader(DetectionDataset(samples), batches, workers):
        with autocast(precision, device):
            detections = task.detect(prepare(batch))
        for index, detection in zip(batch.indices.tolist(), detections):
            weight_map = detection.get("weight_maps") if index < STORED_WEIGHT_MAPS else None
            per_image.append((index, file_corners(detection["boxes"]), detection["scores"].float().cpu().numpy(),
                              detection["labels"].cpu().numpy().astype(np.int64),
                              None if weight_map is None else weight_map.float().cpu().numpy().astype(np.float16)))
    gathered = distributed.gather_objects(info, per_image)
    if gathered is None:
        return None
    gathered.sort(key=lambda record: record[0])
    indices, boxes, scores, labels, weight_maps = zip(*gathered) if gathered else ((),) * 5
    if list(indices) != list(range(len(samples))):
        raise RuntimeError(f"predicted {len(gathered)} images, expected {len(samples)}")
    columns = {
        "det_image": [np.full(len(part), index, dtype=np.int64) for index, part in zip(indices, scores)],
        "det_boxes": boxes,
        "det_scores": scores,
        "det_labels": labels,
    }
    arrays = {name: np.concatenate(parts) if parts else np.zeros((0, 4) if name == "det_boxes" else 0)
              for name, parts in columns.items()}
    maps = {f"weight_map_{index}": weight for index, weight in zip(indices, weight_maps) if weight is not None}
    return {"image_ids": np.array([s.image_id for s in samples]), **arrays, **maps}


def per_image_detections(predictions: dict[str, np.ndarray], count: int) -> list[tuple[np.ndarray, ...]]:
    """The stored flat detections as one (boxes, scores, labels) tuple per image."""
    owner = predictions["det_image"]
    return [(predictions["det_boxes"][owner == i], predictions["det_scores"][owner == i],
             predictions["det_labels"][owner == i]) for i in range(count)]


def evaluate_detections(predictions: dict[str, np.ndarray], samples: Sequence[Sample],
                        class_names: Sequence[str]) -> dict[str, object]:
    """metrics.json: det_map (exact) and det_map_py_faster_rcnn, percent, with per-class AP."""
    if [str(i) for i in predictions["image_ids"]] != [s.image_id for s in samples]:
        raise ValueError("stored predictions do not list the test images in the dataset's order")
    detections = per_image_detections(predictions, len(samples))
    truth = [(s.boxes, s.box_labels, s.difficult) for s in samples]
    metrics: dict[str, object] = {"test_images": len(samples)}
    for suffix, ap_rule in (("", "exact"), ("_py_faster_rcnn", "py_faster_rcnn")):
        ap = voc_detection_ap(detections, truth, len(class_names), ap_rule=ap_rule)
        metrics[f"det_map{suffix}"] = 100 * float(np.nanmean(ap))
        metrics[f"per_class_ap{suffix}"] = {name: 100 * float(v) for name, v in zip(class_names, ap)}
    return metrics


class VocDetection(RunTask):
    """Table V's runs (registered in `engine.runner.TASK_MODULES`): `build_detection_task` with the schedule's
    R-FCN settings, `train_detection` on the images its method learns from, `predict_detections`,
    `evaluate_detections`."""

    channels_last = False

    def build(self, config: RunConfig, num_classes: int, schedule: Schedule, info: Dist) -> DetectionTask:
        return build_detection_task(config, num_classes, rfcn_settings(config.schedule, schedule), info)

    def train(self, run: Run, model: DetectionTask, config: RunConfig, schedule: Schedule, samples: list[Sample],
              device: torch.device, options: EngineOptions, info: Dist) -> None:
        samples = training_samples(model, samples)
        if info.is_main:
            box_indices, image_level_indices = stream_indices(model, samples)
            extra = (f" + {image_level_per_batch(schedule)} of the {len(image_level_indices)} image-level images"
                     if image_level_indices else "")
            run.log(f"{len(samples)} training images ({len(box_indices)} with boxes); each batch "
                    f"{schedule.batch_size} box images{extra}; R-FCN settings "
                    f"{rfcn_settings(config.schedule, schedule)}")
        train_detection(run, model, config, schedule, samples, device, options, info)

    def predict(self, model: DetectionTask, config: RunConfig, samples: list[Sample], schedule: Schedule,
                device: torch.device, options: EngineOptions, info: Dist) -> dict[str, np.ndarray] | None:
        return predict_detections(model, samples, device, options.workers, info, config.precision)

    def evaluate(self, predictions: dict[str, np.ndarray], data: RunData) -> dict[str, object]:
        return evaluate_detections(predictions, data.test, data.classes)

    def summary(self, metrics: dict[str, object]) -> str:
        return f"det_map {metrics['det_map']:.4g}, det_map_py_faster_rcnn {metrics['det_map_py_faster_rcnn']:.4g}"


TASK = VocDetection()
