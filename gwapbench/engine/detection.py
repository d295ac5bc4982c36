"""Table V runs: R-FCN (with its weak branches) trained, predicted and evaluated through the run store.

- `DetectionTask` adapts `reference_models.rfcn.RFCN` to the loop's `model(batch, images)`.
- Training images: every image for the weak methods (boxes on the proportion, image labels on
  all); for plain `rfcn`, which learns nothing from image labels, only the images with boxes.
- `predict_detections`: per test image the detections (boxes as VOC 1-based inclusive corners,
  the inverse of `file_boxes_to_tensor`: x1 + 1, y1 + 1, x2, y2; sub-pixel boxes one pixel wide), and for the first
  `STORED_WEIGHT_MAPS` images the class-specific weight maps alpha_c (float16, Fig. 9).
- `evaluate_detections`: VOC07 11-point detection AP (`voc_detection_ap`, devkit semantics with exact
  thresholds, IoU >= 0.5, as Table I) and the same detections under py-faster-rcnn's `voc_eval`
  (`convention="py_faster_rcnn"`: IoU > 0.5, its float thresholds), the convention of the paper's
  numbers; mAP in percent over the classes with non-difficult GT.
- `execute_detection`: train (resuming) -> predictions.npz -> metrics.json, each stage only when
  its file is missing (as `engine.runner.execute`). One process (no torchrun for Table V yet).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from gwapbench.config import RunConfig
from gwapbench.data.sample import Sample
from gwapbench.engine.batches import TrainBatches, shard_keys
from gwapbench.engine.distributed import Dist
from gwapbench.engine.detection_data import DetectionBatch, DetectionDataset, collate_detection, has_training_boxes
from gwapbench.engine.loop import autocast
from gwapbench.engine.inputs import EngineOptions
from gwapbench.engine.runner import resolve_device, resume_and_train
from gwapbench.engine.schedules import Schedule
from gwapbench.engine.store import Run
from gwapbench.errors import InputError
from gwapbench.metrics import voc_detection_ap
from reference_models.rfcn import RFCN, RFCNConfig, build_rfcn

STORED_WEIGHT_MAPS = 16  # test images whose weight maps predictions.npz keeps (Fig. 9)
PREDICT_BATCH = 4


class DetectionTask(nn.Module):
    """`forward(batch, images)` -> R-FCN's weighted losses; `detect(images)` -> R-FCN's detections.

    R-FCN draws random numbers in training (the RPN's and the head's balanced samplers). Each training
    step draws them from torch's generator seeded with SeedSequence([seed, step]) (the global state is
    restored afterwards); `step` is a buffer, saved in checkpoints, so a resumed run draws what an
    uninterrupted one would.
    """

    def __init__(self, model: RFCN, seed: int = 0) -> None:
        super().__init__()
        self.model = model
        self.seed = seed
        self.register_buffer("step", torch.zeros((), dtype=torch.int64))

    def forward(self, batch: DetectionBatch, images: list[Tensor]) -> dict[str, Tensor]:
        device = images[0].device
        targets = [{key: value.to(device) for key, value in target.items()} for target in batch.targets]
        step_seed = int(np.random.SeedSequence([self.seed, int(self.step)]).generate_state(1)[0])
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(step_seed)
            losses = self.model(images, targets)
        self.step += 1
        return losses

    @torch.no_grad()
    def detect(self, images: list[Tensor]) -> list[dict[str, Tensor]]:
        return self.model(images)


def build_detection_task(config: RunConfig, num_classes: int, head: dict) -> DetectionTask:
    model = build_rfcn(config.method, num_classes, backbone=config.net, weights=config.weights,
                       config=RFCNConfig(**head))
    return DetectionTask(model, config.seed)


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


def train_detection(run: Run, task: DetectionTask, config: RunConfig, schedule: Schedule, samples: list[Sample],
                    device: torch.device, options: EngineOptions) -> None:
    """Train to `schedule.iterations` on `samples`, continuing from the run's checkpoint."""
    if len(samples) < schedule.batch_size:
        raise InputError(f"{config.method}: {len(samples)} training images, fewer than one batch of "
                         f"{schedule.batch_size} (lower batch_size with --override batch_size=N)")

    def batches_from(start: int) -> DataLoader:
        sampler = TrainBatches(len(samples), schedule.batch_size, config.seed, schedule.flip_probability, start,
                               schedule.iterations)
        return _loader(DetectionDataset(samples), sampler, options.workers)

    resume_and_train(run, task, schedule, device, options, Dist(), batches_from, _prepare(device))


def file_corners(boxes: Tensor) -> np.ndarray:
    """0-based continuous (x1, y1, x2, y2) -> VOC 1-based inclusive corners (x1 + 1, y1 + 1, x2, y2); a box
    thinner than a pixel (x2 - x1 < 1) would get x2 < x1 there and keeps x2 = x1 (one pixel wide)."""
    corners = boxes.double().cpu().numpy() + np.array([1.0, 1.0, 0.0, 0.0])
    corners[:, 2:] = np.maximum(corners[:, 2:], corners[:, :2])
    return corners.astype(np.float32)


@torch.no_grad()
def predict_detections(task: DetectionTask, samples: Sequence[Sample], device: torch.device,
                       workers: int) -> dict[str, np.ndarray]:
    """predictions.npz content: image_ids, det_image (M,), det_boxes (M, 4), det_scores, det_labels and
    weight_map_<i> (C, h, w) float16 for the first STORED_WEIGHT_MAPS images of gwap methods."""
    task.eval()
    dataset = DetectionDataset(samples)
    keys = shard_keys(len(samples))
    loader = _loader(dataset, [keys[i : i + PREDICT_BATCH] for i in range(0, len(keys), PREDICT_BATCH)], workers)
    prepare = _prepare(device)
    columns: dict[str, list[np.ndarray]] = {"det_image": [], "det_boxes": [], "det_scores": [], "det_labels": []}
    maps: dict[str, np.ndarray] = {}
    for batch in loader:
        images = prepare(batch)
        with autocast(device):
            detections = task.detect(images)
        for index, detection in zip(batch.indices.tolist(), detections):
            columns["det_image"].append(np.full(len(detection["scores"]), index, dtype=np.int64))
            columns["det_boxes"].append(file_corners(detection["boxes"]))
            columns["det_scores"].append(detection["scores"].float().cpu().numpy())
            columns["det_labels"].append(detection["labels"].cpu().numpy().astype(np.int64))
            if "weight_maps" in detection and index < STORED_WEIGHT_MAPS:
                maps[f"weight_map_{index}"] = detection["weight_maps"].float().cpu().numpy().astype(np.float16)
    arrays = {name: np.concatenate(parts) if parts else np.zeros((0, 4) if name == "det_boxes" else 0)
              for name, parts in columns.items()}
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
    for suffix, convention in (("", "exact"), ("_py_faster_rcnn", "py_faster_rcnn")):
        ap = voc_detection_ap(detections, truth, len(class_names), convention=convention)
        metrics[f"det_map{suffix}"] = 100 * float(np.nanmean(ap))
        metrics[f"per_class_ap{suffix}"] = {name: 100 * float(v) for name, v in zip(class_names, ap)}
    return metrics


def execute_detection(run: Run, config: RunConfig, schedule: Schedule, head: dict, train: list[Sample],
                      test: list[Sample], classes: Sequence[str], options: EngineOptions) -> dict[str, object]:
    """Bring a Table V run to finished; return its metrics."""
    if run.is_finished:
        return run.metrics()
    started = time.perf_counter()
    if not run.predictions_path.is_file():
        device = resolve_device(options.device)
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        torch.manual_seed(config.seed)
        task = build_detection_task(config, len(classes), head).to(device)
        samples = training_samples(task, train)
        run.log(f"{len(samples)} training images ({sum(map(has_training_boxes, samples))} with boxes), "
                f"R-FCN settings {head}")
        train_detection(run, task, config, schedule, samples, device, options)
        run.save_predictions(predict_detections(task, test, device, options.workers))
        run.log(f"predicted {len(test)} test images")
    metrics = evaluate_detections(run.load_predictions(), test, classes)
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    run.save_metrics(metrics)
    run.log(f"evaluated: det_map {metrics['det_map']:.4g}, "
            f"det_map_py_faster_rcnn {metrics['det_map_py_faster_rcnn']:.4g}")
    return metrics
