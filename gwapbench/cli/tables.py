"""Table commands: `table1`, `table2` (and `figures fig7`, which shows the same runs' maps).

Each parses its flags, calls gwapbench.tables, prints and writes. The engine (torch) is imported
inside the commands, so `gwapbench --help` stays light.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import click

from gwapbench.cli.options import precision_option, seed_option
from gwapbench.errors import InputError

NETS = ("caffenet", "googlenet", "vgg16", "resnet50", "tiny")
DATA = ("voc07", "voc", "synthetic")
CAM_MAPS = ("predicted", "gt", "top1")


def parse_overrides(values: tuple[str, ...]) -> tuple[tuple[str, object], ...]:
    """KEY=VALUE pairs (numbers parsed as int or float), sorted by key; InputError on a malformed one, an unknown
    key or a value out of its field's type and range (`engine.schedules.check_overrides`)."""
    from gwapbench.engine.schedules import check_overrides

    pairs = {}
    for text in values:
        key, sep, raw = text.partition("=")
        if not sep or not key or not raw:
            raise InputError(f"--override {text!r}: expected KEY=VALUE, e.g. iterations=200")
        try:
            value: object = int(raw)
        except ValueError:
            try:
                value = float(raw)
            except ValueError as err:
                raise InputError(f"--override {text!r}: the value must be a number") from err
        pairs[key] = value
    overrides = tuple(sorted(pairs.items()))
    check_overrides(overrides)
    return overrides


def table_options(command: Callable, out_help: str = "Folder for the table's CSV and Markdown files.") -> Callable:
    """The flags every table command (and fig7, with its own `out_help`) shares."""
    options = [
        click.option("--net", type=click.Choice(NETS), required=True, help="Backbone."),
        click.option("--data", type=click.Choice(DATA), default="voc07", show_default=True,
                     help="voc07: a VOC2007 devkit; voc: any VOC-layout folder (--classes needed); "
                          "synthetic: the built-in generator (no download)."),
        click.option("--voc-root", type=click.Path(path_type=Path), default=None,
                     help="Devkit folder (default VOCdevkit/VOC2007)."),
        click.option("--classes", default=None, help="Comma-separated class names (with --data voc)."),
        click.option("--train-split", default="trainval", show_default=True),
        click.option("--test-split", default="test", show_default=True),
        click.option("--on-bad-file", type=click.Choice(("fail", "skip")), default="fail", show_default=True,
                     help="skip: leave unreadable images and bad annotations out (listed at the end)."),
        click.option("--schedule", type=click.Choice(("paper", "quick", "ci")), default=None,
                     help="Training schedule (default: quick for --net tiny, paper otherwise)."),
        click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Replace a schedule field, e.g. --override iterations=200 (part of the run id)."),
        click.option("--methods", default=None, help="Comma-separated subset of the table's rows (default: all)."),
        seed_option(),
        click.option("--weights", default="default", show_default=True,
                     help='Backbone weights: "default" (torchvision ImageNet), "none", or a file path.'),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:INDEX."),
        precision_option(),
        click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True,
                     help="Data-loader worker processes."),
        click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
                     help="The run store (trained models, predictions, metrics)."),
        click.option("--out", type=click.Path(path_type=Path), default=Path("out"), show_default=True,
                     help=out_help),
    ]
    return functools.reduce(lambda f, option: option(f), reversed(options), command)


def _split_names(text: str | None, argument: str) -> list[str] | None:
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise InputError(f"{argument} {text!r}: expected comma-separated names")
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice is not None:
        raise InputError(f"{argument} {text!r}: {twice} is given twice")
    return names


def _table_setup(net, data, voc_root, classes, train_split, test_split, on_bad_file, schedule, overrides, methods,
                 seed, weights, device, precision, workers, runs_dir, cam_map="predicted"):
    from gwapbench.engine.inputs import EngineOptions
    from gwapbench.engine.precision import resolve_precision
    from gwapbench.engine.schedules import default_schedule_name
    from gwapbench.engine.sources import resolve_data
    from gwapbench.tables.spec import TableOptions

    overrides, methods = parse_overrides(overrides), tuple(_split_names(methods, "--methods") or ())
    config = resolve_data(data, runs_dir, voc_root, _split_names(classes, "--classes"), train_split, test_split,
                          on_bad_file)
    return TableOptions(net=net, data=config, runs_dir=runs_dir, schedule=schedule or default_schedule_name(net),
                        seed=seed, overrides=overrides, weights=weights,
                        engine=EngineOptions(device=device, workers=workers,
                                             precision=resolve_precision(precision, device)),
                        cam_map=cam_map, methods=methods)


def _produce_and_write(spec_name: str, out: Path, setup_args: dict) -> None:
    from gwapbench.outdir import prepare_output_folder
    from gwapbench.tables.registry import table_spec
    from gwapbench.tables.render import output_files
    from gwapbench.tables.spec import produce_table

    spec = table_spec(spec_name)
    prepare_output_folder(out, output_files(spec))
    options = _table_setup(**setup_args)
    result = produce_table(spec, options, on_run=click.echo)
    if result is None:  # a torchrun rank other than 0
        return
    write_and_print(spec, result, out)


def write_and_print(spec, result, out: Path) -> None:
    """Write a produced table's files into `out`, print it, the skipped files and what was written."""
    from gwapbench.tables.render import to_markdown, write_table

    paths = write_table(spec, result, out)
    click.echo(to_markdown(spec.title, result.rows))
    for line in result.skipped_files:
        click.echo(line)
    click.echo("wrote " + ", ".join(str(p) for p in paths))


@click.command("table1")
@table_options
def table1_command(out: Path, **setup_args) -> None:
    """Table I: VOC classification mAP of GAP, the GWAP ablations, GWAP and the oracle GWAP-gt.

    Trains the runs not yet in --runs-dir, evaluates them with the devkit-exact 11-point AP, and
    writes table1.csv, table1.md and table1_per_class.csv beside the paper's numbers.

    \b
    Example:
      gwapbench table1 --net googlenet --data voc07 --voc-root VOCdevkit/VOC2007
      gwapbench table1 --net tiny --data synthetic
      torchrun --standalone --nproc_per_node 4 -m gwapbench table1 --net googlenet --voc-root VOCdevkit/VOC2007
    """
    _produce_and_write("table1", out, setup_args)


@click.command("table2")
@table_options
@click.option("--cam-map", type=click.Choice(CAM_MAPS), default="predicted", show_default=True,
              help="For CAM heads (gap): the map of the predicted classes (per-pixel max), of the "
                   "ground-truth classes, or of the top-1 class.")
def table2_command(out: Path, **setup_args) -> None:
    """Table II: Otsu F-measure of the same runs' localization maps, and a centre-prior baseline.

    Reuses table1's runs (same flags, same runs): only evaluation from stored predictions.

    \b
    Example:
      gwapbench table2 --net googlenet --data voc07 --voc-root VOCdevkit/VOC2007
      gwapbench table2 --net tiny --data synthetic
    """
    _produce_and_write("table2", out, setup_args)


@click.group("figures")
def figures_group() -> None:
    """The paper's figures from stored predictions (training the runs they need first)."""


@figures_group.command("fig7", short_help="Fig. 7: Table II's maps, Otsu masks and F per image, GT boxes.")
@functools.partial(table_options, out_help="Folder for fig7.png.")
@click.option("--cam-map", type=click.Choice(CAM_MAPS), default="predicted", show_default=True,
              help="Which stored CAM to show for CAM heads (see table2).")
@click.option("--images", "image_count", type=click.IntRange(1, 50), default=4, show_default=True,
              help="How many test images (the first ones of the test split).")
def fig7_command(out: Path, image_count: int, **setup_args) -> None:
    """Fig. 7: the maps of Table II's methods side by side on the same test images.

    Each map is drawn min-max normalized on one colour range per map kind (a colorbar each), with
    the Otsu mask Table II scores outlined, the image's F-measure and the GT boxes (named in the
    image column). Trains the runs not yet in --runs-dir (table1's runs); writes fig7.png into --out.

    \b
    Example:
      gwapbench figures fig7 --net tiny --data synthetic --images 6
    """
    from gwapbench.atomic import write_bytes_atomic
    from gwapbench.engine.store import RunStore
    from gwapbench.figures.render import png_bytes
    from gwapbench.figures.voc import fig7_layout
    from gwapbench.outdir import prepare_output_folder
    from gwapbench.tables.registry import table_spec
    from gwapbench.tables.spec import produce_table, read_run_data
    from gwapbench.tables.table2 import scored_map_name

    prepare_output_folder(out, ["fig7.png"])
    options = _table_setup(**setup_args)
    result = produce_table(table_spec("table2"), options, on_run=click.echo)
    if result is None:
        return
    store = RunStore(options.runs_dir)
    columns = []
    for row in result.rows:
        if row["run_id"]:
            stored = store.run(row["run_id"]).load_predictions()
            names = [str(n) for n in stored["map_names"]]
            name = scored_map_name(names, options.cam_map)
            columns.append((row["method"], name, stored["maps"][:, names.index(name)]))
    test = read_run_data(options.data)[0].test
    source = f"{options.net} on {options.data.kind}, schedule {options.schedule}"
    layout = fig7_layout(test, columns, range(min(image_count, len(test))), options.data.classes, source)
    path = out / "fig7.png"
    write_bytes_atomic(path, png_bytes(layout))
    click.echo(f"wrote {path}")
