"""ILSVRC commands: `table3`, `table4`, `localize-error` and `figures fig8`.

Each parses its flags, calls gwapbench.tables.ilsvrc / gwapbench.engine, prints and writes. The
engine (torch) is imported inside the commands, so `gwapbench --help` stays light.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import click

from gwapbench.cli.options import FiniteFloatRange, precision_option, seed_option
from gwapbench.cli.tables import _split_names, figures_group, parse_overrides, write_and_print
from gwapbench.errors import InputError
from gwapbench.metrics.box_methods import BOX_CONVENTIONS, BOX_METHODS

NETS = ("googlenet", "vgg16", "caffenet", "resnet50", "tiny")
PRETRAINED = ("googlenet", "vgg16", "alexnet")
SCHEDULE_NAMES = {"paper": "ilsvrc_paper", "quick": "quick", "ci": "ci"}


def parse_ints(text: str, argument: str, low: int = 1, example: str = "224,448,672") -> tuple[int, ...]:
    """Comma-separated integers >= low ("224,448,672"); InputError naming the argument, with `example`."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isascii() and p.isdigit() and int(p) >= low for p in parts):
        raise InputError(f"{argument} {text!r}: expected comma-separated integers >= {low}, e.g. {example}")
    return tuple(int(p) for p in parts)


def data_options(command: Callable) -> Callable:
    """Where the val (and train) images come from."""
    options = [
        click.option("--data", type=click.Choice(("ilsvrc", "synthetic")), default="ilsvrc", show_default=True,
                     help="ilsvrc: the CLS-LOC folder given by --imagenet-root; synthetic: the built-in generator's "
                          "ILSVRC layout (no download)."),
        click.option("--imagenet-root", type=click.Path(path_type=Path), default=None,
                     help="Folder holding ILSVRC/Data/CLS-LOC/{train,val} and LOC_synset_mapping.txt; val boxes "
                          "from ILSVRC/Annotations/CLS-LOC/val or LOC_val_solution.csv."),
        click.option("--on-bad-file", type=click.Choice(("fail", "skip")), default="fail", show_default=True),
        click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
                     help="The run store (trained models, predictions, metrics)."),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:INDEX."),
        click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True),
        click.option("--out", type=click.Path(path_type=Path), default=Path("out"), show_default=True),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), command)


def box_rule_options(command: Callable) -> Callable:
    """How boxes come out of the maps."""
    options = [
        click.option("--threshold", type=FiniteFloatRange(0, 1), default=0.2, show_default=True,
                     help="Foreground: pixels above this fraction of the map's maximum."),
        click.option("--box-method", type=click.Choice(BOX_METHODS), default="largest_component", show_default=True,
                     help="largest_component (the CAM paper's text) or cam_legacy (the CAM release's generator)."),
        click.option("--normalize", type=click.Choice(("minmax", "none")), default=None,
                     help="Before the threshold: min-max to [0, 1] or none (default by map kind: minmax for GWAP's "
                          "class-agnostic alpha, as the paper; none for CAM and saliency maps, as the CAM release)."),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), command)


def box_options(command: Callable) -> Callable:
    """How boxes come out of the maps, and which images the localization error leaves out."""
    blacklist = click.option("--blacklist", type=click.Path(path_type=Path), default=None,
                             help="The devkit's ILSVRC2015_clsloc_validation_blacklist.txt: images left out of the "
                                  "localization error.")
    return box_rule_options(blacklist(command))


def table_options(command: Callable) -> Callable:
    options = [
        click.option("--net", type=click.Choice(NETS), default="googlenet", show_default=True,
                     help="Backbone of the trained rows (gap, gmp, gwap)."),
        click.option("--methods", default=None, help="Comma-separated subset of the table's rows."),
        click.option("--pretrained-nets", default=",".join(PRETRAINED), show_default=True,
                     help="Nets of the rows evaluated as shipped (original; backprop: googlenet, vgg16)."),
        click.option("--extra-conv/--no-extra-conv", default=True, show_default=True,
                     help="CAM's extra 3x3 conv with 1024 units before the pooling head."),
        click.option("--schedule", type=click.Choice(tuple(SCHEDULE_NAMES)), default=None,
                     help="Training schedule (default: quick for --net tiny, paper otherwise)."),
        click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Replace a schedule field, e.g. --override iterations=200 (repeatable)."),
        seed_option(),
        precision_option(),
        click.option("--weights", default="default", show_default=True,
                     help='"default" (torchvision ImageNet weights), "none", or a file path.'),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), data_options(command))


def localization_options(threshold: float, box_method: str, blacklist: Path | None, samples,
                         max_box_acc: bool = False, top_ks: tuple[int, ...] = (1, 5), normalize: str | None = None,
                         box_convention: str = "wsolevaluation"):
    """LocalizationOptions from the flags; the blacklist as an exclusion mask over `samples`."""
    from gwapbench.data.ilsvrc import blacklisted, read_blacklist
    from gwapbench.engine.ilsvrc_evaluate import LocalizationOptions, box_method_available

    if not box_method_available(box_method):
        raise InputError(f"--box-method {box_method}: not available in this version of gwapbench.metrics")
    exclude = None if blacklist is None else blacklisted(list(samples), read_blacklist(blacklist))
    return LocalizationOptions(threshold, box_method, exclude, max_box_acc, top_ks, normalize, box_convention)


def _options(net, methods, pretrained_nets, extra_conv, schedule, overrides, seed, weights, data,
             imagenet_root, on_bad_file, runs_dir, device, workers, precision, scales=(), localization=None):
    from gwapbench.engine.ilsvrc_evaluate import LocalizationOptions
    from gwapbench.engine.inputs import EngineOptions
    from gwapbench.engine.precision import resolve_precision
    from gwapbench.engine.sources import resolve_ilsvrc_data
    from gwapbench.tables.ilsvrc import IlsvrcOptions
    from gwapbench.tables.spec import TableOptions

    nets = tuple(_split_names(pretrained_nets, "--pretrained-nets") or ())
    unknown = [n for n in nets if n not in PRETRAINED]
    if unknown:
        raise InputError(f"--pretrained-nets: {', '.join(unknown)} (choose from {', '.join(PRETRAINED)})")
    name = SCHEDULE_NAMES[schedule] if schedule else ("quick" if net == "tiny" else "ilsvrc_paper")
    overrides, methods = parse_overrides(overrides), tuple(_split_names(methods, "--methods") or ())
    config = resolve_ilsvrc_data(data, runs_dir, imagenet_root, on_bad_file)
    table = TableOptions(net=net, data=config, runs_dir=runs_dir, schedule=name, seed=seed, overrides=overrides,
                         weights=weights, methods=methods,
                         engine=EngineOptions(device=device, workers=workers,
                                              precision=resolve_precision(precision, device)))
    return IlsvrcOptions(table, pretrained_nets=nets, extra_conv=extra_conv, scales=scales,
                         localization=localization or LocalizationOptions())


@click.command("table3")
@table_options
def table3_command(out: Path, **args) -> None:
    """Table III: top-1 / top-5 classification error on ILSVRC val.

    Rows: the CAM-style models trained on ILSVRC (gap, gmp, gwap on --net) and torchvision's
    pretrained classifiers as shipped (original). Runs not yet in --runs-dir are trained first.

    \b
    Example:
      gwapbench table3 --imagenet-root /data/imagenet --methods original
      gwapbench table3 --net tiny --data synthetic
    """
    from gwapbench.outdir import prepare_output_folder
    from gwapbench.tables.ilsvrc import TABLE3, produce_ilsvrc_table
    from gwapbench.tables.render import output_files

    prepare_output_folder(out, output_files(TABLE3))
    result = produce_ilsvrc_table(TABLE3, _options(**args), on_run=click.echo)
    if result is not None:
        write_and_print(TABLE3, result, out)


@click.command("table4")
@table_options
@box_options
@click.option("--scales", default="224,448,672", show_default=True,
              help="Input sizes whose maps are averaged for the multi-scale rows (one size: no such row).")
def table4_command(out: Path, threshold: float, box_method: str, normalize: str | None, blacklist: Path | None,
                   scales: str, **args) -> None:
    """Table IV: top-1 localization error on ILSVRC val (single-scale and multi-scale maps).

    Rows: gap, gmp, gwap on --net (single-scale, and averaged over --scales) and backprop
    saliency of torchvision's googlenet and vgg16. Reuses table3's runs.

    \b
    Example:
      gwapbench table4 --imagenet-root /data/imagenet --blacklist ILSVRC2015_clsloc_validation_blacklist.txt
      gwapbench table4 --net tiny --data synthetic --scales 128,256
    """
    from dataclasses import replace

    from gwapbench.engine.sources import read_ilsvrc_split
    from gwapbench.outdir import prepare_output_folder
    from gwapbench.tables.ilsvrc import TABLE4, produce_ilsvrc_table
    from gwapbench.tables.render import output_files

    sizes = parse_ints(scales, "--scales", low=16)
    prepare_output_folder(out, output_files(TABLE4))
    options = _options(**args, scales=sizes)
    val = read_ilsvrc_split(options.table.data, options.table.data.test_split).samples
    loc = localization_options(threshold, box_method, blacklist, val, normalize=normalize)
    if loc.exclude is not None:
        click.echo(f"blacklist: {int(loc.exclude.sum())} of {len(val)} images left out of the localization error")
    result = produce_ilsvrc_table(TABLE4, replace(options, localization=loc), on_run=click.echo)
    if result is not None:
        write_and_print(TABLE4, result, out)


def _align(samples, image_ids, source: str):
    """The samples in the order of `image_ids`; InputError naming an id without ground truth."""
    by_id = {s.image_id: s for s in samples}
    missing = [i for i in image_ids if i not in by_id]
    if missing:
        raise InputError(f"{source}: image {missing[0]} has no ground truth ({len(missing)} of {len(image_ids)} "
                         "images lack it)")
    return [by_id[i] for i in image_ids]


def _read_heatmaps(path: Path) -> dict:
    """An .npz in the run store's predictions format: image_ids, logits (N, C), maps (N, K, h, w), map_names."""
    import numpy as np

    from gwapbench.npz import UnreadableNpz, read_npz

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


def _run_of(run_id: str | None, checkpoint: Path | None, runs_dir: Path):
    from gwapbench.engine.store import Run, RunStore

    if run_id is not None:
        return RunStore(runs_dir).find(run_id)
    if not checkpoint.is_file():
        raise InputError(f"--checkpoint {checkpoint}: file not found")
    run = Run(checkpoint.parent, checkpoint.parent.name)
    if not run.config_path.is_file():
        raise InputError(f"--checkpoint {checkpoint}: no config.json beside it (a run folder of gwapbench's store)")
    return run


@click.command("localize-error")
@click.option("--run", "run_id", default=None, help="A run in --runs-dir (its stored predictions).")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="A run's checkpoint.pt (predictions made from it when missing).")
@click.option("--heatmaps", type=click.Path(path_type=Path), default=None,
              help=".npz with image_ids, logits, maps (N, K, h, w) and map_names, as a run's predictions.npz.")
@click.option("--wsol-metadata", type=click.Path(path_type=Path), default=None,
              help="Ground truth from wsolevaluation metadata (image_ids.txt, class_labels.txt, ...).")
@click.option("--scales", default=None, help="Input sizes whose maps are averaged, e.g. 224,448,672 "
                                             "(default: the run's training size).")
@click.option("--top-k", "top_k", default="1,5", show_default=True, help="The k of the top-k errors.")
@click.option("--max-box-acc/--no-max-box-acc", default=False, show_default=True,
              help="Also MaxBoxAcc and MaxBoxAccV2 (Choe et al. 2020; single-scale maps only, refused with "
                   "several --scales).")
@click.option("--box-convention", type=click.Choice(BOX_CONVENTIONS), default="wsolevaluation",
              show_default=True, help="MaxBoxAcc's boxes: wsolevaluation (its code) or components.")
@click.option("--boxes-csv/--no-boxes-csv", default=False, show_default=True,
              help="Also write each image's top-1 class and box (boxes.csv).")
@box_options
@click.option("--data", type=click.Choice(("ilsvrc", "synthetic")), default=None,
              help="Ground truth: --imagenet-root's CLS-LOC folder or the synthetic set (default: the run's data).")
@click.option("--imagenet-root", type=click.Path(path_type=Path), default=None)
@click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("out"), show_default=True)
def localize_error_command(run_id, checkpoint, heatmaps, wsol_metadata, scales, top_k, max_box_acc, box_convention,
                           boxes_csv, threshold, box_method, normalize, blacklist, data, imagenet_root, runs_dir,
                           device, workers, out) -> None:
    """ILSVRC top-k classification and localization error, GT-known accuracy and MaxBoxAcc of stored maps.

    Writes localize_error.csv (metric, value) and localize_error.json, and with --boxes-csv boxes.csv.

    \b
    Example:
      gwapbench localize-error --run googlenet-gwap-0123456789ab --scales 224,448,672
      gwapbench localize-error --heatmaps maps.npz --wsol-metadata metadata/ILSVRC/test
    """
    import time

    from gwapbench.atomic import write_text_atomic
    from gwapbench.data.ilsvrc import read_wsol_metadata
    from gwapbench.config import ILSVRC_TASK
    from gwapbench.engine.ilsvrc_evaluate import evaluate_ilsvrc_boxes, map_normalization
    from gwapbench.engine.inputs import EngineOptions
    from gwapbench.engine.schedules import resolve_schedule
    from gwapbench.engine.sources import read_ilsvrc_split, resolve_ilsvrc_data
    from gwapbench.engine.store import write_json
    from gwapbench.outdir import prepare_output_folder
    from gwapbench.tables.ilsvrc import scale_predictions
    from gwapbench.tables.render import to_csv

    started = time.perf_counter()
    data = "ilsvrc" if imagenet_root is not None and data is None else data
    if sum(x is not None for x in (run_id, checkpoint, heatmaps)) != 1:
        raise InputError("give exactly one of --run, --checkpoint and --heatmaps")
    if sum(x is not None for x in (wsol_metadata, data)) > 1 or (imagenet_root is not None and data != "ilsvrc"):
        raise InputError("give at most one ground truth: --wsol-metadata P, --data ilsvrc --imagenet-root P, "
                         "or --data synthetic")
    if heatmaps is not None and scales is not None:
        raise InputError("--scales: needs --run or --checkpoint (maps at other sizes are predicted by the model)")
    if heatmaps is not None and wsol_metadata is None and data is None:
        raise InputError("--heatmaps: give the ground truth (--wsol-metadata, --imagenet-root or --data synthetic)")
    ks = parse_ints(top_k, "--top-k", example="1,5")
    if max_box_acc and scales is not None and len(parse_ints(scales, "--scales", low=16)) > 1:
        raise InputError("--max-box-acc: MaxBoxAcc scores one map per image (single-scale maps); drop --scales or "
                         "--max-box-acc")
    names = ["localize_error.csv", "localize_error.json"] + (["boxes.csv"] if boxes_csv else [])
    prepare_output_folder(out, names)
    run = None if heatmaps is not None else _run_of(run_id, checkpoint, runs_dir)
    config = None if run is None else run.config()
    if config is not None and config.task != ILSVRC_TASK:
        raise InputError(f"run {run.id} is a VOC run (task {config.task}, made by table1 or table5); localize-error "
                         "needs an ILSVRC run (made by table3)")
    if wsol_metadata is not None:
        samples, source = read_wsol_metadata(wsol_metadata), f"--wsol-metadata {wsol_metadata}"
    elif data is not None:
        samples = read_ilsvrc_split(resolve_ilsvrc_data(data, runs_dir, imagenet_root), "val").samples
        source = f"--data {data}"
    else:
        samples, source = read_ilsvrc_split(config.data, "val").samples, f"run {run.id}'s data"
    if run is None:
        stored = [_read_heatmaps(heatmaps)]
        samples, ranking = _align(samples, [str(i) for i in stored[0]["image_ids"]], source), stored[0]
    else:
        schedule = resolve_schedule(config.schedule, config.overrides)
        sizes = parse_ints(scales, "--scales", low=16) if scales else (schedule.image_size,)
        if not run.predictions_path.is_file() and run_id is not None:
            raise InputError(f"--run {run.id}: no predictions yet (finish it with table3, or pass --checkpoint)")
        engine = EngineOptions(device=device, workers=workers)
        if run.predictions_path.is_file():
            samples = _align(samples, [str(i) for i in run.load_predictions()["image_ids"]], source)
        ranking = scale_predictions(run, config, schedule, samples, schedule.image_size, engine)
        stored = [ranking if size == schedule.image_size else scale_predictions(run, config, schedule, samples, size,
                                                                                engine) for size in sizes]
    options = localization_options(threshold, box_method, blacklist, samples, max_box_acc, ks, normalize,
                                   box_convention)
    metrics, boxes = evaluate_ilsvrc_boxes(stored, samples, options, ranking)
    metrics["seconds"] = round(time.perf_counter() - started, 1)
    rows = [{"metric": k, "value": v} for k, v in metrics.items()]
    write_text_atomic(out / "localize_error.csv", to_csv(rows, ("metric", "value")))
    settings = _settings(run, heatmaps, source, None if run is None else sizes, options,
                         map_normalization(stored[0]["map_names"], options))
    write_json(out / "localize_error.json", {**metrics, "settings": settings})
    if boxes_csv:
        write_text_atomic(out / "boxes.csv", _boxes_csv(samples, ranking, boxes))
    for row in rows:
        click.echo(f"{row['metric']:>24} {row['value']:.4f}" if isinstance(row["value"], float)
                   else f"{row['metric']:>24} {row['value']}")
    click.echo("wrote " + ", ".join(str(out / n) for n in names))


def _settings(run, heatmaps: Path | None, source: str, scales, options, normalize: str) -> dict:
    """What localize_error.json records beside the metrics: where the maps and the ground truth came from and
    every option that decides a number (scales: the run's input sizes, None for --heatmaps)."""
    from gwapbench.metrics.localization import DEFAULT_CAM_THRESHOLDS, MAX_BOX_ACC_V2_IOUS

    settings = {"run": None if run is None else run.id, "heatmaps": None if heatmaps is None else str(heatmaps),
                "ground_truth": source, "scales": None if scales is None else [int(s) for s in scales],
                "threshold": options.threshold, "box_method": options.box_method, "normalize": normalize,
                "top_k": list(options.top_ks),
                "blacklisted": None if options.exclude is None else int(options.exclude.sum()),
                "max_box_acc": options.max_box_acc}
    if options.max_box_acc:
        settings.update(box_convention=options.box_convention, cam_thresholds=[float(t) for t in DEFAULT_CAM_THRESHOLDS],
                        iou_thresholds=[0.5, *MAX_BOX_ACC_V2_IOUS])
    return settings


def _boxes_csv(samples, predictions: dict, boxes) -> str:
    """image_id, top-1 class index, x1, y1, x2, y2 (0-based inclusive pixel indices of the image)."""
    from gwapbench.engine.ilsvrc_evaluate import ranked_classes
    from gwapbench.tables.render import to_csv

    top1 = ranked_classes(predictions["logits"], 1)[:, 0]
    columns = ("image_id", "class", "x1", "y1", "x2", "y2")
    empty = [None] * 4
    rows = [dict(zip(columns, (s.image_id, int(c), *(empty if boxes is None else map(int, boxes[i])))))
            for i, (s, c) in enumerate(zip(samples, top1))]
    return to_csv(rows, columns)


@figures_group.command("fig8", short_help="Fig. 8: GWAP maps per scale, their mean, GAP's CAM, Table IV's boxes.")
@table_options
@box_rule_options
@click.option("--scales", default="224,448,672", show_default=True, help="Input sizes of the GWAP weight maps.")
@click.option("--images", "image_count", type=click.IntRange(1, 50), default=4, show_default=True,
              help="How many val images (the first ones).")
def fig8_command(out: Path, threshold: float, box_method: str, normalize: str | None, scales: str, image_count: int,
                 **args) -> None:
    """Fig. 8: per val image, GWAP's weight maps at each of --scales, their average, and GAP's top-1 CAM.

    Each map is drawn min-max normalized on one colour range per map kind (a colorbar each), with
    the GT boxes and the top-1 box that table4 scores with the same --threshold, --box-method,
    --normalize and --scales (computed by table4's own code). Trains (or reuses) the gwap and gap runs of table4;
    writes fig8.png into --out.

    \b
    Example:
      gwapbench figures fig8 --net tiny --data synthetic --scales 128,256 --images 6
    """
    from gwapbench.atomic import write_bytes_atomic
    from gwapbench.engine.schedules import resolve_schedule
    from gwapbench.engine.sources import read_ilsvrc_split
    from gwapbench.engine.store import RunStore
    from gwapbench.figures.ilsvrc import fig8_layout
    from gwapbench.figures.render import png_bytes
    from gwapbench.outdir import prepare_output_folder
    from gwapbench.tables.ilsvrc import TABLE4, produce_ilsvrc_table, scale_predictions

    if args["methods"] is not None:
        raise InputError("--methods: fig8 always draws the gwap and gap runs (leave --methods out)")
    sizes = parse_ints(scales, "--scales", low=16)
    prepare_output_folder(out, ["fig8.png"])
    options = _options(**{**args, "methods": "gwap,gap"}, scales=sizes)
    val = read_ilsvrc_split(options.table.data, options.table.data.test_split).samples
    localization = localization_options(threshold, box_method, None, val, normalize=normalize)
    result = produce_ilsvrc_table(TABLE4, options, on_run=click.echo)
    if result is None:
        return
    run_of = {row["method"]: row["run_id"] for row in result.rows}
    store = RunStore(options.table.runs_dir)
    gwap, gap = store.run(run_of["gwap"]), store.run(run_of["gap"])
    config = gwap.config()
    schedule = resolve_schedule(config.schedule, config.overrides)
    per_scale = [(size, scale_predictions(gwap, config, schedule, val, size, options.table.engine)) for size in sizes]
    table = options.table
    source = f"{table.net} on {table.data.kind}, schedule {table.schedule}"
    layout = fig8_layout(val, range(min(image_count, len(val))), per_scale, gwap.load_predictions(),
                         gap.load_predictions(), localization, table.data.classes, source)
    path = out / "fig8.png"
    write_bytes_atomic(path, png_bytes(layout))
    click.echo(f"wrote {path}")
