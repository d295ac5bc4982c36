"""Detection commands: `table5` and `figures fig9` (R-FCN with weak branches, Table V and Fig. 9).

Flags are parsed here and the library does the rest; torch and the engine are imported inside the
commands, so that `gwapbench --help` stays light.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import click

from gwapbench.cli.options import precision_option, seed_option
from gwapbench.cli.tables import _split_names, parse_overrides, write_and_print
from gwapbench.errors import InputError

DETECTION_NETS = ("resnet50", "tiny")
DETECTION_SCHEDULE_NAMES = ("paper", "quick", "ci")


def parse_proportions(text: str) -> tuple[float, ...]:
    """"0.01,0.1" -> (0.01, 0.1); InputError on a value that is not a number."""
    values = []
    for name in _split_names(text, "--proportions") or ():
        try:
            values.append(float(name))
        except ValueError as err:
            raise InputError(f"--proportions {text!r}: {name!r} is not a number") from err
    return tuple(values)


def detection_options(command: Callable) -> Callable:
    """The flags table5 and fig9 share."""
    options = [
        click.option("--net", type=click.Choice(DETECTION_NETS), default=None,
                     help="Backbone: resnet50 (dilated, the paper's) or tiny (CPU). Default: tiny with --data "
                          "synthetic, resnet50 otherwise."),
        click.option("--data", type=click.Choice(("voc", "synthetic")), default="voc", show_default=True,
                     help="voc: VOC07(+12) trainval, VOC07 test; synthetic: the built-in generator (no download)."),
        click.option("--voc-root", type=click.Path(path_type=Path), default=None,
                     help="VOC2007 devkit folder (trainval for training, test for evaluation)."),
        click.option("--voc2012-root", type=click.Path(path_type=Path), default=None,
                     help="VOC2012 devkit folder, whose trainval joins VOC2007's (the paper's VOC07+12)."),
        click.option("--on-bad-file", type=click.Choice(("fail", "skip")), default="fail", show_default=True),
        click.option("--schedule", type=click.Choice(DETECTION_SCHEDULE_NAMES), default=None,
                     help="Training schedule (default: quick for --net tiny, paper otherwise)."),
        click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Replace a schedule field, e.g. --override iterations=200 (part of the run id)."),
        seed_option("Seed of the training order and of the box-proportion split."),
        click.option("--weights", default="default", show_default=True,
                     help='Backbone weights: "default" (torchvision ImageNet), "none", or a file path.'),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:INDEX."),
        precision_option(),
        click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True),
        click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True),
        click.option("--out", type=click.Path(path_type=Path), default=Path("out"), show_default=True),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), command)


def _table5_options(net, data, voc_root, voc2012_root, on_bad_file, schedule, overrides, seed, weights, device,
                    precision, workers, runs_dir, methods, proportions):
    from gwapbench.engine.detection_sources import resolve_detection_source
    from gwapbench.engine.inputs import EngineOptions
    from gwapbench.engine.precision import resolve_precision
    from gwapbench.tables.table5 import Table5Options, check_choices

    check_choices(methods, proportions)
    net = net or ("tiny" if data == "synthetic" else "resnet50")
    overrides = parse_overrides(overrides)
    source = resolve_detection_source(data, runs_dir, voc_root, voc2012_root, on_bad_file)
    return Table5Options(source=source, runs_dir=runs_dir, net=net,
                         schedule=schedule or ("quick" if net == "tiny" else "paper"), methods=methods,
                         proportions=proportions, seed=seed, overrides=overrides, weights=weights,
                         engine=EngineOptions(device=device, workers=workers,
                                              precision=resolve_precision(precision, device)))


@click.command("table5")
@detection_options
@click.option("--methods", default="rfcn,rfcn_gap,rfcn_gwap,rfcn_gwap_gap", show_default=True,
              help="Comma-separated subset of Table V's rows.")
@click.option("--proportions", default="0.01,0.02,0.05,0.1", show_default=True,
              help="Comma-separated proportions of training images that keep their boxes.")
def table5_command(out: Path, methods: str, proportions: str, **flags) -> None:
    """Table V: R-FCN, and R-FCN with GAP, GWAP or both, trained with boxes on few images.

    Trains the runs not yet in --runs-dir (one per method and proportion), evaluates them on VOC2007
    test (devkit mAP and py-faster-rcnn's IoU > 0.5 convention), writes table5.csv and table5.md.

    \b
    Example:
      gwapbench table5 --voc-root VOCdevkit/VOC2007 --voc2012-root VOCdevkit/VOC2012
      gwapbench table5 --net tiny --data synthetic --schedule ci --proportions 0.1
      torchrun --standalone --nproc_per_node 2 -m gwapbench table5 --net tiny --data synthetic --schedule ci
    """
    from gwapbench.outdir import prepare_output_folder
    from gwapbench.tables.render import output_files
    from gwapbench.tables.table5 import TABLE5, produce_table5

    options = _table5_options(methods=tuple(_split_names(methods, "--methods")),
                              proportions=parse_proportions(proportions), **flags)
    prepare_output_folder(out, output_files(TABLE5))
    result = produce_table5(options, on_run=click.echo)
    if result is not None:  # None: a torchrun rank other than 0
        write_and_print(TABLE5, result, out)


@click.command("fig9", short_help="Fig. 9: R-FCN detections, GT boxes and the weight map alpha_c.")
@detection_options
@click.option("--method", type=click.Choice(("rfcn_gwap", "rfcn_gwap_gap")), default="rfcn_gwap",
              show_default=True, help="A Table V method with a GWAP branch (it has weight maps).")
@click.option("--proportion", type=float, default=0.1, show_default=True)
@click.option("--images", "image_count", type=click.IntRange(1, 16), default=4, show_default=True,
              help="How many test images (the first ones of the test split).")
def fig9_command(out: Path, method: str, proportion: float, image_count: int, **flags) -> None:
    """Fig. 9: detections and GT boxes (both with class names), and the class-specific weight map of
    each image's top detection (min-max normalized, with a colorbar).

    Uses (training first if needed) the Table V run of --method at --proportion; writes fig9.png
    (at least 1280 pixels wide) into --out.

    \b
    Example:
      gwapbench figures fig9 --net tiny --data synthetic --schedule ci --images 4
    """
    from gwapbench.atomic import write_bytes_atomic
    from gwapbench.engine.detection import per_image_detections
    from gwapbench.engine.detection_sources import read_detection_splits
    from gwapbench.engine.store import RunStore
    from gwapbench.figures.detection import fig9_layout
    from gwapbench.figures.render import png_bytes
    from gwapbench.outdir import prepare_output_folder
    from gwapbench.tables.table5 import produce_table5

    options = _table5_options(methods=(method,), proportions=(proportion,), **flags)
    prepare_output_folder(out, ["fig9.png"])
    result = produce_table5(options, on_run=click.echo)
    if result is None:  # a torchrun rank other than 0
        return
    predictions = RunStore(options.runs_dir).run(result.rows[0]["run_id"]).load_predictions()
    test = read_detection_splits(options.source)[1]
    count = min(image_count, len(test))
    maps = [predictions[f"weight_map_{i}"] for i in range(count)]
    path = out / "fig9.png"
    source = f"{method}, box proportion {proportion}, schedule {options.schedule}"
    layout = fig9_layout(test[:count], per_image_detections(predictions, count), maps, options.source.classes, source)
    write_bytes_atomic(path, png_bytes(layout))
    click.echo(f"wrote {path}")
