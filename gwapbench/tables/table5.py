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

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gwapbench.config import DETECTION_TASK, DataConfig, RunConfig, data_fingerprint, run_id
from gwapbench.engine.detection_data import split_boxes
from gwapbench.engine.detection_schedules import DETECTION_SCHEDULES, resolve_detection_schedule, training_split
from gwapbench.engine.detection_sources import DetectionSource, read_detection_splits, resolve_detection_source
from gwapbench.engine.inputs import PlannedRun, RunData
from gwapbench.engine.store import RunStore
from gwapbench.errors import InputError
from gwapbench.tables.table import Paper, Plan, Table, TableOptions, TableResult, common_options, table_row
from reference_models.rfcn import METHODS as RFCN_METHODS

TABLE5_METHODS = ("rfcn", "rfcn_gap", "rfcn_gwap", "rfcn_gwap_gap")
TABLE5_PROPORTIONS = (0.01, 0.02, 0.05, 0.1)
WEIGHT_MAP_METHODS = tuple(m for m in TABLE5_METHODS if "gwap" in RFCN_METHODS[m])  # they store alpha_c (Fig. 9)
METRICS = (("det_map", "det_map"), ("det_map_py_faster_rcnn", "det_map"))  # (metrics.json key, paper metric)


@dataclass(frozen=True)
class DetectionExtra:
    """proportions: the fractions of training images that keep their boxes, each in (0, 1]."""

    proportions: tuple[float, ...] = TABLE5_PROPORTIONS

    def __post_init__(self) -> None:
        bad = [p for p in self.proportions if not 0 < p <= 1]
        if bad or not self.proportions:
            raise InputError(f"--proportions: {', '.join(map(str, bad)) or 'none given'}: each must lie in (0, 1], "
                             f"e.g. {','.join(map(str, TABLE5_PROPORTIONS))}")


def setting(source: DetectionSource, proportion: float) -> str:
    return f"proportion={proportion}" + (", trained on VOC07 only" if source.kind == "voc07" else "")


def run_config(options: TableOptions, method: str, proportion: float, image_size: int) -> RunConfig:
    """The run of one (method, proportion): the proportion (and a weak method's image-level stream) is part
    of its training split's name."""
    source: DetectionSource = options.data
    data = DataConfig(kind=source.kind, root=str(source.roots[0]), classes=source.classes,
                      train_split=training_split(proportion, method), test_split="test", on_bad_file=source.on_bad_file)
    return RunConfig(data=data, net=options.net, method=method, schedule=options.schedule, seed=options.seed,
                     image_size=image_size, weights=options.weights, task=DETECTION_TASK,
                     overrides=options.overrides, precision=options.engine.precision)


class DetectionTable(Table):
    """Table V: one run per (method, proportion), two rows per run (`METRICS`)."""

    name = "table5"
    title = "Table V: VOC07 test detection mAP (%) with boxes on a proportion of the training images"
    methods = TABLE5_METHODS
    schedules = tuple(DETECTION_SCHEDULES)
    nets = ("resnet50", "tiny")  # R-FCN's (dilated) backbone and the CPU one

    def options(self, *, data: str, voc_root: Path | None, voc2012_root: Path | None, on_bad_file: str,
                proportions: Sequence[float] = TABLE5_PROPORTIONS, net: str | None = None, **common: Any
                ) -> TableOptions:
        """--data voc | synthetic (`resolve_detection_source`), the box proportions; --net defaults to tiny on
        synthetic data, resnet50 otherwise."""
        extra = DetectionExtra(tuple(proportions))
        net = net or ("tiny" if data == "synthetic" else "resnet50")
        shared = common_options(self, net=net, data=None, **common)
        source = resolve_detection_source(data, shared.runs_dir, voc_root, voc2012_root, on_bad_file)
        return replace(shared, data=source, extra=extra)

    def plan(self, options: TableOptions) -> Plan:
        extra = options.extra or DetectionExtra()
        train, test, skipped = read_detection_splits(options.data)
        schedule, _ = resolve_detection_schedule(options.schedule, len(train), options.overrides)
        store = RunStore(options.runs_dir)
        runs = []
        for proportion in extra.proportions:
            split = split_boxes(train, proportion, options.seed)
            fingerprint = data_fingerprint([("train", split), ("test", test)])
            data = RunData(split, test, options.data.classes)
            for method in options.methods or self.methods:
                config = run_config(options, method, proportion, schedule.image_size)
                runs.append(PlannedRun(config, store.run(run_id(config, fingerprint)), fingerprint, data,
                                       (method, proportion)))
        return Plan(runs, schedule, test, skipped)

    def describe(self, planned: PlannedRun, metrics: dict[str, Any], options: TableOptions) -> str:
        method, proportion = planned.label
        return (f"{method} at proportion {proportion} finished in {metrics['seconds']} s, det_map "
                f"{metrics['det_map']:.4g}, det_map_py_faster_rcnn {metrics['det_map_py_faster_rcnn']:.4g}")

    def rows(self, plan: Plan, metrics: dict[str, dict[str, Any]], options: TableOptions, paper: Paper) -> TableResult:
        prefix = options.data.metric_prefix
        rows = []
        for planned in plan.runs:
            method, proportion = planned.label
            for key, paper_metric in METRICS:
                row_key = ("table5", options.net, method, setting(options.data, proportion), f"{prefix}_{key}")
                rows.append(table_row(row_key, float(metrics[planned.run.id][key]), planned.run.id, options, paper,
                                      f"{prefix}_{paper_metric}"))
        return TableResult(rows, [], plan.skipped)

    def figure(self, result: TableResult, options: TableOptions, image_count: int) -> tuple:
        """fig9_layout's arguments: the first run's detections and stored weight maps of the first test images."""
        from gwapbench.engine.detection import per_image_detections

        planned = result.plan.runs[0]
        predictions = planned.run.load_predictions()
        count = min(image_count, len(result.plan.test))
        maps = [predictions[f"weight_map_{i}"] for i in range(count)]
        method, proportion = planned.label
        source = f"{method}, box proportion {proportion}, schedule {options.schedule}"
        return (result.plan.test[:count], per_image_detections(predictions, count), maps, options.data.classes,
                source)


TABLE5 = DetectionTable()
