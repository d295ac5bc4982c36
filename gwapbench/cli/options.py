"""Click options shared by several commands, and the parsing of their values.

Choices come from the registries that define them (`gwapbench.tables.registry.choices`), looked up when a
value is checked or a command's help is shown, never when `gwapbench --help` starts.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from gwapbench.errors import InputError

F = TypeVar("F", bound=Callable)

SEED_MAX = 2**32 - 1  # numpy's SeedSequence and torch.manual_seed both take 0..2**32-1


class RegistryChoice(click.Choice):
    """click.Choice whose values are one kind of `gwapbench.tables.registry.choices`, looked up on first use."""

    def __init__(self, kind: str) -> None:  # noqa: D107 - the choices are a property
        self.kind = kind
        self.case_sensitive = True

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]
        from gwapbench.tables.registry import choices

        return choices(self.kind)


def precision_option() -> Callable[[F], F]:
    """--precision auto|fp32|bf16|fp16 of training and prediction (gwapbench.engine.precision; part of the run id)."""
    return click.option("--precision", type=RegistryChoice("precisions"), default="auto", show_default=True,
                        help="Numeric precision: auto = fp32 on CPU; on CUDA bf16 where the GPU has it natively, "
                             "else fp16 with loss scaling (part of the run id).")


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses NaN (FloatRange lets it through: every comparison with NaN is false)."""

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        number = super().convert(value, param, ctx)
        if number != number:
            self.fail(f"{value!r} is not a number in the range {self._describe_range()}.", param, ctx)
        return number


def split_names(text: str | None, argument: str) -> list[str] | None:
    """"a,b" -> ["a", "b"] (None for None); InputError on an empty name or a name given twice."""
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise InputError(f"{argument} {text!r}: expected comma-separated names")
    twice = next((name for name in names if names.count(name) > 1), None)
    if twice is not None:
        raise InputError(f"{argument} {text!r}: {twice} is given twice")
    return names


def parse_ints(text: str, argument: str, low: int = 1, example: str = "224,448,672") -> tuple[int, ...]:
    """Comma-separated integers >= low ("224,448,672"); InputError naming the argument, with `example`."""
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isascii() and p.isdigit() and int(p) >= low for p in parts):
        raise InputError(f"{argument} {text!r}: expected comma-separated integers >= {low}, e.g. {example}")
    return tuple(int(p) for p in parts)


def parse_floats(text: str, argument: str) -> tuple[float, ...]:
    """"0.01,0.1" -> (0.01, 0.1); InputError on a value that is not a number."""
    values = []
    for name in split_names(text, argument) or ():
        try:
            values.append(float(name))
        except ValueError as err:
            raise InputError(f"{argument} {text!r}: {name!r} is not a number") from err
    return tuple(values)


def parse_overrides(values: tuple[str, ...]) -> tuple[tuple[str, object], ...]:
    """KEY=VALUE pairs (numbers parsed as int or float), sorted by key; InputError on a malformed one (the keys
    and ranges are the library's to check)."""
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
    return tuple(sorted(pairs.items()))


def apply(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    """One decorator adding `options` in the order given (as in --help)."""
    return lambda command: functools.reduce(lambda f, option: option(f), reversed(options), command)


def seed_option(help: str | None = None) -> Callable[[F], F]:
    """--seed, one rule for every table command: an integer in 0..2**32-1, checked by the parser."""
    return click.option("--seed", type=click.IntRange(0, SEED_MAX), default=0, show_default=True, help=help)


def on_bad_file_option(help: str | None = None) -> Callable[[F], F]:
    return click.option("--on-bad-file", type=RegistryChoice("on_bad_file"), default="fail", show_default=True,
                        help=help)


def out_option(help: str = "Folder for the table's CSV and Markdown files.") -> Callable[[F], F]:
    return click.option("--out", type=click.Path(path_type=Path), default=Path("out"), show_default=True, help=help)


def run_options(table: str, seed_help: str | None = None) -> Callable[[F], F]:
    """--schedule (the table's schedules; default by net), --override, --seed, --weights, --device, --precision,
    --workers, --runs-dir: how a table command trains and runs."""
    return apply([
        click.option("--schedule", type=RegistryChoice(f"schedules:{table}"), default=None,
                     help="Training schedule (default: quick for --net tiny, paper otherwise)."),
        click.option("--override", "overrides", multiple=True, metavar="KEY=VALUE", callback=_overrides,
                     help="Replace a schedule field, e.g. --override iterations=200 (part of the run id)."),
        seed_option(seed_help),
        click.option("--weights", default="default", show_default=True,
                     help='Backbone weights: "default" (torchvision ImageNet), "none", or a file path.'),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:INDEX."),
        precision_option(),
        click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True,
                     help="Data-loader worker processes."),
        click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
                     help="The run store (trained models, predictions, metrics)."),
    ])


def methods_option(help: str = "Comma-separated subset of the table's rows (default: all).",
                   default: str | None = None) -> Callable[[F], F]:
    return click.option("--methods", default=default, show_default=default is not None, callback=_methods, help=help)


def box_rule_options(command: F) -> F:
    """How boxes come out of the maps: --threshold, --box-method, --normalize."""
    return apply([
        click.option("--threshold", type=FiniteFloatRange(0, 1), default=0.2, show_default=True,
                     help="Foreground: pixels above this fraction of the map's maximum."),
        click.option("--box-method", type=RegistryChoice("box_methods"), default="largest_component",
                     show_default=True,
                     help="largest_component (the CAM paper's text) or cam_legacy (the CAM release's generator)."),
        click.option("--normalize", type=RegistryChoice("normalizations"), default=None,
                     help="Before the threshold: min-max to [0, 1] or none (default by map kind: minmax for GWAP's "
                          "class-agnostic alpha, as the paper; none for CAM and saliency maps, as the CAM release)."),
    ])(command)


def blacklist_option(command: F) -> F:
    return click.option("--blacklist", type=click.Path(path_type=Path), default=None,
                        help="The devkit's ILSVRC2015_clsloc_validation_blacklist.txt: images left out of the "
                             "localization error.")(command)


def _overrides(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[tuple[str, object], ...]:
    return parse_overrides(value)


def _methods(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    return tuple(split_names(value, "--methods") or ())


_DATASET_ROOT_OPTIONS = (
    click.option("--voc-root", type=click.Path(path_type=Path), help="A devkit folder, e.g. VOCdevkit/VOC2007."),
    click.option(
        "--imagenet-root", type=click.Path(path_type=Path),
        help="ILSVRC CLS-LOC val: a folder with ILSVRC/Annotations/CLS-LOC/val (XMLs) or LOC_val_solution.csv "
             "(sizes from ILSVRC/Data/CLS-LOC/val), and LOC_synset_mapping.txt; or a wsolevaluation metadata folder.",
    ),
    click.option(
        "--wsol-metadata", type=click.Path(path_type=Path),
        help="A wsolevaluation metadata folder (image_ids.txt, class_labels.txt, image_sizes.txt, localization.txt).",
    ),
    click.option("--split", default=None,
                 help="VOC ImageSets/Main/<split>.txt (default: test); several comma-separated splits are read "
                      "in order."),
    click.option("--classes", default=None,
                 help="Comma-separated VOC class names (default: the root's classes.txt, else the 20 VOC classes)."),
)


def dataset_root_options(command: F) -> F:
    """Add --voc-root, --imagenet-root, --wsol-metadata, --split and --classes (see `gwapbench.data.roots`)."""
    return apply(list(_DATASET_ROOT_OPTIONS))(command)
