"""Prediction: a trained model over the test images -> stored arrays (never metrics).

Stored per test image (`predictions.npz`): `image_ids`, `logits` (C,) float32 and `maps`
(K, h, w) float16 at feature-map resolution, K = len(`map_names`) (see gwapbench.engine.models).
For VOC07 test with GoogLeNet at 600x600 (38x38 maps, K = 3 for CAM heads) that is about 44 MB.

Every forward pass has the same shape: a short batch (the last of a process's share) is padded to
`batch_size` with copies of its last image, and the copies' outputs are dropped. CPU kernels (oneDNN)
choose their blocking by the batch size, so without this an image's logits would depend in the last
bits on how many images shared its batch, and 1 and N torchrun processes (whose shares end in batches
of other sizes) would store different numbers for the same checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch import Tensor

from gwapbench.engine.batches import Batch
from gwapbench.engine.distributed import Dist, gather_rows
from gwapbench.engine.precision import autocast


def pad_batch(batch: Batch, size: int) -> Batch:
    """`batch` with its last image repeated until it holds `size` images (unchanged when it holds as many)."""
    missing = size - len(batch.indices)
    if missing <= 0:
        return batch

    def repeat_last(rows: Tensor) -> Tensor:
        return torch.cat([rows, rows[-1:].expand(missing, *rows.shape[1:])])

    return Batch(repeat_last(batch.images), repeat_last(batch.targets), repeat_last(batch.label_mask),
                 batch.boxes + [batch.boxes[-1]] * missing, repeat_last(batch.indices))


@torch.no_grad()
def predict(
    task: torch.nn.Module,  # a MultiLabelTask or any task with its num_classes, map_names, feature_size, predict()
    batches: Iterable[Batch],
    prepare: Callable[[Batch], Tensor],
    image_ids: list[str],
    batch_size: int,
    info: Dist = Dist(),
    map_classes: np.ndarray | None = None,
    precision: str = "fp32",
) -> dict[str, np.ndarray] | None:
    """Logits and maps of this process's images, gathered and ordered on rank 0 (None on other ranks);
    every forward pass takes `batch_size` images (module doc).

    map_classes: (N, k) classes whose maps to store instead of the model's own ranking (multi-scale
    maps follow one scale's ranking; tasks that take `map_classes` only); precision: the run's ("fp32", "bf16" or
    "fp16": the forward passes under its autocast; stored arrays are float32 logits and float16 maps either way)."""
    task.eval()
    device = next(task.parameters()).device
    logits, maps, order = [], [], []
    for batch in batches:
        real = len(batch.indices)
        batch = pad_batch(batch, batch_size)
        images = prepare(batch)
        with autocast(precision, device):
            extra = () if map_classes is None else (torch.from_numpy(map_classes[batch.indices.numpy()]),)
            batch_logits, batch_maps = task.predict(batch, images, *extra)
        logits.append(batch_logits[:real].float().cpu().numpy())
        maps.append(batch_maps[:real].float().cpu().numpy().astype(np.float16))
        order.append(batch.indices[:real].numpy())
    num_classes = task.num_classes
    local = {
        "logits": np.concatenate(logits) if logits else np.zeros((0, num_classes), np.float32),
        "maps": np.concatenate(maps) if maps else np.zeros((0, len(task.map_names), *task.feature_size), np.float16),
    }
    gathered = gather_rows(info, local, np.concatenate(order) if order else np.zeros(0, np.int64))
    if gathered is None:
        return None
    if len(gathered["logits"]) != len(image_ids):
        raise RuntimeError(f"predicted {len(gathered['logits'])} images, expected {len(image_ids)}")
    return {**gathered, "image_ids": np.array(image_ids), "map_names": np.array(task.map_names)}
