"""Carry runs through the store: train (resuming from its checkpoint), predict, evaluate.

One runner for every task: a run's `RunConfig.task` names a registered task (`TASK_MODULES`: VOC
multi-label classification, ILSVRC single-label classification, VOC detection) whose `TASK` supplies
build, train, predict and evaluate (`RunTask` holds the shared parts); `execute` never
branches on the task. `start` resolves the device and joins torchrun once per command;
`execute_runs` brings a table's planned runs to finished.

Each stage runs only when its file is missing: a finished run (metrics.json present) costs a
file read; predictions without metrics are evaluated again without the model. Under torchrun
every rank trains (DistributedDataParallel) and predicts its share; rank 0 writes every file.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from importlib import import_module
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from gwapbench.atomic import write_bytes_atomic
from gwapbench.config import DETECTION_TASK, ILSVRC_TASK, VOC_TASK, RunConfig
from gwapbench.data.sample import Sample
from gwapbench.engine import distributed
from gwapbench.engine.batches import Batch, ImageLabelDataset, Normalizer, TrainBatches, collate, shard_keys
from gwapbench.engine.inputs import EngineOptions, PlannedRun, RunData
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


class RunTask:
    """What a registered task supplies to `execute`: `build` (the model), `train`, `predict`, `evaluate`, a log
    `summary` and `check_weights`. These defaults are the parts VOC and ILSVRC classification share: training
    on resized images with their labels (`train_run`, the loss is the model's), prediction of logits and maps
    (`predict_samples`); a subclass supplies `build` and `evaluate`."""

    channels_last = True  # on CUDA the model runs in channels_last memory format

    def build(self, config: RunConfig, num_classes: int, schedule: Schedule, info: distributed.Dist) -> nn.Module:
        raise NotImplementedError

    def evaluate(self, predictions: dict[str, np.ndarray], data: RunData) -> dict[str, object]:
        raise NotImplementedError

    def weights_key(self, config: RunConfig) -> tuple[object, ...]:
        """What `check_weights` depends on: runs with one key need one check (a table's methods share a backbone)."""
        return (config.task, config.net, config.weights)

    def check_weights(self, config: RunConfig) -> None:
        """Resolve the run's backbone weights (never building the model), so that a missing file is reported
        before any run starts."""
        from reference_models.backbones import backbone_state

        backbone_state(config.net, config.weights)

    def train(self, run: Run, model: nn.Module, config: RunConfig, schedule: Schedule, samples: list[Sample],
              device: torch.device, options: EngineOptions, info: distributed.Dist) -> None:
        train_run(run, model, config, schedule, samples, device, options, info)

    def predict(self, model: nn.Module, config: RunConfig, samples: list[Sample], schedule: Schedule,
                device: torch.device, options: EngineOptions, info: distributed.Dist) -> dict[str, np.ndarray] | None:
        return predict_samples(model, samples, schedule.image_size, schedule.batch_size, device, options, info,
                               precision=config.precision)

    def summary(self, metrics: dict[str, object]) -> str:
        return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                         for k, v in metrics.items() if not isinstance(v, dict))


# The registered tasks: RunConfig.task -> the module whose TASK supplies build, train, predict and evaluate,
# imported on first use (the ILSVRC and detection models pull in torchvision's model zoo: seconds).
TASK_MODULES = {VOC_TASK: "gwapbench.engine.models", ILSVRC_TASK: "gwapbench.engine.ilsvrc_models",
                DETECTION_TASK: "gwapbench.engine.detection"}


def task_of(config: RunConfig) -> RunTask:
    """The registered task of a run."""
    if config.task not in TASK_MODULES:
        raise InputError(f"task {config.task!r}: choose one of {', '.join(TASK_MODULES)}")
    return import_module(TASK_MODULES[config.task]).TASK


def build_model(config: RunConfig, num_classes: int, schedule: Schedule, device: torch.device,
                info: distributed.Dist = distributed.Dist()) -> nn.Module:
    """The run's model on `device` (channels_last on CUDA where its task asks for it)."""
    task = task_of(config)
    cuda_format = torch.channels_last if task.channels_last else torch.preserve_format
    model = task.build(config, num_classes, schedule, info)
    return model.to(device, memory_format=cuda_format if device.type == "cuda" else torch.preserve_format)


def execute(run: Run, config: RunConfig, schedule: Schedule, data: RunData, options: EngineOptions,
            info: distributed.Dist = distributed.Dist()) -> dict[str, object] | None:
    """Bring `run` to finished through its task (seed, build, train, predict, evaluate; each stage only when its
    file is missing); its metrics on rank 0 (None on other ranks). `options.device` is the command's device,
    resolved once (`start`)."""
    task = task_of(config)

    def train_and_predict() -> tuple[dict[str, np.ndarray] | None, float]:
        device = torch.device(options.device)
        if device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        torch.manual_seed(config.seed)
        model = build_model(config, len(data.classes), schedule, device, info)
        if model.trainable:
            task.train(run, model, config, schedule, data.train, device, options, info)
        predicting = time.perf_counter()
        return task.predict(model, config, data.test, schedule, device, options, info), predicting

    return run_stages(run, info, lambda: predict_then_evaluate(
        run, info, len(data.test), train_and_predict, lambda predictions: task.evaluate(predictions, data),
        task.summary))


def execute_runs(runs: Sequence[PlannedRun], schedule: Schedule, options: EngineOptions, info: distributed.Dist,
                 on_run: Callable[[str], None], describe: Callable[[PlannedRun, dict[str, Any]], str]
                 ) -> dict[str, Any]:
    """Create the runs (rank 0), check the weights of the unfinished ones before any training, and bring every
    run to finished; metrics by run id (None on ranks other than 0); one `on_run` line
    "run <id>: <describe(planned, metrics)>" for each run finished here."""
    if info.is_main:
        for planned in runs:
            planned.run.create(planned.config, planned.fingerprint, schedule)
    distributed.barrier(info)
    unfinished = {task_of(p.config).weights_key(p.config): p.config for p in runs if not p.run.is_finished}
    for config in unfinished.values():
        task_of(config).check_weights(config)
    metrics = {}
    for planned in runs:
        finished = planned.run.is_finished
        metrics[planned.run.id] = execute(planned.run, planned.config, schedule, planned.data, options, info)
        if info.is_main and not finished:
            on_run(f"run {planned.run.id}: {describe(planned, metrics[planned.run.id])}")
    return metrics


def start(options: EngineOptions) -> tuple[EngineOptions, distributed.Dist]:
    """Once per command: the device resolved (`resolve_device`; under torchrun each rank's GPU) and torchrun's
    process group joined; `options` with the resolved device."""
    info = distributed.init(resolve_device(options.device))
    return replace(options, device=str(resolve_device(options.device, info))), info


def run_stages(run: Run, info: distributed.Dist,
               stages: Callable[[], dict[str, object] | None]) -> dict[str, object] | None:
    """A finished run's metrics (None on ranks other than 0), else `stages()` with rank 0 holding the run's lock."""
    if run.is_finished:
        return run.metrics() if info.is_main else None
    with run.lock() if info.is_main else contextlib.nullcontext():
        if run.is_finished and not info.active:  # finished by another process while we checked
            return run.metrics()
        return stages()


def predict_then_evaluate(run: Run, info: distributed.Dist, test_images: int,
                          predict: Callable[[], tuple[dict[str, np.ndarray] | None, float]],
                          evaluate: Callable[[dict[str, np.ndarray]], dict[str, object]],
                          summary: Callable[[dict[str, object]], str]) -> dict[str, object] | None:
    """`predict()` on every rank when predictions.npz is missing (rank 0 saves the predictions it returns with
    the `time.perf_counter()` their prediction started: `predict` may train first), then on rank 0 `evaluate`
    the stored predictions into metrics.json with `seconds`, the prediction and evaluation seconds (training
    excluded); None on other ranks."""
    started = time.perf_counter()
    if not run.predictions_path.is_file():
        predictions, started = predict()
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


def batched(keys: list, size: int) -> list[list]:
    """`keys` in consecutive lists of `size` (the last may be shorter)."""
    return [keys[i : i + size] for i in range(0, len(keys), size)]
