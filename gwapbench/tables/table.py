"""The one shape of every paper table, and the one function that produces any of them.

A `Table` plans its runs (`plan`: reads the data, resolves the schedule once, one `PlannedRun` per run),
says what a finished run prints (`describe`) and turns the runs' metrics into rows beside the paper's
numbers (`rows`); a table whose rows need more than metrics.json (Table IV's multi-scale maps) makes it in
`prepare`, on every torchrun rank. `produce(table, options)` does the rest for every table: it brings
the unfinished runs to finished through `engine.runner` (train, predict, evaluate, each stage once) and
returns the rows (columns `COLUMNS`). When every run is finished and no torchrun launched this process, the
rows come from the runs' metrics.json alone: neither torch nor the engine's models are imported.

`TableOptions` is the one options type: what every table shares, and the table's own options in `extra`
(`VocExtra`, `IlsvrcExtra`, `DetectionExtra`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gwapbench.engine.inputs import EngineOptions, PlannedRun, launched_world_size
from gwapbench.engine.precision import resolve_precision
from gwapbench.engine.schedules import Schedule, check_overrides, default_schedule_name, schedule_label
from gwapbench.errors import InputError
from gwapbench.tables.paper import paper_lookup, paper_reference

COLUMNS = ("table", "net", "method", "setting", "metric", "reproduced", "paper", "delta", "run_id", "schedule",
           "precision", "paper_ref_value", "paper_ref_source")
PER_CLASS_COLUMNS = ("table", "net", "method", "class", "metric", "reproduced", "run_id")
Paper = dict[tuple[str, ...], float]


@dataclass(frozen=True)
class TableOptions:
    """What the user chose: the net, the data (a `DataConfig`; Table V: a `DetectionSource`), the schedule,
    how to run, the rows (`methods`, a subset of the table's; empty = all) and the table's own options."""

    net: str
    data: Any
    runs_dir: Path
    schedule: str
    seed: int = 0
    overrides: tuple[tuple[str, Any], ...] = ()
    weights: str = "default"
    engine: EngineOptions = field(default_factory=EngineOptions)
    methods: tuple[str, ...] = ()
    extra: Any = None


@dataclass
class Plan:
    """A table's runs, the schedule they train with, the test samples and one line per skipped file."""

    runs: list[PlannedRun]
    schedule: Schedule
    test: list
    skipped: list[str] = field(default_factory=list)


@dataclass
class TableResult:
    """The rows (columns `COLUMNS`), the per-class rows, one line per skipped file, and the plan they came
    from (its runs and test samples: what a figure of the table reads)."""

    rows: list[dict[str, Any]]
    per_class: list[dict[str, Any]]
    skipped_files: list[str]
    plan: Plan | None = None


class Table:
    """One paper table: `name` ("table1"), `title`, its rows' `methods`, `per_class` (whether it writes
    `<name>_per_class.csv`) and the names of its training schedules (`schedules`)."""

    name: str
    title: str
    methods: tuple[str, ...]
    per_class: bool = False
    schedules: tuple[str, ...] = ("paper", "quick", "ci")
    schedule_aliases: dict[str, str] = {}  # a --schedule name -> the stored schedule's name, where they differ

    @property
    def nets(self) -> tuple[str, ...]:
        """The backbones its runs may use (`reference_models.BACKBONE_NAMES`, importable without torch)."""
        from reference_models import BACKBONE_NAMES

        return BACKBONE_NAMES

    def output_files(self) -> list[str]:
        names = [f"{self.name}.csv", f"{self.name}.md"]
        return names + ([f"{self.name}_per_class.csv"] if self.per_class else [])

    def options(self, **flags: Any) -> TableOptions:
        """The table's options from the command line's values (`common_options` and the table's own)."""
        raise NotImplementedError

    def plan(self, options: TableOptions) -> Plan:
        raise NotImplementedError

    def describe(self, planned: PlannedRun, metrics: dict[str, Any], options: TableOptions) -> str:
        """What follows "run <id>: " once the run finished."""
        raise NotImplementedError

    def needs_engine(self, plan: Plan, options: TableOptions) -> bool:
        """Whether `prepare` has work even when every run is finished."""
        return False

    def prepare(self, plan: Plan, options: TableOptions, engine: EngineOptions, info: Any) -> None:
        """On every rank, after the runs finished: what `rows` reads besides metrics.json."""

    def rows(self, plan: Plan, metrics: dict[str, dict[str, Any]], options: TableOptions, paper: Paper) -> TableResult:
        raise NotImplementedError

    def figure(self, result: TableResult, options: TableOptions, image_count: int) -> tuple:
        """The figures hook: the arguments of the table's figure layout (`gwapbench.figures`) for the first
        `image_count` test images, read from the produced runs."""
        raise NotImplementedError(f"{self.name} has no figure")


def check_methods(table: Table, methods: Sequence[str]) -> None:
    """InputError on a --methods name that is not one of the table's rows."""
    unknown = [m for m in methods if m not in table.methods]
    if unknown:
        raise InputError(f"--methods: {', '.join(unknown)} not in {table.name} "
                         f"(choose from {', '.join(table.methods)})")


def common_options(table: Table, *, net: str, data: Any, schedule: str | None, overrides: tuple[tuple[str, Any], ...],
                   methods: Sequence[str], seed: int, weights: str, device: str, workers: int, runs_dir: Path,
                   precision: str = "auto", extra: Any = None) -> TableOptions:
    """What every table shares; --schedule defaults by net (`default_schedule_name`, the one rule) and maps to the
    table's stored schedule name; --precision resolved for the device (`resolve_precision`, part of each run's
    config). InputError on an override or a method the table does not know."""
    check_overrides(overrides)
    check_methods(table, methods)
    name = schedule or default_schedule_name(net)
    engine = EngineOptions(device=device, workers=workers, precision=resolve_precision(precision, device))
    return TableOptions(net=net, data=data, runs_dir=runs_dir, schedule=table.schedule_aliases.get(name, name),
                        seed=seed, overrides=overrides, weights=weights, engine=engine, methods=tuple(methods),
                        extra=extra)


def produce(table: Table, options: TableOptions, on_run: Callable[[str], None] = lambda line: None
            ) -> TableResult | None:
    """Bring the table's pending runs to finished and return its rows (None on torchrun ranks other than 0)."""
    check_methods(table, options.methods)
    plan = table.plan(options)
    if (launched_world_size() == 1 and all(p.run.is_finished for p in plan.runs)
            and not table.needs_engine(plan, options)):
        metrics = {p.run.id: p.run.metrics() for p in plan.runs}
    else:
        from gwapbench.engine.runner import execute_runs, start

        engine, info = start(options.engine)
        metrics = execute_runs(plan.runs, plan.schedule, engine, info, on_run,
                               lambda planned, m: table.describe(planned, m, options))
        table.prepare(plan, options, engine, info)
        if not info.is_main:
            return None
    return replace(table.rows(plan, metrics, options, paper_lookup()), plan=plan)


def table_row(key: tuple[str, str, str, str, str], value: float, run_identifier: str, options: TableOptions,
              paper: Paper, paper_metric: str | None = None) -> dict[str, Any]:
    """One CSV row (columns `COLUMNS`): key = (table, net, method, setting, metric), the paper's value for
    that key (or for its `paper_metric`, where the paper reports one number under another name) beside
    `value` (NaN where it reports none), the schedule and the precision the row's runs trained with; where
    it reports none, its number for the method on its own net and data, labelled (`paper_reference`), not a
    metric."""
    reference = paper.get((*key[:4], paper_metric or key[4]), math.nan)
    other = paper_reference(key[0], key[2], key[3], paper_metric or key[4]) if math.isnan(reference) else (math.nan, "")
    schedule = schedule_label(options.schedule, options.overrides)
    return dict(zip(COLUMNS, (*key, value, reference, value - reference, run_identifier, schedule,
                              options.engine.precision, *other)))
