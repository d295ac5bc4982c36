"""The training loop: one function for every model, hooks for progress, logging and checkpoints.

`model(batch, images)` returns a dict of named losses (torchvision's convention), so the loop
never branches on the model type; their sum is minimized with the optimizer at the schedule's
learning rate for the iteration, under the run's precision (engine/precision.py: an autocast for
bf16 and fp16, fp16's loss scaled by a gradient scaler). Hooks see each finished iteration
(detectron2's HookBase, cut down to the two events this loop has).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn
from tqdm import tqdm

from gwapbench.engine.batches import Batch
from gwapbench.engine.precision import autocast, loss_scaler
from gwapbench.engine.schedules import Schedule


class Hook:
    """Called after each iteration (1-based count of finished iterations) and at the end of training."""

    def after_step(self, iteration: int, losses: dict[str, float], images: int) -> None:
        pass

    def after_train(self, iteration: int) -> None:
        pass


def train(
    model: nn.Module,
    batches: Iterable[Batch],
    optimizer: torch.optim.Optimizer,
    schedule: Schedule,
    start: int,
    prepare: Callable[[Batch], Tensor],
    hooks: Sequence[Hook] = (),
    precision: str = "fp32",
    scaler: torch.amp.GradScaler | None = None,
) -> int:
    """Run iterations `start`..`schedule.iterations - 1` over `batches`; return the iteration count reached.
    precision: "fp32", "bf16" or "fp16"; scaler: fp16's gradient scaler (a fresh `loss_scaler` when None;
    pass the run's to keep its scale across checkpoints)."""
    model.train()
    iteration = start
    device = next(model.parameters()).device
    scaler = loss_scaler(precision, device) if scaler is None else scaler
    for batch in batches:
        if iteration >= schedule.iterations:
            break
        for group in optimizer.param_groups:
            group["lr"] = schedule.lr_at(iteration)
        images = prepare(batch)
        with autocast(precision, device):
            losses = model(batch, images)
        total = sum(losses.values())
        if not torch.isfinite(total):
            raise FloatingPointError(f"loss is {float(total)} at iteration {iteration}; lower the learning rate")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.step(optimizer)  # skipped by fp16's scaler when a gradient overflowed
        scaler.update()
        iteration += 1
        values = {name: float(value.detach()) for name, value in losses.items()}
        for hook in hooks:
            hook.after_step(iteration, values, len(batch.indices))
    for hook in hooks:
        hook.after_train(iteration)
    return iteration


class ProgressHook(Hook):
    """A tqdm bar over the schedule's iterations: loss, images/s and (tqdm's) ETA."""

    def __init__(self, description: str, start: int, total: int, world_size: int = 1, enabled: bool = True) -> None:
        self.bar = tqdm(total=total, initial=start, desc=description, unit="it", disable=not enabled, leave=False,
                        dynamic_ncols=True)
        self.world_size = world_size
        self.started = time.perf_counter()
        self.images = 0

    def after_step(self, iteration: int, losses: dict[str, float], images: int) -> None:
        self.images += images * self.world_size
        rate = self.images / max(time.perf_counter() - self.started, 1e-9)
        self.bar.set_postfix(loss=f"{sum(losses.values()):.4f}", img_s=f"{rate:.1f}", refresh=False)
        self.bar.update(1)

    def after_train(self, iteration: int) -> None:
        self.bar.close()

    @property
    def images_per_second(self) -> float:
        return self.images / max(time.perf_counter() - self.started, 1e-9)


class PeriodicHook(Hook):
    """Calls `action(iteration, mean_losses)` every `every` iterations and once at the end (unless just
    called); mean_losses averages each named loss over the iterations since the last call."""

    def __init__(self, every: int, action: Callable[[int, dict[str, float]], None]) -> None:
        self.every = every
        self.action = action
        self.last = -1
        self.sums: dict[str, float] = {}
        self.count = 0

    def _call(self, iteration: int) -> None:
        self.action(iteration, {name: total / max(self.count, 1) for name, total in self.sums.items()})
        self.last, self.sums, self.count = iteration, {}, 0

    def after_step(self, iteration: int, losses: dict[str, float], images: int) -> None:
        for name, value in losses.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
        self.count += 1
        if iteration % self.every == 0:
            self._call(iteration)

    def after_train(self, iteration: int) -> None:
        if iteration != self.last:
            self._call(iteration)
