"""Carry one run through the store: train (resuming from its checkpoint), predict, evaluate.

Each stage runs only when its file is missing: a finished run (metrics.json present) costs a
file read; predictions without metrics are evaluated again without the model. Under torchrun
every rank trains (DistributedDataParallel) and predicts its share; rank 0 writes every file.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from gwapbench.atomic import write_bytes_atomic
from gwapbench.config import ILSVRC_TASK, RunConfig
from gwapbench.data.sample import Sample
from gwapbench.engine import distributed
from gwapbench.engine.batches import Batch, ImageLabelDataset, Normalizer, TrainBatches, collate, shard_keys
from gwapbench.engine.evaluate import evaluate_predictions
from gwapbench.engine.ilsvrc_evaluate import evaluate_ilsvrc
from gwapbench.engine.inputs import EngineOptions, RunData
from gwapbench.engine.loop import PeriodicHook, ProgressHook, train
from gwapbench.engine.precision import loss_scaler
from gwapbench.engine.predict import predict
from gwapbench.engine.schedules import Schedule
from gwapbench.engine.store import Run
from gwapbench.errors import InputError

LOG_EVERY = 50


def resolve_device(spec: str, info: distributed.Dist | None = None) -> torch.device:
    """"auto" = CUDA when available; under torchrun each rank takes the GPU of its LOCAL_RANK."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(spec)
    except RuntimeError as err:
        raise InputError(f"--device {spec!r}: expected auto, cpu, cuda or cuda:INDEX") from err
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"--device {spec!r}: expected auto, cpu, cuda or cuda:INDEX")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"--device {spec}: CUDA is not available on this machine (use --device cpu)")
        if info is not None and info.active and device.index is None:
            device = torch.device("cuda", info.local_rank)
    return device


def _preparer(task: nn.Module, device: torch.device):
    normalize = Normalizer(task.mean, task.std)
    memory_format = torch.channels_last if device.type == "cuda" else torch.contiguous_format

    def prepare(batch: Batch | InputError) -> torch.Tensor:
        if isinstance(batch, InputError):
            raise batch
        return normalize(batch.images.to(device, non_blocking=True)).contiguous(memory_format=memory_format)

    return prepare


def _loader(dataset: ImageLabelDataset, batch_sampler, workers: int) -> DataLoader:
    workers = 0 if dataset.cache is not None else workers  # cached images need no worker processes
    return DataLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate, num_workers=workers,
                      pin_memory=torch.cuda.is_available())


def save_checkpoint(run: Run, task: nn.Module, optimizer: torch.optim.Optimizer, iteration: int,
                    scaler: torch.amp.GradScaler | None = None) -> None:
    """model, optimizer, iteration and (fp16 runs) the gradient scaler's state."""
    state = {"model": task.state_dict(), "optimizer": optimizer.state_dict(), "iteration": iteration}
    if scaler is not None and scaler.is_enabled():
        state["scaler"] = scaler.state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes_atomic(run.checkpoint_path, buffer.getvalue())


def train_run(run: Run, task: nn.Module, config: RunConfig, schedule: Schedule, samples: list[Sample],
              device: torch.device, options: EngineOptions, info: distributed.Dist) -> None:
    """Train `task` to `schedule.iterations`, continuing from the run's checkpoint if there is one."""
    def batches_from(start: int) -> DataLoader:
        dataset = ImageLabelDataset(samples, schedule.image_size)
        sampler = TrainBatches(len(samples), schedule.batch_size, config.seed, schedule.flip_probability, start,
                               schedule.iterations, info.rank, info.world_size)
        return _loader(dataset, sampler, options.workers)

    resume_and_train(run, task, schedule, device, options, info, batches_from, _preparer(task, device),
                     precision=config.precision)


def resume_and_train(run: Run, task: nn.Module, schedule: Schedule, device: torch.device, options: EngineOptions,
                     info: distributed.Dist, batches_from: Callable[[int], Iterable], prepare: Callable,
                     find_unused_parameters: bool = False, precision: str = "fp32") -> None:
    """SGD on `batches_from(start)` from the run's checkpoint (iteration 0 without one) to the schedule's end,
    with progress, checkpoint and log hooks; any task whose `forward(batch, prepared)` returns named losses.
    find_unused_parameters: for DDP, when some steps leave parameters without gradient on some rank;
    precision: the run's (engine/precision.py), fp16's gradient scaler kept in the checkpoint."""
    optimizer = torch.optim.SGD(task.parameters(), lr=schedule.lr, momentum=schedule.momentum,
                                weight_decay=schedule.weight_decay)
    scaler = loss_scaler(precision, device)
    start = 0
    if run.checkpoint_path.is_file():
        state = run.load_checkpoint(device)
        try:
            task.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            if scaler.is_enabled() and "scaler" in state:
                scaler.load_state_dict(state["scaler"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise run.damaged(run.checkpoint_path, f"does not fit the run's model: {err}".splitlines()[0]) from err
        start = state["iteration"]
    if start >= schedule.iterations:
        return
    batches = batches_from(start)  # before the progress bar: a cached dataset decodes (and fails) here
    model = DistributedDataParallel(task, find_unused_parameters=find_unused_parameters) if info.active else task
    progress = ProgressHook(f"train {run.id}", start, schedule.iterations, info.world_size,
                            enabled=options.progress and info.is_main)
    hooks = [progress]
    if info.is_main:
        hooks += [
            PeriodicHook(schedule.checkpoint_every, lambda it, _: save_checkpoint(run, task, optimizer, it, scaler)),
            PeriodicHook(LOG_EVERY, lambda it, losses: run.log(
                f"iteration {it}: " + ", ".join(f"{k} {v:.4f}" for k, v in losses.items()))),
        ]
    run.log(f"training from iteration {start} to {schedule.iterations} on {device} in {precision}"
            + (f" with {info.world_size} processes" if info.active else ""))
    started = time.perf_counter()
    train(model, batches, optimizer, schedule, start, prepare, hooks, precision, scaler)
    run.log(f"trained in {time.perf_counter() - started:.1f} s ({progress.images_per_second:.1f} images/s)")


def execute(run: Run, config: RunConfig, schedule: Schedule, data: RunData, options: EngineOptions,
            info: distributed.Dist = distributed.Dist()) -> dict[str, object] | None:
    """Bring `run` to finished; return its metrics on rank 0 (None on other ranks)."""
    return run_stages(run, info, lambda: _train_predict_evaluate(run, config, schedule, data, options, info))


def run_stages(run: Run, info: distributed.Dist,
               stages: Callable[[], dict[str, object] | None]) -> dict[str, object] | None:
    """A finished run's metrics (None on ranks other than 0), else `stages()` with rank 0 holding the run's lock."""
    if run.is_finished:
        return run.metrics() if info.is_main else None
    with run.lock() if info.is_main else contextlib.nullcontext():
        if run.is_finished and not info.active:  # finished by another process while we checked
            return run.metrics()
        return stages()


def _train_predict_evaluate(run: Run, config: RunConfig, schedule: Schedule, data: RunData,
                            options: EngineOptions, info: distributed.Dist) -> dict[str, object] | None:
    device = resolve_device(options.device, info)

    def train_and_predict() -> dict[str, np.ndarray] | None:
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        torch.manual_seed(config.seed)
        task = build_run_task(config, len(data.classes), schedule.image_size)
        task = task.to(device, memory_format=torch.channels_last if device.type == "cuda" else torch.preserve_format)
        if task.trainable:
            train_run(run, task, config, schedule, data.train, device, options, info)
        return predict_samples(task, data.test, schedule.image_size, schedule.batch_size, device, options, info,
                               precision=config.precision)

    return predict_then_evaluate(run, info, len(data.test), train_and_predict,
                                 lambda predictions: evaluate_run(config, predictions, data),
                                 lambda metrics: ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                           for k, v in metrics.items() if not isinstance(v, dict)))


def predict_then_evaluate(run: Run, info: distributed.Dist, test_images: int,
                          predict: Callable[[], dict[str, np.ndarray] | None],
                          evaluate: Callable[[dict[str, np.ndarray]], dict[str, object]],
                          summary: Callable[[dict[str, object]], str]) -> dict[str, object] | None:
    """`predict()` on every rank when predictions.npz is missing (rank 0 saves what it returns), then on rank 0
    `evaluate` the stored predictions into metrics.json with the seconds taken; None on other ranks."""
    started = time.perf_counter()
    if not run.predictions_path.is_file():
        predictions = predict()
        if info.is_main:
            run.save_predictions(predictions)
            run.log(f"predicted {test_images} test images")
    distributed.barrier(info)
    if not info.is_main:
        return None
    metrics = evaluate(run.load_predictions())
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    run.save_metrics(metrics)
    run.log("evaluated: " + summary(metrics))
    return metrics


def predict_samples(task: torch.nn.Module, samples: list[Sample], image_size: int, batch_size: int,
                    device: torch.device, options: EngineOptions, info: distributed.Dist,
                    map_classes: np.ndarray | None = None, precision: str = "fp32") -> dict[str, np.ndarray] | None:
    """`predict` over `samples` resized to `image_size` (this process's share; gathered on rank 0) in the run's
    `precision`."""
    dataset = ImageLabelDataset(samples, image_size)
    keys = batched(shard_keys(len(samples), info.rank, info.world_size), batch_size)
    return predict(task, _loader(dataset, keys, options.workers), _preparer(task, device),
                   [s.image_id for s in samples], batch_size, info, map_classes, precision)


def build_run_task(config: RunConfig, num_classes: int, image_size: int) -> torch.nn.Module:
    """The model of a run, by its task: multi-label (VOC) or single-label / pretrained (ILSVRC).

    Model modules are imported here, not at the top: importing torchvision's model zoo takes seconds,
    and a finished table re-renders without any model."""
    from gwapbench.engine.ilsvrc_models import build_ilsvrc_task
    from gwapbench.engine.models import build_task

    if config.task == ILSVRC_TASK:
        return build_ilsvrc_task(config.net, config.method, num_classes, image_size, config.weights,
                                 **dict(config.model))
    return build_task(config.net, config.method, num_classes, image_size, config.weights)


def evaluate_run(config: RunConfig, predictions: dict, data: RunData) -> dict[str, object]:
    """The run's metrics.json content, by its task."""
    if config.task == ILSVRC_TASK:
        return evaluate_ilsvrc(predictions, data.test)
    return evaluate_predictions(predictions, data.test, data.classes)


def batched(keys: list, size: int) -> list[list]:
    """`keys` in consecutive lists of `size` (the last may be shorter)."""
    return [keys[i : i + size] for i in range(0, len(keys), size)]


def check_weights(net: str, weights: object) -> None:
    """Resolve the backbone's weights once, so that a missing file is reported before any run starts."""
    from reference_models.backbones import build_backbone

    build_backbone(net, weights)
