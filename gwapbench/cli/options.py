"""Click options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable)

SEED_MAX = 2**32 - 1  # numpy's SeedSequence and torch.manual_seed both take 0..2**32-1


def seed_option(help: str | None = None) -> Callable[[F], F]:
    """--seed, one rule for every table command: an integer in 0..2**32-1, checked by the parser."""
    return click.option("--seed", type=click.IntRange(0, SEED_MAX), default=0, show_default=True, help=help)


def precision_option() -> Callable[[F], F]:
    """--precision auto|fp32|bf16|fp16 of training and prediction (gwapbench.engine.precision; part of the run id)."""
    return click.option("--precision", type=click.Choice(("auto", "fp32", "bf16", "fp16")), default="auto",
                        show_default=True,
                        help="Numeric precision: auto = fp32 on CPU; on CUDA bf16 where the GPU has it natively, "
                             "else fp16 with loss scaling (part of the run id).")


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses NaN (FloatRange lets it through: every comparison with NaN is false)."""

    def convert(self, value, param, ctx):  # type: ignore[no-untyped-def]
        number = super().convert(value, param, ctx)
        if number != number:
            self.fail(f"{value!r} is not a number in the range {self._describe_range()}.", param, ctx)
        return number

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
    for option in reversed(_DATASET_ROOT_OPTIONS):
        command = option(command)
    return command
