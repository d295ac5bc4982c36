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

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gwapbench.config import ILSVRC_TASK, RunConfig, data_fingerprint, run_id
from gwapbench.data.ilsvrc import ILSVRC_NUM_CLASSES, blacklisted, read_blacklist
from gwapbench.engine.ilsvrc_evaluate import (
    DEFAULT_BOX_METHOD,
    LocalizationOptions,
    box_method_available,
    evaluate_ilsvrc,
    evaluate_ilsvrc_boxes,
)
from gwapbench.engine.ilsvrc_methods import BACKPROP_NETS, PRETRAINED_METHODS, PRETRAINED_NETS, TRAINED_METHODS
from gwapbench.engine.ilsvrc_sources import read_ilsvrc_split, resolve_ilsvrc_data
from gwapbench.engine.inputs import EngineOptions, PlannedRun, RunData
from gwapbench.engine.schedules import resolve_schedule
from gwapbench.engine.store import RunStore
from gwapbench.errors import InputError
from gwapbench.tables.paper import paper_values
from gwapbench.tables.table import Paper, Plan, Table, TableOptions, TableResult, common_options, table_row

PAPER_SCALE = 224


@dataclass(frozen=True)
class IlsvrcExtra:
    """The ILSVRC options of table3 / table4 (`TableOptions.net` is the trained rows' net)."""

    pretrained_nets: tuple[str, ...] = PRETRAINED_NETS
    extra_conv: bool = True
    scales: tuple[int, ...] = (224, 448, 672)
    localization: LocalizationOptions = field(default_factory=LocalizationOptions)
    every_scale: bool = False  # make each trained run's predictions at every scale, even one (Fig. 8 draws them)

    def __post_init__(self) -> None:
        unknown = [n for n in self.pretrained_nets if n not in PRETRAINED_NETS]
        if unknown:
            raise InputError(f"--pretrained-nets: {', '.join(unknown)} (choose from {', '.join(PRETRAINED_NETS)})")


def localization_options(threshold: float = 0.2, box_method: str = DEFAULT_BOX_METHOD, **more: Any
                         ) -> LocalizationOptions:
    """LocalizationOptions from the command line's values; InputError on a box method this installation lacks."""
    if not box_method_available(box_method):
        raise InputError(f"--box-method {box_method}: not available in this version of gwapbench.metrics")
    return LocalizationOptions(threshold, box_method, **more)


def paper_setting(table: str, net: str, method: str, metric: str) -> str | None:
    """The paper's setting of a single-scale row (None when it reports none)."""
    values = paper_values()
    rows = values[(values.table == table) & (values.net == net) & (values.method == method)
                  & (values.metric == metric) & ~values.setting.str.startswith("multi-scale")]
    return str(rows.setting.iloc[0]) if len(rows) else None


class IlsvrcTable(Table):
    """Table III or IV: `metrics` are the metrics.json keys of its rows, `headline` the one a finished run
    prints; `extra_method` the row evaluated as shipped (original / backprop); `localizes`: the rows are
    localization errors of the stored maps under the chosen box options (single-scale and multi-scale), not
    the runs' own metrics.json values."""

    def __init__(self, name: str, title: str, extra_method: str, metrics: tuple[str, ...], headline: str,
                 headline_words: str, localizes: bool = False) -> None:
        self.name, self.title, self.methods = name, title, (*TRAINED_METHODS, extra_method)
        self.metrics, self.headline, self.headline_words, self.localizes = metrics, headline, headline_words, localizes

    schedule_aliases = {"paper": "ilsvrc_paper"}

    def options(self, *, data: str, imagenet_root: Path | None, on_bad_file: str,
                pretrained_nets: Sequence[str] | None = None, extra_conv: bool = True, scales: Sequence[int] = (),
                threshold: float = 0.2, box_method: str = DEFAULT_BOX_METHOD, normalize: str | None = None,
                blacklist: Path | None = None, every_scale: bool = False, **common: Any) -> TableOptions:
        """--imagenet-root P or --data synthetic (`resolve_ilsvrc_data`), the pretrained rows' nets, CAM's extra
        conv, the multi-scale sizes and the box options (the blacklist read against the val images)."""
        shared = common_options(self, data=None, **common)
        config = resolve_ilsvrc_data(data, shared.runs_dir, imagenet_root, on_bad_file)
        exclude = None
        if blacklist is not None:
            val = read_ilsvrc_split(config, config.test_split).samples
            exclude = blacklisted(val, read_blacklist(blacklist))
        localization = localization_options(threshold, box_method, normalize=normalize, exclude=exclude)
        extra = IlsvrcExtra(tuple(PRETRAINED_NETS if pretrained_nets is None else pretrained_nets), extra_conv,
                            tuple(scales) or IlsvrcExtra.scales, localization, every_scale)
        return replace(shared, data=config, extra=extra)

    def row_plan(self, options: TableOptions) -> list[tuple[str, str]]:
        """(net, method) of every row: trained methods on `net`, pretrained ones on each pretrained net (by
        default only on data with the 1000 ILSVRC classes)."""
        extra = options.extra or IlsvrcExtra()
        methods = options.methods or self.methods
        if len(options.data.classes) != ILSVRC_NUM_CLASSES:  # torchvision's heads know the 1000 ILSVRC classes
            if any(m in PRETRAINED_METHODS for m in options.methods):
                raise InputError(f"--methods: {', '.join(m for m in methods if m in PRETRAINED_METHODS)} need the "
                                 f"{ILSVRC_NUM_CLASSES} ILSVRC classes; this dataset has {len(options.data.classes)}")
            methods = tuple(m for m in methods if m in TRAINED_METHODS)
        plan = []
        for method in methods:
            if method in TRAINED_METHODS:
                plan.append((options.net, method))
            else:
                nets = [n for n in extra.pretrained_nets if method == "original" or n in BACKPROP_NETS]
                plan += [(net, method) for net in nets]
        return plan

    def plan(self, options: TableOptions) -> Plan:
        extra = options.extra or IlsvrcExtra()
        rows = self.row_plan(options)
        schedule = resolve_schedule(options.schedule, options.overrides)
        val = read_ilsvrc_split(options.data, options.data.test_split)
        train = []
        if any(method in TRAINED_METHODS for _, method in rows):
            train = read_ilsvrc_split(options.data, options.data.train_split).samples
        data = RunData(train, val.samples, options.data.classes)
        store = RunStore(options.runs_dir)
        runs = []
        for net, method in rows:
            trained = method in TRAINED_METHODS
            model = (("extra_conv", False),) if trained and not extra.extra_conv else ()
            config = RunConfig(data=options.data, net=net, method=method, schedule=options.schedule,
                               seed=options.seed, image_size=schedule.image_size, weights=options.weights,
                               task=ILSVRC_TASK, overrides=options.overrides, model=model,
                               precision=options.engine.precision)
            fingerprint = data_fingerprint([("train", train), ("test", val.samples)] if trained
                                           else [("test", val.samples)])
            runs.append(PlannedRun(config, store.run(run_id(config, fingerprint)), fingerprint, data, method))
        return Plan(runs, schedule, val.samples, [f"{item.path}: {item.reason}" for item in val.report.skipped])

    def describe(self, planned: PlannedRun, metrics: dict[str, Any], options: TableOptions) -> str:
        return (f"{planned.config.net} {planned.config.method} finished in {metrics['seconds']} s, "
                f"{self.headline_words} {metrics[self.headline]:.4g} %")

    def _multi_scale(self, planned: PlannedRun, options: TableOptions) -> bool:
        return (self.localizes and planned.config.method in TRAINED_METHODS
                and len((options.extra or IlsvrcExtra()).scales) > 1)

    def _scales_made(self, planned: PlannedRun, options: TableOptions) -> bool:
        extra = options.extra or IlsvrcExtra()
        return self._multi_scale(planned, options) or (extra.every_scale and planned.config.method in TRAINED_METHODS)

    def needs_engine(self, plan: Plan, options: TableOptions) -> bool:
        scales = (options.extra or IlsvrcExtra()).scales
        return any(not p.run.scale_predictions_path(size).is_file() for p in plan.runs
                   if self._scales_made(p, options) for size in scales if size != plan.schedule.image_size)

    def prepare(self, plan: Plan, options: TableOptions, engine: EngineOptions, info: Any) -> None:
        """Table IV: each trained run's predictions at every scale (made from its checkpoint when missing)."""
        from gwapbench.engine.scales import scale_predictions

        for planned in plan.runs:
            if self._scales_made(planned, options):
                for size in options.extra.scales:
                    scale_predictions(planned.run, planned.config, plan.schedule, plan.test, size, engine, info)

    def _setting(self, config: RunConfig, metric: str) -> str:
        setting = None
        if config.image_size == PAPER_SCALE:
            setting = paper_setting(self.name, config.net, config.method, f"ilsvrc_{metric}")
        if setting is not None:
            return setting
        return f"single-scale {config.image_size}" if self.localizes else ""

    def rows(self, plan: Plan, metrics: dict[str, dict[str, Any]], options: TableOptions, paper: Paper) -> TableResult:
        extra = options.extra or IlsvrcExtra()
        rows = []
        for planned in plan.runs:
            config, run = planned.config, planned.run
            source = (evaluate_ilsvrc(run.load_predictions(), plan.test, extra.localization) if self.localizes
                      else metrics[run.id])
            for key in self.metrics:
                if key in source:
                    key_row = (self.name, config.net, config.method, self._setting(config, key),
                               f"{options.data.kind}_{key}")
                    rows.append(table_row(key_row, source[key], run.id, options, paper))
            if self._multi_scale(planned, options):
                stored = [run.load_predictions(None if s == plan.schedule.image_size else s) for s in extra.scales]
                multi = evaluate_ilsvrc_boxes(stored, plan.test, extra.localization, ranking=run.load_predictions())[0]
                key_row = (self.name, config.net, config.method, "multi-scale " + "+".join(map(str, extra.scales)),
                           f"{options.data.kind}_top1_loc_error")
                rows.append(table_row(key_row, multi["top1_loc_error"], run.id, options, paper))
        return TableResult(rows, [], plan.skipped)

    def figure(self, result: TableResult, options: TableOptions, image_count: int) -> tuple:
        """fig8_layout's arguments: the gwap run's maps at each scale (made by `prepare`), its and the gap run's
        stored predictions, the box options, for the first val images."""
        runs = {planned.config.method: planned.run for planned in result.plan.runs}
        if set(runs) != {"gwap", "gap"}:
            raise InputError("--methods: fig8 always draws the gwap and gap runs (leave --methods out)")
        extra, base = options.extra or IlsvrcExtra(), result.plan.schedule.image_size
        per_scale = [(size, runs["gwap"].load_predictions(None if size == base else size)) for size in extra.scales]
        val = result.plan.test
        source = f"{options.net} on {options.data.kind}, schedule {options.schedule}"
        return (val, range(min(image_count, len(val))), per_scale, runs["gwap"].load_predictions(),
                runs["gap"].load_predictions(), extra.localization, options.data.classes, source)


TABLE3 = IlsvrcTable("table3", "Table III: classification error on ILSVRC val (%)", "original",
                     ("top1_cls_error", "top5_cls_error"), "top1_cls_error", "top-1 classification error")
TABLE4 = IlsvrcTable("table4", "Table IV: top-1 localization error on ILSVRC val (%)", "backprop",
                     ("top1_loc_error",), "top1_loc_error", "top-1 localization error", localizes=True)
