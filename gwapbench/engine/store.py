"""The run store: `<runs-dir>/<run id>/` holds everything one run produced.

| file | written | holds |
| --- | --- | --- |
| `config.json` | when the run is created | the RunConfig, the data fingerprint, the resolved schedule |
| `checkpoint.pt` | every `checkpoint_every` iterations and at the end | model, optimizer, iteration |
| `predictions.npz` | after training | per test image: ids, logits, localization maps (float16) |
| `predictions-<size>.npz` | on demand (ILSVRC multi-scale) | the same at input size `<size>` |
| `metrics.json` | after evaluation | the run's metrics (its presence marks the run finished) |
| `log.txt` | appended as the run goes | one line per event |
| `lock` | while a process works on the run | that process's id |

Every file is written to a temporary name and renamed (`gwapbench.atomic`), so a killed process
leaves the previous complete file or none. A run folder carries gwapbench's output marker
(`gwapbench.outdir`); the store never deletes anything.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from gwapbench.atomic import write_bytes_atomic, write_text_atomic
from gwapbench.config import RunConfig
from gwapbench.engine.schedules import Schedule
from gwapbench.errors import InputError
from gwapbench.outdir import lock_owner, pid_alive, write_marker

def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def write_json(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n")


class Run:
    """One run's folder and its files."""

    def __init__(self, folder: Path, run_id: str) -> None:
        self.folder = folder
        self.id = run_id

    config_path = property(lambda self: self.folder / "config.json")
    checkpoint_path = property(lambda self: self.folder / "checkpoint.pt")
    predictions_path = property(lambda self: self.folder / "predictions.npz")
    metrics_path = property(lambda self: self.folder / "metrics.json")
    log_path = property(lambda self: self.folder / "log.txt")

    @property
    def is_finished(self) -> bool:
        return self.metrics_path.is_file()

    def create(self, config: RunConfig, fingerprint: str, schedule: Schedule) -> None:
        """Make the folder and write config.json (once; an existing run keeps its file)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_marker(self.folder)
        if not self.config_path.is_file():
            write_json(self.config_path, {"run_id": self.id, "config": config.to_dict(),
                                          "data_fingerprint": fingerprint, "schedule": asdict(schedule)})

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold `<run>/lock` (holding this process's id) while working on the run, so that two commands
        (say table1 and table2 started together) never train one run at once. A lock whose process is
        gone (killed) is taken over; one held by a live process is an InputError naming it."""
        path = self.folder / "lock"
        while True:
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                break
            except FileExistsError:
                owner = lock_owner(path)
                if owner is not None and owner != os.getpid() and pid_alive(owner):
                    raise InputError(f"run {self.id} is in use by process {owner} ({path}): wait for it to finish")
                path.unlink(missing_ok=True)
        with os.fdopen(fd, "w") as handle:
            handle.write(str(os.getpid()))
        try:
            yield
        finally:
            path.unlink(missing_ok=True)

    def config(self) -> RunConfig:
        return RunConfig.from_dict(json.loads(self.config_path.read_text())["config"])

    def log(self, message: str) -> None:
        """Append one timestamped line (a log is the one file that grows in place)."""
        with self.log_path.open("a", encoding="utf-8") as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n")

    def scale_predictions_path(self, size: int) -> Path:
        """Predictions at another input size than the training one (ILSVRC multi-scale maps)."""
        return self.folder / f"predictions-{size}.npz"

    def save_predictions(self, arrays: dict[str, np.ndarray], size: int | None = None) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_bytes_atomic(self.predictions_path if size is None else self.scale_predictions_path(size),
                           buffer.getvalue())

    def load_predictions(self, size: int | None = None) -> dict[str, np.ndarray]:
        path = self.predictions_path if size is None else self.scale_predictions_path(size)
        with np.load(path, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}

    def save_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.metrics_path, metrics)

    def metrics(self) -> dict[str, Any]:
        return json.loads(self.metrics_path.read_text())


class RunStore:
    """A folder of runs, addressed by run id."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise InputError(f"--runs-dir {self.root}: exists and is not a folder")

    def run(self, run_id: str) -> Run:
        return Run(self.root / run_id, run_id)

    def find(self, run_id: str) -> Run:
        """An existing run; InputError naming the store when there is none."""
        run = self.run(run_id)
        if not run.config_path.is_file():
            raise InputError(f"--run {run_id}: no such run in {self.root}")
        return run
