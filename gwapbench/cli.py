"""The `gwapbench` command line: a thin click group (parse, call the library, print, exit code).

User errors (`gwapbench.errors.InputError`, and a missing weights file) print as one line on
stderr and exit with code 2, without a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gwapbench import __version__
from gwapbench.data.synthetic import DEFAULT_IMAGES, default_split_sizes, make_synthetic, parse_split_sizes
from gwapbench.errors import InputError
from reference_models.backbones import WeightsNotFoundError

USER_ERRORS = (InputError, WeightsNotFoundError)


class UserErrorGroup(click.Group):
    """A click group that turns user errors into a one-line message and exit code 2."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except USER_ERRORS as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(2)


@click.group(cls=UserErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gwapbench")
def cli() -> None:
    """Evaluate and benchmark weakly supervised localization with global pooling.

    \b
    Example:
      gwapbench make-synthetic --layout voc --out data/synthetic-voc
    """


@cli.command("make-synthetic")
@click.option("--layout", type=click.Choice(["voc", "ilsvrc"]), required=True, help="Which real layout to write.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder (created; must be empty).")
@click.option("--images", type=click.IntRange(min=1), default=None,
              help="Total images (default 600 for voc: train/val/test 1:1:2; 400 for ilsvrc: 3/4 train, per class).")
@click.option("--splits", default=None,
              help='Exact split sizes instead of --images: voc "train=150,val=150,test=300" (images), '
                   'ilsvrc "train=30,val=10" (images per class).')
@click.option("--seed", type=int, default=0, show_default=True, help="Seed; the same seed writes identical files.")
@click.option("--size", type=click.IntRange(32, 4096), default=160, show_default=True,
              help="Longer image side in pixels.")
@click.option("--jpeg-quality", type=click.IntRange(1, 100), default=90, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out folder.")
def make_synthetic_command(
    layout: str, out: Path, images: int | None, splits: str | None, seed: int, size: int, jpeg_quality: int,
    overwrite: bool,
) -> None:
    """Write a procedural dataset in the real VOC devkit or ILSVRC CLS-LOC layout.

    \b
    Example:
      gwapbench make-synthetic --layout voc --out data/synthetic-voc --images 600 --seed 0
      gwapbench make-synthetic --layout ilsvrc --out data/synthetic-ilsvrc --splits train=30,val=10
    """
    if images is not None and splits is not None:
        raise InputError("--images and --splits: give one of them, not both")
    if splits is not None:
        sizes = parse_split_sizes(splits, layout)
    else:
        sizes = default_split_sizes(layout, images or DEFAULT_IMAGES[layout])
    samples = make_synthetic(layout, out, sizes, size=size, seed=seed, overwrite=overwrite, jpeg_quality=jpeg_quality)
    click.echo(f"wrote the synthetic {layout} layout to {out}")
    click.echo(f"{'split':<10} {'images':>7} {'objects':>8} {'difficult':>10}")
    for split, split_samples in samples.items():
        objects = sum(len(s.boxes) for s in split_samples)
        difficult = sum(int(s.difficult.sum()) for s in split_samples)
        click.echo(f"{split:<10} {len(split_samples):>7} {objects:>8} {difficult:>10}")


def main() -> None:
    """Console-script entry point."""
    cli()
