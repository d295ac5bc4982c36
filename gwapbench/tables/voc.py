"""Tables I and II: one run per method on a VOC-layout dataset, one row per run, plus baselines.

Table I: VOC2007 classification mAP (11-point devkit AP) of GAP, the GWAP ablations, GWAP and the
oracle GWAP-gt, with per-class AP. Table II: the mean Otsu F-measure (beta^2 = 0.3) of the same runs'
class-agnostic maps against the union of each test image's boxes, plus the centre-prior baseline (a
Gaussian at the image centre). Both read the same runs: Table II only evaluates stored predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gwapbench.config import CAM_MAP_NAMES, RunConfig, data_fingerprint, run_id
from gwapbench.data.sample import Sample
from gwapbench.engine.inputs import PlannedRun, RunData
from gwapbench.engine.schedules import resolve_schedule
from gwapbench.engine.sources import read_split, resolve_data
from gwapbench.engine.store import RunStore
from gwapbench.tables.table import (
    PER_CLASS_COLUMNS,
    Paper,
    Plan,
    Table,
    TableOptions,
    TableResult,
    common_options,
    table_row,
)

TABLE1_METHODS = ("gap", "gwap_no_sigmoid", "gwap_no_exp", "gwap", "gwap_gt")


@dataclass(frozen=True)
class VocExtra:
    """cam_map: which stored CAM (`CAM_MAP_NAMES`) a CAM head contributes to Table II and Fig. 7."""

    cam_map: str = CAM_MAP_NAMES[0]


@dataclass(frozen=True)
class Baseline:
    """A row that needs no training: `value(test samples)`."""

    method: str
    value: Callable[[Sequence[Sample]], float]


def scored_map_name(map_names: Sequence[str], cam_map: str) -> str:
    """The map a run contributes to Table II (and Fig. 7): its weight map alpha, else the CAM of `cam_map`."""
    return "alpha" if "alpha" in [str(n) for n in map_names] else cam_map


def read_voc_data(options: TableOptions) -> tuple[RunData, list[str]]:
    """The train and test samples, and one line per file the bad-file policy skipped."""
    data = options.data
    train, test = read_split(data, data.train_split), read_split(data, data.test_split)
    skipped = [item.describe() for r in (train, test) for item in r.report.skipped]
    return RunData(train.samples, test.samples, data.classes), skipped


class VocTable(Table):
    """metric: the CSV's metric name after the data prefix ("cls_map" -> "voc07_cls_map"); read: a run's
    value from its metrics.json; per_class_key: the metrics.json key of per-class values, if any."""

    def __init__(self, name: str, title: str, metric: str, read: Callable[[dict[str, Any], VocExtra], float],
                 baselines: tuple[Baseline, ...] = (), per_class_key: str | None = None) -> None:
        self.name, self.title, self.methods, self.metric, self.read = name, title, TABLE1_METHODS, metric, read
        self.baselines, self.per_class_key, self.per_class = baselines, per_class_key, per_class_key is not None

    def options(self, *, data: str, voc_root: Path | None, classes: Sequence[str] | None, train_split: str,
                test_split: str, on_bad_file: str, cam_map: str = CAM_MAP_NAMES[0], **common: Any) -> TableOptions:
        """--data voc07 | voc | synthetic (`resolve_data`) and --cam-map, beside the common options."""
        shared = common_options(self, data=None, **common)
        config = resolve_data(data, shared.runs_dir, voc_root, classes, train_split, test_split, on_bad_file)
        return replace(shared, data=config, extra=VocExtra(cam_map))

    def metric_name(self, options: TableOptions) -> str:
        """The paper's metric names start with the dataset ("voc07_..."); other data keeps its own prefix,
        so no paper number is ever set beside a synthetic or BCCD result."""
        return f"{options.data.kind}_{self.metric}"

    def plan(self, options: TableOptions) -> Plan:
        data, skipped = read_voc_data(options)
        fingerprint = data_fingerprint([("train", data.train), ("test", data.test)])
        schedule = resolve_schedule(options.schedule, options.overrides)
        store = RunStore(options.runs_dir)
        runs = []
        for method in options.methods or self.methods:
            config = RunConfig(data=options.data, net=options.net, method=method, schedule=options.schedule,
                               seed=options.seed, image_size=schedule.image_size, weights=options.weights,
                               overrides=options.overrides, precision=options.engine.precision)
            runs.append(PlannedRun(config, store.run(run_id(config, fingerprint)), fingerprint, data, method))
        return Plan(runs, schedule, data.test, skipped)

    def describe(self, planned: PlannedRun, metrics: dict[str, Any], options: TableOptions) -> str:
        return (f"{planned.config.method} finished in {metrics['seconds']} s, "
                f"{self.metric_name(options)} {self.read(metrics, options.extra or VocExtra()):.4g}")

    def rows(self, plan: Plan, metrics: dict[str, dict[str, Any]], options: TableOptions, paper: Paper) -> TableResult:
        extra = options.extra or VocExtra()
        metric = self.metric_name(options)
        setting = "" if extra.cam_map == CAM_MAP_NAMES[0] else f"cam map: {extra.cam_map}"
        values = [(p.label, self.read(metrics[p.run.id], extra), p.run.id) for p in plan.runs]
        values += [(b.method, b.value(plan.test), "") for b in self.baselines]
        rows = [table_row((self.name, options.net, method, setting, metric), value, identifier, options, paper)
                for method, value, identifier in values]
        per_class = [
            dict(zip(PER_CLASS_COLUMNS,
                     (self.name, options.net, p.label, name, f"{metric}_per_class", value, p.run.id)))
            for p in plan.runs if self.per_class_key for name, value in metrics[p.run.id][self.per_class_key].items()
        ]
        return TableResult(rows, per_class, plan.skipped)

    def figure(self, result: TableResult, options: TableOptions, image_count: int) -> tuple:
        """fig7_layout's arguments: each row's scored map (Table II's choice) of the first test images."""
        columns = []
        for row, planned in zip(result.rows, result.plan.runs):
            stored = planned.run.load_predictions()
            names = [str(n) for n in stored["map_names"]]
            name = scored_map_name(names, (options.extra or VocExtra()).cam_map)
            columns.append((row["method"], name, stored["maps"][:, names.index(name)]))
        test = result.plan.test
        source = f"{options.net} on {options.data.kind}, schedule {options.schedule}"
        return test, columns, range(min(image_count, len(test))), options.data.classes, source


def _fmeasure(metrics: dict[str, Any], extra: VocExtra) -> float:
    maps = metrics["otsu_fmeasure"]
    return maps[scored_map_name(maps, extra.cam_map)]


def _centre_prior(samples: Sequence[Sample]) -> float:
    """Table II's baseline row (`engine.evaluate.centre_prior_fmeasure`; the metrics are imported when it is
    computed, so that a finished Table I re-renders without torch)."""
    from gwapbench.engine.evaluate import centre_prior_fmeasure

    return centre_prior_fmeasure(samples)


TABLE1 = VocTable("table1", "Table I: classification mAP (%), 11-point VOC07 AP", "cls_map",
                  lambda metrics, extra: metrics["cls_map"], per_class_key="per_class_ap")
TABLE2 = VocTable("table2", "Table II: mean Otsu F-measure of the localization maps, a fraction in [0, 1] as in the "
                  "paper (gwapbench evaluate prints percent)", "otsu_fmeasure", _fmeasure,
                  baselines=(Baseline("centre_prior", _centre_prior),))

