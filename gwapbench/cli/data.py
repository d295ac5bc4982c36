"""Data commands: `make-synthetic` and `check-data`."""

from __future__ import annotations

from pathlib import Path

import click

from gwapbench.cli.options import RegistryChoice, dataset_root_options
from gwapbench.errors import InputError
from gwapbench.outdir import prepare_output_folder

CHECK_DATA_FILES = ("bad_files.json", "class_counts.csv")


@click.command("make-synthetic")
@click.option("--layout", type=click.Choice(["voc", "ilsvrc"]), required=True, help="Which real layout to write.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Output folder (created; must be new or empty, or one gwapbench wrote with --overwrite).")
@click.option("--images", type=int, default=None,
              help="Total images (default 600 for voc: train/val/test 1:1:2; 400 for ilsvrc: 3/4 train, per class).")
@click.option("--splits", default=None,
              help='Exact split sizes instead of --images: voc "train=150,val=150,test=300" (images), '
                   'ilsvrc "train=30,val=10" (images per class).')
@click.option("--seed", type=int, default=0, show_default=True, help="Seed; the same seed writes identical files.")
@click.option("--size", type=click.IntRange(32, 4096), default=160, show_default=True,
              help="Longer image side in pixels.")
@click.option("--jpeg-quality", type=click.IntRange(1, 100), default=90, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an --out folder that gwapbench wrote (it carries a marker).")
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
    from gwapbench.data.synthetic import (
        DEFAULT_IMAGES, MAX_SEED, default_split_sizes, make_synthetic, parse_split_sizes, total_images,
    )

    if images is not None and splits is not None:
        raise InputError("--images and --splits: give one of them, not both")
    if not 0 <= seed <= MAX_SEED:
        raise InputError(f"--seed {seed}: must be in 0..{MAX_SEED}")
    if splits is not None:
        sizes = parse_split_sizes(splits, layout)
    else:
        wanted = DEFAULT_IMAGES[layout] if images is None else images
        sizes = default_split_sizes(layout, wanted)
        if total_images(layout, sizes) != wanted:
            click.echo(f"note: --images {wanted} rounded to {total_images(layout, sizes)} "
                       f"(the {layout} layout writes the same number of images for every class)")
    samples = make_synthetic(layout, out, sizes, size=size, seed=seed, overwrite=overwrite, jpeg_quality=jpeg_quality)
    click.echo(f"wrote the synthetic {layout} layout to {out}")
    click.echo(f"{'split':<10} {'images':>7} {'objects':>8} {'difficult':>10}")
    for split, split_samples in samples.items():
        objects = sum(len(s.boxes) for s in split_samples)
        difficult = sum(int(s.difficult.sum()) for s in split_samples)
        click.echo(f"{split:<10} {len(split_samples):>7} {objects:>8} {difficult:>10}")


@click.command("check-data")
@dataset_root_options
@click.option("--on-bad-file", type=RegistryChoice("on_bad_file"), default="fail", show_default=True,
              help="fail: stop at the first bad file; skip: leave bad files out and report them.")
@click.option("--verify-images", is_flag=True,
              help="Decode every image in full (finds corrupt or truncated JPEGs); else only headers are read.")
@click.option("--strict", is_flag=True,
              help="Fail (exit 2) when per-class lists and XML objects disagree on an image label.")
@click.option("--metadata-only", is_flag=True,
              help="--wsol-metadata: check the metadata files alone (ids, labels, sizes, boxes; with --mask-root "
                   "the OpenImages mask files' headers), reading no image.")
@click.option("--mask-root", type=click.Path(path_type=Path), default=None,
              help="With --metadata-only on OpenImages metadata: the folder its mask paths are relative to.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Folder for bad_files.json and class_counts.csv (checked before anything is read).")
def check_data_command(
    voc_root: Path | None, imagenet_root: Path | None, wsol_metadata: Path | None, split: str | None,
    classes: str | None, on_bad_file: str, verify_images: bool, strict: bool, metadata_only: bool,
    mask_root: Path | None, out: Path | None,
) -> None:
    """Read a dataset with gwapbench's readers and print what it holds and what was skipped.

    \b
    Example:
      gwapbench check-data --voc-root VOCdevkit/VOC2007 --split test --verify-images
      gwapbench check-data --voc-root BCCD --split trainval --classes RBC,WBC,Platelets --on-bad-file skip --out runs/bccd
      gwapbench check-data --wsol-metadata metadata/OpenImages/test --metadata-only --mask-root dataset/OpenImages
    """
    from gwapbench.data.summary import class_counts

    if (metadata_only or mask_root is not None) and (wsol_metadata is None or verify_images):
        raise InputError("--metadata-only and --mask-root apply to --wsol-metadata without --verify-images")
    if mask_root is not None and not metadata_only:
        raise InputError("--mask-root: give it with --metadata-only")
    if out is not None:
        prepare_output_folder(out, CHECK_DATA_FILES)
    samples, names, report = _read(voc_root, imagenet_root, wsol_metadata, split, classes, on_bad_file,
                                   verify_images, mask_root, metadata_only)
    counts = class_counts(samples, names)
    _print_counts(len(samples), counts)
    click.echo(report.summary())
    for item in [*report.skipped, *report.label_disagreements]:
        click.echo(f"  {item.describe()}")
    if strict and report.label_disagreements:
        raise InputError(f"--strict: {len(report.label_disagreements)} label disagreement(s) between per-class "
                         f"lists and XMLs; first: {report.label_disagreements[0].describe()}")
    if out is not None:
        _write_report(out, report, counts)


def _read(voc_root, imagenet_root, wsol_metadata, split, classes, on_bad_file, verify_images, mask_root,
          metadata_only: bool):
    """(samples, class names, bad-file report) of the dataset: with `metadata_only` wsolevaluation's metadata
    alone (and its mask files' headers under `mask_root`), else read in full, image headers checked unless a
    full decode already did."""
    from gwapbench.data.image_files import check_image_headers
    from gwapbench.data.roots import read_dataset_root
    from gwapbench.data.wsol_check import check_wsol_metadata

    if metadata_only:
        checked = check_wsol_metadata(wsol_metadata, mask_root)
        dataset = checked.dataset
    else:
        dataset = read_dataset_root(voc_root, imagenet_root, wsol_metadata, split, classes, on_bad_file, verify_images)
    samples, report = dataset.samples, dataset.report
    names = dataset.class_names or [str(index) for index in range(samples[0].num_classes if samples else 0)]
    if metadata_only:
        masks = ("" if dataset.mask_entries is None else "; mask files not checked (give --mask-root)"
                 if checked.masks_checked is None else f"; {checked.masks_checked} mask files' headers read")
        click.echo(f"metadata only: images not read{masks}")
    elif not verify_images:  # a full decode has already checked every image
        samples = check_image_headers(samples, report)
    return samples, names, report


def _print_counts(images: int, counts) -> None:
    """The dataset's totals, and one line per class when there are at most 50."""
    click.echo(f"{images} images, {sum(c.objects for c in counts)} objects "
               f"({sum(c.difficult_objects for c in counts)} difficult), {len(counts)} classes")
    if len(counts) <= 50:
        click.echo(f"{'class':<16} {'positive':>8} {'difficult-only':>15} {'objects':>8} {'difficult':>10}")
        for c in counts:
            click.echo(f"{c.name:<16} {c.positive_images:>8} {c.difficult_only_images:>15} {c.objects:>8} "
                       f"{c.difficult_objects:>10}")


def _write_report(out: Path, report, counts) -> None:
    """bad_files.json and class_counts.csv into `out` (already prepared)."""
    from gwapbench.atomic import write_text_atomic
    from gwapbench.data.bad_files import save_bad_file_report

    save_bad_file_report(report, out / CHECK_DATA_FILES[0])
    rows = ["class,positive_images,difficult_only_images,objects,difficult_objects"] + [
        f"{c.name},{c.positive_images},{c.difficult_only_images},{c.objects},{c.difficult_objects}" for c in counts
    ]
    write_text_atomic(out / CHECK_DATA_FILES[1], "\n".join(rows) + "\n")
    click.echo(f"wrote {out / CHECK_DATA_FILES[0]} and {out / CHECK_DATA_FILES[1]}")
