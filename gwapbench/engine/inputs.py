"""Plain records the engine takes, importable without torch (a finished table re-renders without it).

`EngineOptions`: how to run (device, loader workers, progress bars); `RunData`: what a run reads;
`PlannedRun`: one run a table planned (its config, store folder, data fingerprint and data, and the
table's label for it); `launched_world_size()`: the number of processes torchrun started (its
WORLD_SIZE; 1 without torchrun).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gwapbench.config import RunConfig
from gwapbench.data.sample import Sample

if TYPE_CHECKING:
    from gwapbench.engine.store import Run


@dataclass(frozen=True)
class EngineOptions:
    """How to run (not what): device "auto" | "cpu" | "cuda[:i]", loader workers, progress bars, and the
    precision resolved for the device (engine/precision.py), which the tables copy into each RunConfig."""

    device: str = "auto"
    workers: int = 2
    progress: bool = True
    precision: str = "fp32"


@dataclass
class RunData:
    """The samples a run reads and its class names."""

    train: list[Sample]
    test: list[Sample]
    classes: tuple[str, ...]


@dataclass
class PlannedRun:
    """One run of a table: `label` is the table's name for it (a method, or (method, proportion))."""

    config: RunConfig
    run: Run
    fingerprint: str
    data: RunData
    label: Any = None


def launched_world_size() -> int:
    """Processes started by torchrun (it sets WORLD_SIZE, RANK and LOCAL_RANK); 1 for a plain process."""
    return int(os.environ.get("WORLD_SIZE", "1"))
