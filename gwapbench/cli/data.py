"""Data commands: `make-synthetic` and `check-data`."""

from __future__ import annotations

from pathlib import Path

import click

from gwapbench.atomic import write_text_atomic
from gwapbench.cli.options import dataset_root_options
from gwapbench.data.bad_files import ON_BAD_FILE_CHOICES, save_bad_file_report
from gwapbench.data.roots import read_dataset_root
from gwapbench.data.summary import class_counts
from gwapbench.data.synthetic import DEFAULT_IMAGES, default_split_sizes, make_synthetic, parse_split_sizes
from gwapbench.errors import InputError


@click.command("make-synthetic")
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


@click.command("check-data")
@dataset_root_options
@click.option("--on-bad-file", type=click.Choice(ON_BAD_FILE_CHOICES), default="fail", show_default=True,
              help="fail: stop at the first bad file; skip: leave bad files out and report them.")
@click.option("--verify-images", is_flag=True, help="Decode every image in full (finds corrupt or truncated JPEGs).")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for bad_files.json and class_counts.csv.")
def check_data_command(
    voc_root: Path | None, imagenet_root: Path | None, wsol_metadata: Path | None, split: str, classes: str | None,
    on_bad_file: str, verify_images: bool, out: Path | None,
) -> None:
    """Read a dataset with gwapbench's readers and print what it holds and what was skipped.

    \b
    Example:
      gwapbench check-data --voc-root VOCdevkit/VOC2007 --split test --verify-images
      gwapbench check-data --voc-root BCCD --split trainval --classes RBC,WBC,Platelets --on-bad-file skip --out runs/bccd
    """
    if out is not None and out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    dataset = read_dataset_root(voc_root, imagenet_root, wsol_metadata, split, classes, on_bad_file, verify_images)
    samples, report = dataset.samples, dataset.report
    names = dataset.class_names or [str(index) for index in range(samples[0].num_classes if samples else 0)]
    counts = class_counts(samples, names)
    click.echo(f"{len(samples)} images, {sum(c.objects for c in counts)} objects "
               f"({sum(c.difficult_objects for c in counts)} difficult), {len(names)} classes")
    if len(names) <= 50:
        click.echo(f"{'class':<16} {'images':>7} {'difficult-only':>15} {'objects':>8} {'difficult':>10}")
        for c in counts:
            click.echo(f"{c.name:<16} {c.positive_images:>7} {c.difficult_only_images:>15} {c.objects:>8} "
                       f"{c.difficult_objects:>10}")
    click.echo(report.summary())
    for item in report.skipped:
        click.echo(f"  skipped {item.path}: {item.reason}")
    if out is not None:
        save_bad_file_report(report, out / "bad_files.json")
        rows = ["class,positive_images,difficult_only_images,objects,difficult_objects"] + [
            f"{c.name},{c.positive_images},{c.difficult_only_images},{c.objects},{c.difficult_objects}" for c in counts
        ]
        write_text_atomic(out / "class_counts.csv", "\n".join(rows) + "\n")
        click.echo(f"wrote {out / 'bad_files.json'} and {out / 'class_counts.csv'}")
