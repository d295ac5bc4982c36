"""Table and figure commands: `table1`..`table5`, `figures fig7 | fig8 | fig9`.

Each parses its flags and hands them to its registered table (`gwapbench.tables.registry`):
`table.options(**flags)`, `produce(table, options)`, then writes and prints the rows; a figure command
draws the table's figure from the produced runs (`Table.figure`). Torch is imported only once a command
runs, so `gwapbench --help` stays light.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from gwapbench.cli.options import (
    F,
    RegistryChoice,
    apply,
    blacklist_option,
    box_rule_options,
    methods_option,
    on_bad_file_option,
    out_option,
    parse_floats,
    parse_ints,
    run_options,
    split_names,
)
from gwapbench.errors import InputError

FIGURE_LAYOUTS = {"fig7": "gwapbench.figures.voc", "fig8": "gwapbench.figures.ilsvrc",
                  "fig9": "gwapbench.figures.detection"}  # the module of each figure's `<name>_layout`


def _names(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    return split_names(value, param.opts[0])


def _sizes(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...]:
    return parse_ints(value, "--scales", low=16) if value else ()


def voc_options(table: str, out_help: str = "Folder for the table's CSV and Markdown files.") -> Callable[[F], F]:
    """The flags of table1, table2 and fig7 (Table I's runs)."""
    return apply([
        click.option("--net", type=RegistryChoice(f"nets:{table}"), required=True, help="Backbone."),
        click.option("--data", type=RegistryChoice("voc_data"), default="voc07", show_default=True,
                     help="voc07: a VOC2007 devkit; voc: any VOC-layout folder (--classes needed); "
                          "synthetic: the built-in generator (no download)."),
        click.option("--voc-root", type=click.Path(path_type=Path), default=None,
                     help="Devkit folder (default VOCdevkit/VOC2007)."),
        click.option("--classes", default=None, callback=_names, help="Comma-separated class names (with --data voc)."),
        click.option("--train-split", default="trainval", show_default=True),
        click.option("--test-split", default="test", show_default=True),
        on_bad_file_option("skip: leave unreadable images and bad annotations out (listed at the end)."),
        methods_option(), run_options(table), out_option(out_help),
    ])


def ilsvrc_options(table: str, out_help: str = "Folder for the table's CSV and Markdown files.") -> Callable[[F], F]:
    """The flags of table3, table4 and fig8 (the ILSVRC runs)."""
    return apply([
        click.option("--net", type=RegistryChoice(f"nets:{table}"), default="googlenet", show_default=True,
                     help="Backbone of the trained rows (gap, gmp, gwap)."),
        click.option("--data", type=RegistryChoice("ilsvrc_data"), default="ilsvrc", show_default=True,
                     help="ilsvrc: the CLS-LOC folder given by --imagenet-root; synthetic: the built-in generator's "
                          "ILSVRC layout (no download)."),
        click.option("--imagenet-root", type=click.Path(path_type=Path), default=None,
                     help="Folder holding ILSVRC/Data/CLS-LOC/{train,val} and LOC_synset_mapping.txt; val boxes "
                          "from ILSVRC/Annotations/CLS-LOC/val or LOC_val_solution.csv."),
        on_bad_file_option(), methods_option(),
        click.option("--pretrained-nets", default=None, callback=_names,
                     help="Nets of the rows evaluated as shipped (default: googlenet, vgg16, alexnet; backprop: "
                          "googlenet and vgg16 only)."),
        click.option("--extra-conv/--no-extra-conv", default=True, show_default=True,
                     help="CAM's extra 3x3 conv with 1024 units before the pooling head."),
        run_options(table), out_option(out_help),
    ])


def detection_options(command: F) -> F:
    """The flags of table5 and fig9."""
    return apply([
        click.option("--net", type=RegistryChoice("nets:table5"), default=None,
                     help="Backbone: resnet50 (dilated, the paper's) or tiny (CPU). Default: tiny with --data "
                          "synthetic, resnet50 otherwise."),
        click.option("--data", type=RegistryChoice("detection_data"), default="voc", show_default=True,
                     help="voc: VOC07(+12) trainval, VOC07 test; synthetic: the built-in generator (no download)."),
        click.option("--voc-root", type=click.Path(path_type=Path), default=None,
                     help="VOC2007 devkit folder (trainval for training, test for evaluation)."),
        click.option("--voc2012-root", type=click.Path(path_type=Path), default=None,
                     help="VOC2012 devkit folder, whose trainval joins VOC2007's (the paper's VOC07+12)."),
        on_bad_file_option(),
        run_options("table5", "Seed of the training order and of the box-proportion split."), out_option(),
    ])(command)


def produce_table(name: str, out: Path, files: list[str] | None, flags: dict):
    """The registered table's output folder prepared, its options from `flags`, its runs brought to finished:
    (table, options, result); result None on torchrun ranks other than 0."""
    from gwapbench.outdir import prepare_output_folder
    from gwapbench.tables.registry import table as registered
    from gwapbench.tables.table import produce

    table = registered(name)
    prepare_output_folder(out, table.output_files() if files is None else files)
    options = table.options(**flags)
    exclude = getattr(getattr(options.extra, "localization", None), "exclude", None)
    if exclude is not None:
        click.echo(f"blacklist: {int(exclude.sum())} of {len(exclude)} images left out of the localization error")
    return table, options, produce(table, options, on_run=click.echo)


def write_table(name: str, out: Path, flags: dict) -> None:
    """Produce table `name`, write its files into `out`, print it, the skipped files and what was written."""
    from gwapbench.tables.render import to_markdown, write_table as write_files

    table, _, result = produce_table(name, out, None, flags)
    if result is None:  # a torchrun rank other than 0
        return
    paths = write_files(table, result, out)
    click.echo(to_markdown(table.title, result.rows))
    for line in result.skipped_files:
        click.echo(line)
    click.echo("wrote " + ", ".join(str(p) for p in paths))


def draw_figure(figure: str, table_name: str, out: Path, image_count: int, flags: dict) -> None:
    """Produce the table, then draw its figure (`Table.figure` -> gwapbench.figures' layout) into `out`."""
    from importlib import import_module

    from gwapbench.atomic import write_bytes_atomic
    from gwapbench.figures.render import png_bytes

    table, options, result = produce_table(table_name, out, [f"{figure}.png"], flags)
    if result is None:  # a torchrun rank other than 0
        return
    layout_of = getattr(import_module(FIGURE_LAYOUTS[figure]), f"{figure}_layout")
    path = out / f"{figure}.png"
    write_bytes_atomic(path, png_bytes(layout_of(*table.figure(result, options, image_count))))
    click.echo(f"wrote {path}")


@click.command("table1")
@voc_options("table1")
def table1_command(out: Path, **flags) -> None:
    """Table I: VOC classification mAP of GAP, the GWAP ablations, GWAP and the oracle GWAP-gt.

    Trains the runs not yet in --runs-dir, evaluates them with the devkit-exact 11-point AP, and
    writes table1.csv, table1.md and table1_per_class.csv beside the paper's numbers.

    \b
    Example:
      gwapbench table1 --net googlenet --data voc07 --voc-root VOCdevkit/VOC2007
      gwapbench table1 --net tiny --data synthetic
      torchrun --standalone --nproc_per_node 4 -m gwapbench table1 --net googlenet --voc-root VOCdevkit/VOC2007
    """
    write_table("table1", out, flags)


CAM_MAP_OPTION = click.option(
    "--cam-map", type=RegistryChoice("cam_maps"), default="predicted", show_default=True,
    help="For CAM heads (gap): the map of the predicted classes (per-pixel max), of the ground-truth classes, "
         "or of the top-1 class.")


@click.command("table2")
@voc_options("table2")
@CAM_MAP_OPTION
def table2_command(out: Path, **flags) -> None:
    """Table II: Otsu F-measure of the same runs' localization maps, and a centre-prior baseline.

    Reuses table1's runs (same flags, same runs): only evaluation from stored predictions.

    \b
    Example:
      gwapbench table2 --net googlenet --data voc07 --voc-root VOCdevkit/VOC2007
      gwapbench table2 --net tiny --data synthetic
    """
    write_table("table2", out, flags)


@click.command("table3")
@ilsvrc_options("table3")
def table3_command(out: Path, **flags) -> None:
    """Table III: top-1 / top-5 classification error on ILSVRC val.

    Rows: the CAM-style models trained on ILSVRC (gap, gmp, gwap on --net) and torchvision's
    pretrained classifiers as shipped (original). Runs not yet in --runs-dir are trained first.

    \b
    Example:
      gwapbench table3 --imagenet-root /data/imagenet --methods original
      gwapbench table3 --net tiny --data synthetic
    """
    write_table("table3", out, flags)


@click.command("table4")
@ilsvrc_options("table4")
@box_rule_options
@blacklist_option
@click.option("--scales", default="224,448,672", show_default=True, callback=_sizes,
              help="Input sizes whose maps are averaged for the multi-scale rows (one size: no such row).")
def table4_command(out: Path, **flags) -> None:
    """Table IV: top-1 localization error on ILSVRC val (single-scale and multi-scale maps).

    Rows: gap, gmp, gwap on --net (single-scale, and averaged over --scales) and backprop
    saliency of torchvision's googlenet and vgg16. Reuses table3's runs.

    \b
    Example:
      gwapbench table4 --imagenet-root /data/imagenet --blacklist ILSVRC2015_clsloc_validation_blacklist.txt
      gwapbench table4 --net tiny --data synthetic --scales 128,256
    """
    write_table("table4", out, flags)


@click.command("table5")
@detection_options
@methods_option("Comma-separated subset of Table V's rows.", "rfcn,rfcn_gap,rfcn_gwap,rfcn_gwap_gap")
@click.option("--proportions", default="0.01,0.02,0.05,0.1", show_default=True,
              callback=lambda ctx, param, value: parse_floats(value, "--proportions"),
              help="Comma-separated proportions of training images that keep their boxes.")
def table5_command(out: Path, **flags) -> None:
    """Table V: R-FCN, and R-FCN with GAP, GWAP or both, trained with boxes on few images.

    Trains the runs not yet in --runs-dir (one per method and proportion), evaluates them on VOC2007
    test (devkit mAP and py-faster-rcnn's IoU > 0.5 convention), writes table5.csv and table5.md.

    \b
    Example:
      gwapbench table5 --voc-root VOCdevkit/VOC2007 --voc2012-root VOCdevkit/VOC2012
      gwapbench table5 --net tiny --data synthetic --schedule ci --proportions 0.1
      torchrun --standalone --nproc_per_node 2 -m gwapbench table5 --net tiny --data synthetic --schedule ci
    """
    write_table("table5", out, flags)


@click.group("figures")
def figures_group() -> None:
    """The paper's figures from stored predictions (training the runs they need first)."""


@figures_group.command("fig7", short_help="Fig. 7: Table II's maps, Otsu masks and F per image, GT boxes.")
@voc_options("table2", out_help="Folder for fig7.png.")
@CAM_MAP_OPTION
@click.option("--images", "image_count", type=click.IntRange(1, 50), default=4, show_default=True,
              help="How many test images (the first ones of the test split).")
def fig7_command(out: Path, image_count: int, **flags) -> None:
    """Fig. 7: the maps of Table II's methods side by side on the same test images.

    Each map is drawn min-max normalized on one colour range per map kind (a colorbar each), with
    the Otsu mask Table II scores outlined, the image's F-measure and the GT boxes (named in the
    image column). Trains the runs not yet in --runs-dir (table1's runs); writes fig7.png into --out.

    \b
    Example:
      gwapbench figures fig7 --net tiny --data synthetic --images 6
    """
    draw_figure("fig7", "table2", out, image_count, flags)


@figures_group.command("fig8", short_help="Fig. 8: GWAP maps per scale, their mean, GAP's CAM, Table IV's boxes.")
@ilsvrc_options("table4", out_help="Folder for fig8.png.")
@box_rule_options
@click.option("--scales", default="224,448,672", show_default=True, callback=_sizes,
              help="Input sizes of the GWAP weight maps.")
@click.option("--images", "image_count", type=click.IntRange(1, 50), default=4, show_default=True,
              help="How many val images (the first ones).")
def fig8_command(out: Path, image_count: int, methods: tuple[str, ...], **flags) -> None:
    """Fig. 8: per val image, GWAP's weight maps at each of --scales, their average, and GAP's top-1 CAM.

    Each map is drawn min-max normalized on one colour range per map kind (a colorbar each), with
    the GT boxes and the top-1 box that table4 scores with the same --threshold, --box-method,
    --normalize and --scales (computed by table4's own code). Trains (or reuses) the gwap and gap runs of table4;
    writes fig8.png into --out.

    \b
    Example:
      gwapbench figures fig8 --net tiny --data synthetic --scales 128,256 --images 6
    """
    if methods:
        raise InputError("--methods: fig8 always draws the gwap and gap runs (leave --methods out)")
    draw_figure("fig8", "table4", out, image_count, {**flags, "methods": ("gwap", "gap"), "every_scale": True})


@figures_group.command("fig9", short_help="Fig. 9: R-FCN detections, GT boxes and the weight map alpha_c.")
@detection_options
@click.option("--method", type=RegistryChoice("weight_map_methods"), default="rfcn_gwap",
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
    draw_figure("fig9", "table5", out, image_count, {**flags, "methods": (method,), "proportions": (proportion,)})


TABLE_COMMANDS = (table1_command, table2_command, table3_command, table4_command, table5_command, figures_group)
