"""`localize-error`: ILSVRC classification and localization metrics of one run's or one file's stored maps.

The maps come from a run of the store (`--run`), a run folder's checkpoint (`--checkpoint`: predictions
made from it when missing) or an .npz in the predictions format (`--heatmaps`); the ground truth from
wsolevaluation metadata, an ILSVRC CLS-LOC folder, the synthetic set, or the run's own data. The metrics
are Table IV's (`evaluate_ilsvrc_boxes`), at the run's training size or averaged over `scales`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gwapbench.atomic import write_text_atomic
from gwapbench.config import ILSVRC_TASK
from gwapbench.data.ilsvrc import blacklisted, read_blacklist, read_wsol_metadata
from gwapbench.data.sample import Sample
from gwapbench.engine.ilsvrc_evaluate import evaluate_ilsvrc_boxes, map_normalization, ranked_classes
from gwapbench.engine.ilsvrc_sources import read_ilsvrc_split, resolve_ilsvrc_data
from gwapbench.engine.inputs import EngineOptions
from gwapbench.engine.schedules import resolve_schedule
from gwapbench.engine.store import Run, RunStore, write_json
from gwapbench.errors import InputError
from gwapbench.metrics.localization import DEFAULT_CAM_THRESHOLDS, MAX_BOX_ACC_V2_IOUS
from gwapbench.npz import UnreadableNpz, read_npz
from gwapbench.tables.ilsvrc import localization_options
from gwapbench.tables.render import to_csv

BOXES_COLUMNS = ("image_id", "class", "x1", "y1", "x2", "y2")


@dataclass(frozen=True)
class LocalizeRequest:
    """What `localize-error` was asked: exactly one source of maps (run_id, checkpoint, heatmaps), at most one
    ground truth (wsol_metadata, data with imagenet_root), and the metric options."""

    run_id: str | None = None
    checkpoint: Path | None = None
    heatmaps: Path | None = None
    wsol_metadata: Path | None = None
    data: str | None = None
    imagenet_root: Path | None = None
    scales: tuple[int, ...] = ()
    top_ks: tuple[int, ...] = (1, 5)
    max_box_acc: bool = False
    box_convention: str = "wsolevaluation"
    boxes_csv: bool = False
    threshold: float = 0.2
    box_method: str = "largest_component"
    normalize: str | None = None
    blacklist: Path | None = None
    runs_dir: Path = Path("runs")
    device: str = "auto"
    workers: int = 2

    def output_files(self) -> list[str]:
        """Checks the arguments (InputError naming them) and lists the files the command writes."""
        data = "ilsvrc" if self.imagenet_root is not None and self.data is None else self.data
        if sum(x is not None for x in (self.run_id, self.checkpoint, self.heatmaps)) != 1:
            raise InputError("give exactly one of --run, --checkpoint and --heatmaps")
        if sum(x is not None for x in (self.wsol_metadata, data)) > 1 or (self.imagenet_root is not None
                                                                            and data != "ilsvrc"):
            raise InputError("give at most one ground truth: --wsol-metadata P, --data ilsvrc --imagenet-root P, "
                             "or --data synthetic")
        if self.heatmaps is not None and self.scales:
            raise InputError("--scales: needs --run or --checkpoint (maps at other sizes are predicted by the model)")
        if self.heatmaps is not None and self.wsol_metadata is None and data is None:
            raise InputError("--heatmaps: give the ground truth (--wsol-metadata, --imagenet-root or --data synthetic)")
        if self.max_box_acc and len(self.scales) > 1:
            raise InputError("--max-box-acc: MaxBoxAcc scores one map per image (single-scale maps); drop --scales or "
                             "--max-box-acc")
        return ["localize_error.csv", "localize_error.json"] + (["boxes.csv"] if self.boxes_csv else [])


@dataclass
class LocalizeResult:
    """The metrics (with the seconds taken), the settings that decided them, and boxes.csv's text (or None)."""

    metrics: dict[str, Any]
    settings: dict[str, Any]
    boxes_csv: str | None


def _align(samples: list[Sample], image_ids: list[str], source: str) -> list[Sample]:
    """The samples in the order of `image_ids`; InputError naming an id without ground truth."""
    by_id = {s.image_id: s for s in samples}
    missing = [i for i in image_ids if i not in by_id]
    if missing:
        raise InputError(f"{source}: image {missing[0]} has no ground truth ({len(missing)} of {len(image_ids)} "
                         "images lack it)")
    return [by_id[i] for i in image_ids]


def read_heatmaps(path: Path) -> dict[str, np.ndarray]:
    """An .npz in the run store's predictions format: image_ids, logits (N, C), maps (N, K, h, w), map_names."""
    if not path.is_file():
        raise InputError(f"--heatmaps {path}: file not found")
    try:
        arrays = read_npz(path)
    except UnreadableNpz as err:
        raise InputError(f"--heatmaps {path}: {err}") from err
    missing = [k for k in ("image_ids", "logits", "maps", "map_names") if k not in arrays]
    if missing:
        raise InputError(f"--heatmaps {path}: lacks the array(s) {', '.join(missing)} (image_ids, logits, maps, "
                         "map_names as a run's predictions.npz)")
    n = len(arrays["image_ids"])
    if arrays["logits"].shape[0] != n or arrays["maps"].ndim != 4 or arrays["maps"].shape[:2] != (
            n, len(arrays["map_names"])):
        raise InputError(f"--heatmaps {path}: expected logits (N, C) and maps (N, K, h, w) with N = {n} image ids "
                         f"and K = {len(arrays['map_names'])} map names")
    if not np.isfinite(arrays["maps"]).all() or not np.isfinite(arrays["logits"]).all():
        raise InputError(f"--heatmaps {path}: maps or logits hold NaN or infinite values")
    return arrays


def _run_of(request: LocalizeRequest) -> Run | None:
    if request.heatmaps is not None:
        return None
    if request.run_id is not None:
        run = RunStore(request.runs_dir).find(request.run_id)
    else:
        if not request.checkpoint.is_file():
            raise InputError(f"--checkpoint {request.checkpoint}: file not found")
        run = Run(request.checkpoint.parent, request.checkpoint.parent.name)
        if not run.config_path.is_file():
            raise InputError(f"--checkpoint {request.checkpoint}: no config.json beside it (a run folder of "
                             "gwapbench's store)")
    if run.config().task != ILSVRC_TASK:
        raise InputError(f"run {run.id} is a VOC run (task {run.config().task}, made by table1 or table5); "
                         "localize-error needs an ILSVRC run (made by table3)")
    return run


def _ground_truth(request: LocalizeRequest, run: Run | None) -> tuple[list[Sample], str]:
    data = "ilsvrc" if request.imagenet_root is not None and request.data is None else request.data
    if request.wsol_metadata is not None:
        return read_wsol_metadata(request.wsol_metadata), f"--wsol-metadata {request.wsol_metadata}"
    if data is not None:
        config = resolve_ilsvrc_data(data, request.runs_dir, request.imagenet_root)
        return read_ilsvrc_split(config, "val").samples, f"--data {data}"
    return read_ilsvrc_split(run.config().data, "val").samples, f"run {run.id}'s data"


def _stored_maps(request: LocalizeRequest, run: Run | None, samples: list[Sample], source: str):
    """(samples in the maps' order, predictions of each scale, the predictions that rank the classes, sizes)."""
    if run is None:
        stored = read_heatmaps(request.heatmaps)
        return _align(samples, [str(i) for i in stored["image_ids"]], source), [stored], stored, None
    from gwapbench.engine.runner import start
    from gwapbench.engine.scales import scale_predictions

    config = run.config()
    schedule = resolve_schedule(config.schedule, config.overrides)
    sizes = request.scales or (schedule.image_size,)
    if not run.predictions_path.is_file() and request.run_id is not None:
        raise InputError(f"--run {run.id}: no predictions yet (finish it with table3, or pass --checkpoint)")
    if run.predictions_path.is_file():
        samples = _align(samples, [str(i) for i in run.load_predictions()["image_ids"]], source)
    engine, info = start(EngineOptions(device=request.device, workers=request.workers))
    ranking = scale_predictions(run, config, schedule, samples, schedule.image_size, engine, info)
    stored = [ranking if size == schedule.image_size
              else scale_predictions(run, config, schedule, samples, size, engine, info) for size in sizes]
    return samples, stored, ranking, sizes


def localize_error(request: LocalizeRequest) -> LocalizeResult:
    """The metrics of the request's maps against its ground truth (module doc)."""
    started = time.perf_counter()
    run = _run_of(request)
    samples, source = _ground_truth(request, run)
    samples, stored, ranking, sizes = _stored_maps(request, run, samples, source)
    exclude = None if request.blacklist is None else blacklisted(samples, read_blacklist(request.blacklist))
    options = localization_options(request.threshold, request.box_method, exclude=exclude,
                                   max_box_acc=request.max_box_acc, top_ks=request.top_ks,
                                   normalize=request.normalize, box_convention=request.box_convention)
    metrics, boxes = evaluate_ilsvrc_boxes(stored, samples, options, ranking)
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    settings = _settings(run, request, source, sizes, options, map_normalization(stored[0]["map_names"], options))
    return LocalizeResult(metrics, settings, _boxes_csv(samples, ranking, boxes) if request.boxes_csv else None)


def _settings(run: Run | None, request: LocalizeRequest, source: str, scales, options, normalize: str) -> dict:
    """What localize_error.json records beside the metrics: where the maps and the ground truth came from and
    every option that decides a number (scales: the run's input sizes, None for --heatmaps)."""
    settings = {"run": None if run is None else run.id,
                "heatmaps": None if request.heatmaps is None else str(request.heatmaps),
                "ground_truth": source, "scales": None if scales is None else [int(s) for s in scales],
                "threshold": options.threshold, "box_method": options.box_method, "normalize": normalize,
                "top_k": list(options.top_ks),
                "blacklisted": None if options.exclude is None else int(options.exclude.sum()),
                "max_box_acc": options.max_box_acc}
    if options.max_box_acc:
        settings.update(box_convention=options.box_convention,
                        cam_thresholds=[float(t) for t in DEFAULT_CAM_THRESHOLDS],
                        iou_thresholds=[0.5, *MAX_BOX_ACC_V2_IOUS])
    return settings


def _boxes_csv(samples: list[Sample], predictions: dict, boxes: np.ndarray | None) -> str:
    """image_id, top-1 class index, x1, y1, x2, y2 (0-based inclusive pixel indices of the image)."""
    top1 = ranked_classes(predictions["logits"], 1)[:, 0]
    empty = [None] * 4
    rows = [dict(zip(BOXES_COLUMNS, (s.image_id, int(c), *(empty if boxes is None else map(int, boxes[i])))))
            for i, (s, c) in enumerate(zip(samples, top1))]
    return to_csv(rows, BOXES_COLUMNS)


def write_localize_error(out: Path, result: LocalizeResult) -> list[Path]:
    """localize_error.csv (metric, value), localize_error.json (metrics and settings) and, when asked, boxes.csv
    into `out` (already prepared), each written atomically; their paths."""
    rows = [{"metric": k, "value": v} for k, v in result.metrics.items()]
    write_text_atomic(out / "localize_error.csv", to_csv(rows, ("metric", "value")))
    write_json(out / "localize_error.json", {**result.metrics, "settings": result.settings})
    paths = [out / "localize_error.csv", out / "localize_error.json"]
    if result.boxes_csv is not None:
        write_text_atomic(out / "boxes.csv", result.boxes_csv)
        paths.append(out / "boxes.csv")
    return paths
