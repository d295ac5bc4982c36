"""Tables III and IV (ILSVRC val): classification error and top-1 localization error.

Rows: the trained CAM-style models (`gap`, `gmp`, `gwap` on `--net`), and rows that need no
training, from torchvision's weights as shipped: `original` (Table III) for each of
`pretrained_nets`, `backprop` (Table IV) for googlenet and vgg16. Every row is a run in the
store (pretrained rows are runs without training). Table III reads each run's metrics.json;
Table IV evaluates the stored maps with the chosen box options (threshold, box method,
blacklist), at the training scale and, for trained rows, averaged over `scales` (predictions
at the other scales are made from the run's checkpoint once and kept beside it as
`predictions-<size>.npz`).

Setting column: the paper's setting for the row where it has one ("cited [6]" for the rows it
quotes from Zhou et al. 2016), so the paper value sits beside ours; otherwise
"single-scale <size>" / "multi-scale <a>+<b>+<c>" (Table IV).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gwapbench.config import ILSVRC_TASK, RunConfig, data_fingerprint, run_id
from gwapbench.data.ilsvrc import ILSVRC_NUM_CLASSES
from gwapbench.data.sample import Sample
from gwapbench.engine import distributed
from gwapbench.engine.ilsvrc_evaluate import (
    LocalizationOptions,
    evaluate_ilsvrc,
    evaluate_ilsvrc_boxes,
    ranked_classes,
)
from gwapbench.engine.ilsvrc_methods import BACKPROP_NETS, PRETRAINED_METHODS, TRAINED_METHODS
from gwapbench.engine.inputs import EngineOptions, RunData
from gwapbench.engine.runner import build_run_task, predict_samples, resolve_device
from gwapbench.engine.schedules import Schedule, resolve_schedule, schedule_label
from gwapbench.engine.sources import read_ilsvrc_split
from gwapbench.engine.store import Run, RunStore
from gwapbench.errors import InputError
from gwapbench.tables.paper import paper_lookup, paper_values
from gwapbench.tables.spec import TableOptions, TableResult, TableSpec, execute_runs, table_row

TABLE3_METRICS = ("top1_cls_error", "top5_cls_error")
TABLE4_METRICS = ("top1_loc_error",)
PAPER_SCALE = 224


@dataclass(frozen=True)
class IlsvrcOptions:
    """What the user chose for table3 / table4: the shared table options (`table.net` is the trained rows'
    net, `table.methods` a subset of the spec's rows), then the ILSVRC ones."""

    table: TableOptions
    pretrained_nets: tuple[str, ...] = ("googlenet", "vgg16", "alexnet")
    extra_conv: bool = True
    scales: tuple[int, ...] = (224, 448, 672)
    localization: LocalizationOptions = field(default_factory=LocalizationOptions)


def _headline(metrics: dict[str, Any], options: Any) -> float:
    return metrics["top1_cls_error"]


TABLE3 = TableSpec(name="table3", title="Table III: classification error on ILSVRC val (%)",
                   methods=(*TRAINED_METHODS, "original"), metric="top1_cls_error", read=_headline)
TABLE4 = TableSpec(name="table4", title="Table IV: top-1 localization error on ILSVRC val (%)",
                   methods=(*TRAINED_METHODS, "backprop"), metric="top1_loc_error", read=_headline)


def row_plan(spec: TableSpec, options: IlsvrcOptions) -> list[tuple[str, str]]:
    """(net, method) of every row: trained methods on `net`, pretrained ones on each pretrained net (by
    default only on data with the 1000 ILSVRC classes)."""
    unknown = [m for m in options.table.methods if m not in spec.methods]
    if unknown:
        raise InputError(f"--methods: {', '.join(unknown)} not in {spec.name} (choose from {', '.join(spec.methods)})")
    methods = options.table.methods or spec.methods
    if len(options.table.data.classes) != ILSVRC_NUM_CLASSES:  # torchvision's heads know the 1000 ILSVRC classes
        if any(m in PRETRAINED_METHODS for m in options.table.methods):
            raise InputError(f"--methods: {', '.join(m for m in methods if m in PRETRAINED_METHODS)} need the "
                             f"{ILSVRC_NUM_CLASSES} ILSVRC classes; this dataset has {len(options.table.data.classes)}")
        methods = tuple(m for m in methods if m in TRAINED_METHODS)
    plan = []
    for method in methods:
        if method in TRAINED_METHODS:
            plan.append((options.table.net, method))
        else:
            nets = [n for n in options.pretrained_nets if method == "original" or n in BACKPROP_NETS]
            plan += [(net, method) for net in nets]
    return plan


def run_config(net: str, method: str, options: IlsvrcOptions, image_size: int) -> RunConfig:
    model = (("extra_conv", False),) if method in TRAINED_METHODS and not options.extra_conv else ()
    table = options.table
    return RunConfig(data=table.data, net=net, method=method, schedule=table.schedule, seed=table.seed,
                     image_size=image_size, weights=table.weights, task=ILSVRC_TASK, overrides=table.overrides,
                     model=model, precision=table.engine.precision)


def paper_setting(table: str, net: str, method: str, metric: str) -> str | None:
    """The paper's setting of a single-scale row (None when it reports none)."""
    values = paper_values()
    rows = values[(values.table == table) & (values.net == net) & (values.method == method)
                  & (values.metric == metric) & ~values.setting.str.startswith("multi-scale")]
    return str(rows.setting.iloc[0]) if len(rows) else None


def _single_scale_setting(spec: TableSpec, net: str, method: str, metric: str, image_size: int) -> str:
    setting = paper_setting(spec.name, net, method, f"ilsvrc_{metric}") if image_size == PAPER_SCALE else None
    if setting is not None:
        return setting
    return "" if spec.name == "table3" else f"single-scale {image_size}"


def _row(spec: TableSpec, config: RunConfig, setting: str, metric: str, value: float, identifier: str,
         paper: dict[tuple, float]) -> dict[str, Any]:
    return table_row((spec.name, config.net, config.method, setting, metric), value, identifier,
                     schedule_label(config.schedule, config.overrides), paper, precision=config.precision)


def scale_predictions(run: Run, config: RunConfig, schedule: Schedule, test: list[Sample], size: int,
                      engine: EngineOptions, info: distributed.Dist = distributed.Dist()
                      ) -> dict[str, np.ndarray] | None:
    """The run's predictions at input `size` (its training size: `predictions.npz`, else
    `predictions-<size>.npz`): the stored file, else made from the run's checkpoint (or shipped weights)
    with the classes ranked at the training size, and kept (None on ranks other than 0)."""
    base = size == schedule.image_size
    path = run.predictions_path if base else run.scale_predictions_path(size)
    if not path.is_file():
        if task_needs_checkpoint(config) and not run.checkpoint_path.is_file():
            raise InputError(f"run {run.id}: no checkpoint to predict from (train it first, e.g. with table3)")
        device = resolve_device(engine.device, info)
        task = build_run_task(config, len(config.data.classes), size).to(device)
        if task.trainable:
            task.load_state_dict(run.load_checkpoint(device)["model"])
        classes = None
        if not base and task.map_names not in ((), ("alpha",)):
            scale_predictions(run, config, schedule, test, schedule.image_size, engine, info)  # made if missing
            classes = ranked_classes(run.load_predictions()["logits"], len(task.map_names) - 1)
        made = predict_samples(task, test, size, schedule.batch_size, device, engine, info, classes,
                               config.precision)
        if info.is_main:
            run.save_predictions(made, None if base else size)
            run.log(f"predicted {len(test)} val images at {size}x{size}")
        distributed.barrier(info)
    return run.load_predictions(None if base else size) if info.is_main else None


def task_needs_checkpoint(config: RunConfig) -> bool:
    return config.method not in PRETRAINED_METHODS


def produce_ilsvrc_table(spec: TableSpec, options: IlsvrcOptions,
                         on_run: Callable[[str], None] = lambda line: None) -> TableResult | None:
    """Run the spec's pending rows and return its rows (None on torchrun ranks other than 0)."""
    from gwapbench.engine.ilsvrc_models import check_ilsvrc_weights  # the model zoo: imported when rows run

    table = options.table
    info = distributed.init(resolve_device(table.engine.device))
    plan = row_plan(spec, options)
    schedule = resolve_schedule(table.schedule, table.overrides)
    val = read_ilsvrc_split(table.data, table.data.test_split)
    train: list[Sample] = []
    if any(method in TRAINED_METHODS for _, method in plan):
        train = read_ilsvrc_split(table.data, table.data.train_split).samples
    data = RunData(train, val.samples, table.data.classes)
    store = RunStore(table.runs_dir)
    runs = []
    for net, method in plan:
        config = run_config(net, method, options, schedule.image_size)
        splits = [("train", train), ("test", val.samples)] if method in TRAINED_METHODS else [("test", val.samples)]
        fingerprint = data_fingerprint(splits)
        run = store.run(run_id(config, fingerprint))
        if info.is_main:
            run.create(config, fingerprint, schedule)
        runs.append((config, run))
    distributed.barrier(info)
    for net, method in sorted({(c.net, c.method) for c, run in runs if not run.is_finished}):
        check_ilsvrc_weights(net, method, table.weights)  # a missing weights file fails before any training
    metrics = execute_runs(runs, schedule, data, table.engine, info, on_run, lambda config, m: (
        f"{config.net} {config.method} finished in {m['seconds']} s, top-1 classification error "
        f"{m['top1_cls_error']:.4g} %"))
    rows = []
    paper = paper_lookup()
    for config, run in runs:
        if spec.name == "table3":
            rows += _table3_rows(spec, config, run, metrics[run.id], options, paper) if info.is_main else []
        else:
            rows += _table4_rows(spec, config, run, schedule, data.test, options, info, paper)
    skipped = [f"{item.path}: {item.reason}" for item in val.report.skipped]
    return TableResult(rows, [], skipped) if info.is_main else None


def _table3_rows(spec: TableSpec, config: RunConfig, run: Run, metrics: dict[str, Any], options: IlsvrcOptions,
                 paper: dict[tuple, float]) -> list[dict[str, Any]]:
    rows = []
    for key in TABLE3_METRICS:
        if key in metrics:
            metric = f"{options.table.data.kind}_{key}"
            setting = _single_scale_setting(spec, config.net, config.method, key, config.image_size)
            rows.append(_row(spec, config, setting, metric, metrics[key], run.id, paper))
    return rows


def _table4_rows(spec: TableSpec, config: RunConfig, run: Run, schedule: Schedule, test: list[Sample],
                 options: IlsvrcOptions, info: distributed.Dist, paper: dict[tuple, float]) -> list[dict[str, Any]]:
    metric = f"{options.table.data.kind}_top1_loc_error"
    rows = []
    if info.is_main:
        single = evaluate_ilsvrc(run.load_predictions(), test, options.localization)
        setting = _single_scale_setting(spec, config.net, config.method, "top1_loc_error", config.image_size)
        rows.append(_row(spec, config, setting, metric, single["top1_loc_error"], run.id, paper))
    if config.method in TRAINED_METHODS and len(options.scales) > 1:
        engine = options.table.engine
        stored = [scale_predictions(run, config, schedule, test, size, engine, info) for size in options.scales]
        if info.is_main:
            multi = evaluate_ilsvrc_boxes(stored, test, options.localization, ranking=run.load_predictions())[0]
            setting = "multi-scale " + "+".join(str(s) for s in options.scales)
            rows.append(_row(spec, config, setting, metric, multi["top1_loc_error"], run.id, paper))
    return rows
