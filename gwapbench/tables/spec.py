"""A paper table as a declarative spec, and the one function that produces any spec's rows.

A `TableSpec` names the trained rows (one run per method), the rows that need no training
(baselines computed from the test set), the metric and how to read it from a run's metrics.json.
`produce_table` resolves each row to a run in the store, trains and evaluates only the runs not
yet finished, and returns the rows with the paper's numbers beside them (columns `COLUMNS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gwapbench.config import DataConfig, RunConfig, data_fingerprint, run_id
from gwapbench.data.sample import Sample
from gwapbench.engine.inputs import EngineOptions, RunData, launched_world_size
from gwapbench.engine.schedules import Schedule, resolve_schedule, schedule_label
from gwapbench.engine.sources import read_split
from gwapbench.engine.store import Run, RunStore
from gwapbench.errors import InputError
from gwapbench.tables.paper import paper_lookup, paper_reference

if TYPE_CHECKING:
    from gwapbench.engine.distributed import Dist

COLUMNS = ("table", "net", "method", "setting", "metric", "reproduced", "paper", "delta", "run_id", "schedule",
           "precision", "paper_ref_value", "paper_ref_source")
CAM_MAP_CHOICES = ("predicted", "gt", "top1")


@dataclass(frozen=True)
class TableOptions:
    """What the user chose: the net, the data, the schedule, and how to run."""

    net: str
    data: DataConfig
    runs_dir: Path
    schedule: str
    seed: int = 0
    overrides: tuple[tuple[str, Any], ...] = ()
    weights: str = "default"
    engine: EngineOptions = field(default_factory=EngineOptions)
    cam_map: str = "predicted"
    methods: tuple[str, ...] = ()  # a subset of the spec's methods; empty = all


@dataclass(frozen=True)
class Baseline:
    """A row that needs no training: `value(test samples)`."""

    method: str
    value: Callable[[Sequence[Sample]], float]


@dataclass(frozen=True)
class TableSpec:
    """name: "table1"; metric: the CSV's metric name after the data prefix ("cls_map" -> "voc07_cls_map");
    read: a run's value from its metrics.json; per_class: metrics.json key of per-class values, if any."""

    name: str
    title: str
    methods: tuple[str, ...]
    metric: str
    read: Callable[[dict[str, Any], TableOptions], float]
    baselines: tuple[Baseline, ...] = ()
    per_class: str | None = None

    def metric_name(self, data: DataConfig) -> str:
        """The paper's metric names start with the dataset ("voc07_..."); other data keeps its own prefix,
        so no paper number is ever set beside a synthetic or BCCD result."""
        return f"{data.kind}_{self.metric}"

    def setting(self, options: TableOptions) -> str:
        return "" if options.cam_map == "predicted" else f"cam map: {options.cam_map}"


@dataclass
class TableResult:
    rows: list[dict[str, Any]]
    per_class: list[dict[str, Any]]
    skipped_files: list[str]


def run_configs(spec: TableSpec, options: TableOptions) -> list[RunConfig]:
    """One RunConfig per trained row (or per row of `options.methods`)."""
    unknown = [m for m in options.methods if m not in spec.methods]
    if unknown:
        raise InputError(f"--methods: {', '.join(unknown)} not in {spec.name} (choose from {', '.join(spec.methods)})")
    schedule = resolve_schedule(options.schedule, options.overrides)
    return [
        RunConfig(data=options.data, net=options.net, method=method, schedule=options.schedule, seed=options.seed,
                  image_size=schedule.image_size, weights=options.weights, overrides=options.overrides,
                  precision=options.engine.precision)
        for method in options.methods or spec.methods
    ]


def read_run_data(data: DataConfig) -> tuple[RunData, list[str]]:
    """The train and test samples, and one line per file the bad-file policy skipped."""
    train, test = read_split(data, data.train_split), read_split(data, data.test_split)
    skipped = [item.describe() for r in (train, test) for item in r.report.skipped]
    return RunData(train.samples, test.samples, data.classes), skipped


def produce_table(spec: TableSpec, options: TableOptions,
                  on_run: Callable[[str], None] = lambda line: None) -> TableResult | None:
    """Train/evaluate the spec's pending runs and return its rows (None on ranks other than 0).

    When every run is finished and no torchrun launched this process, the rows come from the runs'
    metrics.json alone: neither torch nor the engine is imported (a finished table re-renders in seconds).
    """
    data, skipped = read_run_data(options.data)
    fingerprint = data_fingerprint([("train", data.train), ("test", data.test)])
    store = RunStore(options.runs_dir)
    configs = run_configs(spec, options)
    runs = [(config, store.run(run_id(config, fingerprint))) for config in configs]
    if launched_world_size() == 1 and all(run.is_finished for _, run in runs):
        return _assemble(spec, options, runs, {config.method: run.metrics() for config, run in runs}, data, skipped)
    return _execute_and_assemble(spec, options, runs, data, fingerprint, skipped, on_run)


def _execute_and_assemble(spec: TableSpec, options: TableOptions, runs: list[tuple[RunConfig, Run]], data: RunData,
                          fingerprint: str, skipped: list[str], on_run: Callable[[str], None]) -> TableResult | None:
    from gwapbench.engine import distributed
    from gwapbench.engine.runner import check_weights, resolve_device

    info = distributed.init(resolve_device(options.engine.device))
    schedule = resolve_schedule(options.schedule, options.overrides)
    if info.is_main:
        for config, run in runs:
            run.create(config, fingerprint, schedule)
    distributed.barrier(info)
    if any(not run.is_finished for _, run in runs):
        check_weights(options.net, options.weights)  # a missing weights file fails before any training
    by_id = execute_runs(runs, schedule, data, options.engine, info, on_run, lambda config, m: (
        f"{config.method} finished in {m['seconds']} s, {_headline(spec, m, options)}"))
    metrics = {config.method: by_id[run.id] for config, run in runs}
    if not info.is_main:
        return None
    return _assemble(spec, options, runs, metrics, data, skipped)


def execute_runs(runs: Sequence[tuple[RunConfig, Run]], schedule: Schedule, data: RunData, engine: EngineOptions,
                 info: Dist, on_run: Callable[[str], None],
                 describe: Callable[[RunConfig, dict[str, Any]], str]) -> dict[str, Any]:
    """Bring every run to finished; metrics by run id (None on ranks other than 0); one `on_run` line
    "run <id>: <describe(config, metrics)>" for each run finished here."""
    from gwapbench.engine.runner import execute

    metrics = {}
    for config, run in runs:
        finished = run.is_finished
        metrics[run.id] = execute(run, config, schedule, data, engine, info)
        if info.is_main and not finished:
            on_run(f"run {run.id}: {describe(config, metrics[run.id])}")
    return metrics


def _headline(spec: TableSpec, metrics: dict[str, Any], options: TableOptions) -> str:
    return f"{spec.metric_name(options.data)} {spec.read(metrics, options):.4g}"


def table_row(key: tuple[str, str, str, str, str], value: float, run_identifier: str, schedule: str,
              paper: dict[tuple[str, ...], float], paper_metric: str | None = None, *, precision: str
              ) -> dict[str, Any]:
    """One CSV row (columns `COLUMNS`): key = (table, net, method, setting, metric), the paper's value for
    that key (or for its `paper_metric`, where the paper reports one number under another name) beside
    `value` (NaN where it reports none), the schedule and the precision the row's runs trained with; where
    it reports none, its number for the method on its own net and data, labelled (`paper_reference`), not a
    metric."""
    reference = paper.get((*key[:4], paper_metric or key[4]), math.nan)
    other = paper_reference(key[0], key[2], key[3], paper_metric or key[4]) if math.isnan(reference) else (math.nan, "")
    return dict(zip(COLUMNS, (*key, value, reference, value - reference, run_identifier, schedule, precision,
                              *other)))


def _assemble(spec: TableSpec, options: TableOptions, runs: list[tuple[RunConfig, Run]],
              metrics: dict[str, dict[str, Any]], data: RunData, skipped: list[str]) -> TableResult:
    paper = paper_lookup()
    metric = spec.metric_name(options.data)
    setting = spec.setting(options)
    schedule = schedule_label(options.schedule, options.overrides)
    values = [(config.method, spec.read(metrics[config.method], options), run.id) for config, run in runs]
    values += [(b.method, b.value(data.test), "") for b in spec.baselines]
    rows = [table_row((spec.name, options.net, method, setting, metric), value, identifier, schedule, paper,
                      precision=options.engine.precision) for method, value, identifier in values]
    per_class = []
    if spec.per_class is not None:
        per_class = [
            {"table": spec.name, "net": options.net, "method": config.method, "class": name,
             "metric": f"{metric}_per_class", "reproduced": value, "run_id": run.id}
            for config, run in runs for name, value in metrics[config.method][spec.per_class].items()
        ]
    return TableResult(rows, per_class, skipped)
