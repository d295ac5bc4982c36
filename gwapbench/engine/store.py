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

The readers (`config`, `metrics`, `load_predictions`, `load_checkpoint`) validate what they load, once,
for every command: JSON that parses with unique keys, the fields each file must hold, every number finite
and in its range (`METRIC_RULES`), arrays of consistent shapes. A damaged file (hand-edited, cut short,
replaced) is an InputError naming it and the repair: delete that file and rerun, and the stage that wrote
it runs again (`damaged`).
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from gwapbench.atomic import write_bytes_atomic, write_text_atomic
from gwapbench.config import DETECTION_TASK, ILSVRC_TASK, VOC_TASK, RunConfig
from gwapbench.engine.schedules import Schedule, check_overrides
from gwapbench.errors import InputError
from gwapbench.npz import UnreadableNpz, read_npz
from gwapbench.locks import holder_if_held, release, try_acquire
from gwapbench.outdir import check_folder_location, write_marker


def _real(low: float, high: float, nan: bool = False) -> Callable[[Any], bool]:
    """A rule: a JSON number (not a bool) in [low, high]; NaN only where `nan` (never infinity)."""
    def holds(value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return nan if math.isnan(value) else math.isfinite(value) and low <= value <= high
    return holds


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _by_name(rule: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, dict) and all(rule(v) for v in value.values())


# metrics.json: (key pattern, rule, what the value must be). Per-class AP may be NaN (a class without a
# positive or a box in the test set has no AP: devkit semantics, ../shared/DESIGN.md); a headline never.
METRIC_RULES: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    (r"cls_map|det_map(_py_faster_rcnn)?|top\d+_(cls|loc)_error|gt_known_loc_accuracy", _real(0, 100),
     "a percentage in 0..100"),
    (r"per_class_ap(_py_faster_rcnn)?", _by_name(_real(0, 100, nan=True)),
     "class name -> percentage in 0..100 (NaN: no positives)"),
    (r"otsu_fmeasure", _by_name(_real(0, 1)), "map name -> F-measure in 0..1"),
    (r"test_images|excluded_from_loc", _count, "an integer >= 0"),
    (r"seconds", _real(0, math.inf), "a number of seconds >= 0"),
)
REQUIRED_METRICS = {  # the keys the evaluation of each task always writes (engine/evaluate.py and siblings)
    VOC_TASK: ("cls_map", "per_class_ap", "otsu_fmeasure", "test_images", "seconds"),
    ILSVRC_TASK: ("top1_cls_error", "test_images", "seconds"),
    DETECTION_TASK: ("det_map", "det_map_py_faster_rcnn", "per_class_ap", "per_class_ap_py_faster_rcnn",
                     "test_images", "seconds"),
}
# Keys of metrics.json files written by earlier versions, read under their current name (the CSV metric is
# "<data kind>_<key>", so the key itself names no dataset: VOC runs on synthetic data wrote voc07_cls_map).
RENAMED_METRICS = {"voc07_cls_map": "cls_map"}
REQUIRED_ARRAYS = {  # predictions.npz members of each task (engine/predict.py, engine/detection.py)
    VOC_TASK: ("image_ids", "logits", "maps", "map_names"),
    ILSVRC_TASK: ("image_ids", "logits", "maps", "map_names"),
    DETECTION_TASK: ("image_ids", "det_boxes", "det_scores", "det_labels", "det_image"),
}


# The log line of a training start on a GPU, as every gwapbench version wrote it. Before `precision` joined the
# run config, CUDA runs trained (and predicted) under bfloat16 autocast, and their config.json lacks the field.
CUDA_TRAINING_LOG = re.compile(r"training from iteration \d+ to \d+ on cuda")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    twice = next((key for key in keys if keys.count(key) > 1), None)
    if twice is not None:
        raise ValueError(f"key {twice!r} appears twice")
    return dict(pairs)


def _current_names(metrics: Any) -> Any:
    """metrics.json content with the keys of `RENAMED_METRICS` under their current names (a file that holds
    both names keeps the old one, which `_metrics_problem` then reports as unexpected)."""
    if not isinstance(metrics, dict):
        return metrics
    return {(RENAMED_METRICS[key] if key in RENAMED_METRICS and RENAMED_METRICS[key] not in metrics else key): value
            for key, value in metrics.items()}


def _metrics_problem(metrics: Any, task: str) -> str | None:
    """Why `metrics` is not a valid metrics.json of `task` (None when it is)."""
    if not isinstance(metrics, dict):
        return f"expected a JSON object, got {type(metrics).__name__}"
    missing = [key for key in REQUIRED_METRICS[task] if key not in metrics]
    if missing:
        return f"lacks {', '.join(missing)}"
    for key, value in metrics.items():
        rule = next(((holds, wanted) for pattern, holds, wanted in METRIC_RULES if re.fullmatch(pattern, key)), None)
        if rule is None:
            return f"unexpected entry {key!r}"
        if not rule[0](value):
            return f"{key} is {json.dumps(value)[:60]}, expected {rule[1]}"
    return None


def _predictions_problem(arrays: dict[str, np.ndarray], task: str) -> str | None:
    """Why `arrays` are not valid stored predictions of `task` (None when they are)."""
    missing = [key for key in REQUIRED_ARRAYS[task] if key not in arrays]
    if missing:
        return f"lacks the array(s) {', '.join(missing)}"
    n = len(arrays["image_ids"])
    expected = {"image_ids": 1, "logits": 2, "maps": 4, "map_names": 1, "det_boxes": 2, "det_scores": 1,
                "det_labels": 1, "det_image": 1}
    for key, ndim in expected.items():
        if key in arrays and arrays[key].ndim != ndim:
            return f"{key} has shape {arrays[key].shape}, expected {ndim} dimensions"
    for key in ("logits", "maps"):
        if key in arrays and len(arrays[key]) != n:
            return f"{key} holds {len(arrays[key])} images, image_ids {n}"
    if "maps" in arrays and arrays["maps"].shape[1] != len(arrays["map_names"]):
        return f"maps hold {arrays['maps'].shape[1]} maps per image, map_names {len(arrays['map_names'])}"
    if "det_boxes" in arrays:
        lengths = {len(arrays[k]) for k in ("det_boxes", "det_scores", "det_labels", "det_image")}
        if len(lengths) > 1 or arrays["det_boxes"].shape[1:] != (4,):
            return "det_boxes (M, 4), det_scores, det_labels and det_image differ in length"
        if len(arrays["det_image"]) and not (0 <= arrays["det_image"].min() and arrays["det_image"].max() < n):
            return f"det_image holds an index outside 0..{n - 1}"
    for key, array in arrays.items():
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            return f"{key} holds NaN or infinite values"
    return None

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
        """Make the folder and write config.json (once; an existing run keeps its file, checked by `_raw_config`)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        write_marker(self.folder)
        if self.config_path.is_file():
            self._raw_config()
        else:
            write_json(self.config_path, {"run_id": self.id, "config": config.to_dict(),
                                          "data_fingerprint": fingerprint, "schedule": asdict(schedule)})

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold `<run>/lock` (this process and host, `gwapbench.locks`) while working on the run, so that two
        commands (say table1 and table2 started together, on one node or two) never train one run at once. A
        lock of this host whose process is gone (killed) is taken over; one held by a live process, or by a
        process on another host, is an InputError naming it."""
        path = self.folder / "lock"
        while not try_acquire(path):
            owner = holder_if_held(path)
            if owner is not None and not owner.is_this_process():
                raise InputError(f"run {self.id} is in use by {owner} ({path}): wait for it to finish"
                                 f"{owner.removal_hint(path)}")
            release(path)
        try:
            yield
        finally:
            release(path)

    def damaged(self, path: Path, reason: str) -> InputError:
        """The one-line error for a damaged file of this run: its path, why, and the repair."""
        return InputError(f"run {self.id}: {path} is damaged ({reason}); delete that file and rerun the command: "
                          "the stage that wrote it runs again")

    def _read_json(self, path: Path) -> Any:
        """JSON with unique keys; `damaged` when the file does not parse."""
        try:
            return json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
        except UnicodeDecodeError as err:
            raise self.damaged(path, "not UTF-8 text") from err
        except ValueError as err:  # JSONDecodeError included
            raise self.damaged(path, str(err)) from err

    def _raw_config(self) -> dict[str, Any]:
        raw = self._read_json(self.config_path)
        if not isinstance(raw, dict) or not isinstance(raw.get("config"), dict):
            raise self.damaged(self.config_path, "expected a JSON object with a \"config\" object")
        task = raw["config"].get("task", VOC_TASK)
        if task not in REQUIRED_METRICS:
            raise self.damaged(self.config_path, f"unknown task {task!r}")
        self._check_precision_recorded(raw["config"])
        return raw["config"]

    def _check_precision_recorded(self, config: dict[str, Any]) -> None:
        """A run whose config.json predates the `precision` field has an fp32 run's id; it was fp32 when trained
        on CPU, but bf16 on CUDA, so one whose log shows CUDA training is refused rather than reused as fp32."""
        if "precision" in config or not self.log_path.is_file():
            return
        if CUDA_TRAINING_LOG.search(self.log_path.read_text(encoding="utf-8", errors="replace")):
            raise InputError(f"run {self.id}: trained on CUDA by a gwapbench older than --precision, under bfloat16 "
                             f"autocast, but its id now means fp32; move {self.folder} out of the run store and "
                             "rerun the command")

    def task(self) -> str:
        """The run's task (config.json's `config.task`), which says what its other files hold."""
        return self._raw_config().get("task", VOC_TASK)

    def config(self) -> RunConfig:
        """The RunConfig of config.json, its overrides checked as on the command line."""
        try:
            config = RunConfig.from_dict(self._raw_config())
            check_overrides(config.overrides)
        except (KeyError, TypeError, ValueError, AttributeError) as err:  # InputError is a ValueError
            raise self.damaged(self.config_path, str(err) if isinstance(err, InputError) else repr(err)) from err
        return config

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
        """predictions.npz (or predictions-<size>.npz) with the arrays of the run's task, of consistent shapes
        and finite; `damaged` otherwise."""
        path = self.predictions_path if size is None else self.scale_predictions_path(size)
        try:
            arrays = read_npz(path)
        except UnreadableNpz as err:
            raise self.damaged(path, str(err)) from err
        problem = _predictions_problem(arrays, self.task())
        if problem is not None:
            raise self.damaged(path, problem)
        return arrays

    def load_checkpoint(self, device: Any = "cpu") -> dict[str, Any]:
        """checkpoint.pt: {"model": state dict, "optimizer": state dict, "iteration": int >= 0}; `damaged` when
        torch cannot read it or it holds something else."""
        import pickle
        import zipfile

        import torch

        path = self.checkpoint_path
        try:
            state = torch.load(path, map_location=device, weights_only=True)
        except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
            reason = "empty file (0 bytes)" if path.stat().st_size == 0 else f"torch cannot read it: {err}"
            raise self.damaged(path, reason.splitlines()[0]) from err
        if not (isinstance(state, dict) and isinstance(state.get("model"), dict)
                and isinstance(state.get("optimizer"), dict) and _count(state.get("iteration"))):
            raise self.damaged(path, "expected model, optimizer and iteration")
        return state

    def save_metrics(self, metrics: dict[str, Any]) -> None:
        write_json(self.metrics_path, metrics)

    def metrics(self) -> dict[str, Any]:
        """metrics.json, checked against the run's task (`METRIC_RULES`, `REQUIRED_METRICS`)."""
        metrics = _current_names(self._read_json(self.metrics_path))
        problem = _metrics_problem(metrics, self.task())
        if problem is not None:
            raise self.damaged(self.metrics_path, problem)
        return metrics


def check_runs_dir(root: Path, writable: bool = True) -> None:
    """InputError naming --runs-dir unless it is (or can be created as) a folder, and with `writable` one this
    process may write into; before anything is written into it (the synthetic datasets included)."""
    check_folder_location(root, "--runs-dir", writable)


class RunStore:
    """A folder of runs, addressed by run id."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        check_runs_dir(self.root, writable=False)  # a store of finished runs may be read-only

    def run(self, run_id: str) -> Run:
        return Run(self.root / run_id, run_id)

    def find(self, run_id: str) -> Run:
        """An existing run; InputError naming the store when there is none."""
        run = self.run(run_id)
        if not run.config_path.is_file():
            raise InputError(f"--run {run_id}: no such run in {self.root}")
        return run
