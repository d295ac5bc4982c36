"""One code path for 1 process and for `torchrun --nproc_per_node N`.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK; `init()` then joins the process group (NCCL on
CUDA, gloo on CPU). Without them every helper here is a no-op for a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from gwapbench.engine.inputs import launched_world_size


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def init(device: torch.device) -> Dist:
    """Join torchrun's process group once (NCCL for CUDA devices, gloo otherwise); single process if absent.
    On CUDA each rank first makes its GPU (LOCAL_RANK's, as `resolve_device`) the current device: NCCL's object
    collectives (broadcast_object_list, gather_object) and barrier run on the current device, cuda:0 otherwise."""
    if launched_world_size() == 1:
        return Dist()
    if device.type == "cuda":
        torch.cuda.set_device(device.index if device.index is not None else int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def barrier(info: Dist) -> None:
    if info.active:
        dist.barrier()


def broadcast(info: Dist, value: Any) -> Any:
    """Rank 0's `value` on every rank (e.g. a decision only rank 0 can take)."""
    if not info.active:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(info: Dist, items: list[Any]) -> list[Any] | None:
    """Every rank's picklable `items` concatenated on rank 0, in rank order; None on the other ranks."""
    if not info.active:
        return list(items)
    parts: list[Any] = [None] * info.world_size if info.is_main else []
    dist.gather_object(items, parts if info.is_main else None, dst=0)
    return [item for part in parts for item in part] if info.is_main else None


def gather_rows(info: Dist, arrays: dict[str, np.ndarray], order: np.ndarray) -> dict[str, np.ndarray] | None:
    """Concatenate each rank's arrays on rank 0, rows sorted by `order` (the global row index); None elsewhere."""
    parts = gather_objects(info, [(arrays, order)])
    if parts is None:
        return None
    permutation = np.argsort(np.concatenate([part[1] for part in parts]), kind="stable")
    return {key: np.concatenate([part[0][key] for part in parts])[permutation] for key in arrays}


def all_sum(info: Dist, value: float, device: torch.device) -> float:
    """The sum of `value` over the ranks (`value` itself in one process)."""
    if not info.active:
        return value
    total = torch.tensor(float(value), dtype=torch.float64, device=device)
    dist.all_reduce(total)
    return float(total)
