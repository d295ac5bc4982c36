"""Table V: VOC2007 test detection mAP of R-FCN and its weak branches (GAP, GWAP, both) trained on
VOC07+12 with boxes on 1, 2, 5 or 10 % of the training images and image-level labels on all.

One run per (method, proportion) through the run store; the table has two rows per run:
`<data>_det_map` (devkit 11-point AP with exact thresholds, IoU >= 0.5, as Table I) and
`<data>_det_map_py_faster_rcnn` (the same detections under py-faster-rcnn's `voc_eval`: IoU > 0.5 and
its float thresholds, the convention of the paper's numbers).
The paper's value stands beside both. Setting: `proportion=<p>`, as in paper_tables.csv; a VOC
run trained without VOC2012 says so in its setting, so no paper value is set beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gwapbench.config import DETECTION_TASK, DataConfig, RunConfig, data_fingerprint, run_id
from gwapbench.engine import distributed
from gwapbench.engine.detection import execute_detection
from gwapbench.engine.detection_data import split_boxes
from gwapbench.engine.detection_schedules import resolve_detection_schedule, training_split
from gwapbench.engine.detection_sources import DetectionSource, read_detection_splits
from gwapbench.engine.inputs import EngineOptions
from gwapbench.engine.runner import check_weights, resolve_device
from gwapbench.engine.store import RunStore
from gwapbench.errors import InputError
from gwapbench.engine.schedules import schedule_label
from gwapbench.tables.paper import paper_lookup
from gwapbench.tables.spec import TableResult, TableSpec, table_row

TABLE5_METHODS = ("rfcn", "rfcn_gap", "rfcn_gwap", "rfcn_gwap_gap")
TABLE5_PROPORTIONS = (0.01, 0.02, 0.05, 0.1)
METRICS = (("det_map", "det_map"), ("det_map_py_faster_rcnn", "det_map"))  # (metrics.json key, paper metric)

TABLE5 = TableSpec(
    name="table5",
    title="Table V: VOC07 test detection mAP (%) with boxes on a proportion of the training images",
    methods=TABLE5_METHODS,
    metric="det_map",
    read=lambda metrics, options: metrics["det_map"],
)


@dataclass(frozen=True)
class Table5Options:
    source: DetectionSource
    runs_dir: Path
    net: str = "resnet50"
    schedule: str = "paper"
    methods: tuple[str, ...] = TABLE5_METHODS
    proportions: tuple[float, ...] = TABLE5_PROPORTIONS
    seed: int = 0
    overrides: tuple[tuple[str, Any], ...] = ()
    weights: str = "default"
    engine: EngineOptions = field(default_factory=EngineOptions)


def check_choices(methods: Sequence[str], proportions: Sequence[float]) -> None:
    """InputError on a method not in Table V or a proportion outside (0, 1]."""
    unknown = [m for m in methods if m not in TABLE5_METHODS]
    if unknown or not methods:
        raise InputError(f"--methods: {', '.join(unknown) or 'none given'}: choose from {', '.join(TABLE5_METHODS)}")
    bad = [p for p in proportions if not 0 < p <= 1]
    if bad or not proportions:
        raise InputError(f"--proportions: {', '.join(map(str, bad)) or 'none given'}: each must lie in (0, 1], "
                         f"e.g. {','.join(map(str, TABLE5_PROPORTIONS))}")


def setting(source: DetectionSource, proportion: float) -> str:
    return f"proportion={proportion}" + (", trained on VOC07 only" if source.kind == "voc07" else "")


def run_config(options: Table5Options, method: str, proportion: float, image_size: int) -> RunConfig:
    """The run of one (method, proportion): the proportion (and a weak method's image-level stream) is part
    of its training split's name."""
    source = options.source
    data = DataConfig(kind=source.kind, root=str(source.roots[0]), classes=source.classes,
                      train_split=training_split(proportion, method), test_split="test", on_bad_file=source.on_bad_file)
    return RunConfig(data=data, net=options.net, method=method, schedule=options.schedule, seed=options.seed,
                     image_size=image_size, weights=options.weights, task=DETECTION_TASK,
                     overrides=options.overrides, precision=options.engine.precision)


def produce_table5(options: Table5Options, on_run: Callable[[str], None] = lambda line: None) -> TableResult | None:
    """Train and evaluate the pending (method, proportion) runs; return the rows (columns `COLUMNS`);
    under torchrun every rank takes part and rank 0 alone returns them (None on the other ranks)."""
    check_choices(options.methods, options.proportions)
    info = distributed.init(resolve_device(options.engine.device))
    train, test, skipped = read_detection_splits(options.source)
    schedule, head = resolve_detection_schedule(options.schedule, len(train), options.overrides)
    store = RunStore(options.runs_dir)
    planned = []
    for proportion in options.proportions:
        split = split_boxes(train, proportion, options.seed)
        fingerprint = data_fingerprint([("train", split), ("test", test)])
        for method in options.methods:
            config = run_config(options, method, proportion, schedule.image_size)
            run = store.run(run_id(config, fingerprint))
            if info.is_main:
                run.create(config, fingerprint, schedule)
            planned.append((method, proportion, config, run, split))
    distributed.barrier(info)
    if any(not run.is_finished for *_, run, _ in planned):
        check_weights(options.net, options.weights)
    paper = paper_lookup()
    schedule_name = schedule_label(options.schedule, options.overrides)
    prefix = options.source.metric_prefix
    rows = []
    for method, proportion, config, run, split in planned:
        finished = run.is_finished
        metrics = execute_detection(run, config, schedule, head, split, test, options.source.classes, options.engine,
                                    info)
        if metrics is None:  # a torchrun rank other than 0
            continue
        if not finished:
            on_run(f"run {run.id}: {method} at proportion {proportion} finished in {metrics['seconds']} s, "
                   f"det_map {metrics['det_map']:.4g}, det_map_py_faster_rcnn {metrics['det_map_py_faster_rcnn']:.4g}")
        for key, paper_metric in METRICS:
            row_setting = setting(options.source, proportion)
            rows.append(table_row(("table5", options.net, method, row_setting, f"{prefix}_{key}"), float(metrics[key]),
                                  run.id, schedule_name, paper, f"{prefix}_{paper_metric}",
                                  precision=config.precision))
    return TableResult(rows, [], skipped) if info.is_main else None
