"""`gwapbench evaluate`: any method's stored heat maps against a dataset's boxes."""

from __future__ import annotations

import json
from pathlib import Path

import click

from gwapbench.cli.options import FiniteFloatRange, RegistryChoice, dataset_root_options
from gwapbench.errors import InputError
from gwapbench.metrics.box_methods import BOX_CONVENTIONS
from gwapbench.outdir import prepare_output_folder

METRIC_NAMES = "fmeasure,gt-known,loc-error,max-box-acc,max-box-acc-v2,pxap"
OUTPUT_FILES = ("metrics.json", "metrics.csv")


def _check_out(out: Path | None, overwrite: bool) -> None:
    """Before any work: the output-folder rule of every command (`prepare_output_folder`: never a file in a folder
    gwapbench did not write), and in gwapbench's own folder earlier metrics files replaced only with --overwrite."""
    if out is None:
        return
    prepare_output_folder(out, OUTPUT_FILES)
    existing = [name for name in OUTPUT_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise InputError(f"--out {out}: {existing[0]} exists (pass --overwrite to replace it)")


def _write_results(out: Path, result: dict) -> None:
    from gwapbench.atomic import write_text_atomic

    write_text_atomic(out / "metrics.json", json.dumps(result, indent=2) + "\n")
    rows = ["metric,value"] + [f"{name},{value!r}" for name, value in result["metrics"].items()]
    write_text_atomic(out / "metrics.csv", "\n".join(rows) + "\n")
    click.echo(f"wrote {out / 'metrics.json'} and {out / 'metrics.csv'}")


@click.command("evaluate")
@click.option("--heatmaps", type=click.Path(path_type=Path), default=None,
              help="Required: an .npz (image id -> 2-D map), a run's predictions.npz (alpha, else the true class's map) "
                   "or a folder of <image id>.npy (wsolevaluation's layout).")
@dataset_root_options
@click.option("--predictions", type=click.Path(path_type=Path), default=None,
              help="CSV of class predictions for the localization error: image_id,top1[,...,top5] "
                   "(class indices or names) or image_id and one score column per class.")
@click.option("--metrics", "metric_list", default=None,
              help=f"Comma-separated subset of {METRIC_NAMES} (default: all the inputs allow).")
@click.option("--on-missing", type=RegistryChoice("on_missing"), default="fail", show_default=True,
              help="An image without a map (or prediction): fail, or leave it out and report the count.")
@click.option("--threshold", type=FiniteFloatRange(0, 1), default=0.2, show_default=True,
              help="Box threshold: fraction of the map's max (CAM).")
@click.option("--normalize", type=RegistryChoice("normalizations"), default="minmax", show_default=True,
              help="Before the box threshold (gt-known, loc-error): min-max to [0, 1] (maps of any method, as "
                   "wsolevaluation and the GWAP paper read them) or none (as stored). MaxBoxAcc always min-max "
                   "normalizes.")
@click.option("--box-convention", type=click.Choice(BOX_CONVENTIONS), default="wsolevaluation",
              show_default=True,
              help="MaxBoxAcc's boxes: wsolevaluation (its code, its published numbers) or components (each "
                   "component's own extent, largest by pixel count).")
@click.option("--mask-root", type=click.Path(path_type=Path), default=None,
              help="OpenImages metadata: the folder its mask paths are relative to (wsolevaluation's "
                   "<mask_root>/OpenImages; default: the --wsol-metadata folder).")
@click.option("--cam-curve-interval", type=FiniteFloatRange(1e-4, 1), default=0.01, show_default=True,
              help="PxAP and MaxBoxAcc: spacing of the CAM thresholds (wsolevaluation's --cam_curve_interval).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Folder for metrics.json and metrics.csv.")
@click.option("--overwrite", is_flag=True,
              help="Replace metrics.json / metrics.csv that gwapbench wrote into --out before (never files in a "
                   "folder gwapbench did not write).")
def evaluate_command(
    heatmaps: Path | None, voc_root: Path | None, imagenet_root: Path | None, wsol_metadata: Path | None, split: str,
    classes: str | None, predictions: Path | None, metric_list: str | None, on_missing: str, threshold: float,
    normalize: str, box_convention: str, mask_root: Path | None, cam_curve_interval: float, out: Path | None,
    overwrite: bool,
) -> None:
    """Evaluate any method's heat maps: Otsu F-measure, GT-known accuracy, MaxBoxAcc(V2), localization error, PxAP.

    One map per image, any size (resized to each image). See docs/evaluate.md.

    \b
    Example:
      gwapbench evaluate --heatmaps scoremaps/ --wsol-metadata metadata/ILSVRC/test --out runs/eval
      gwapbench evaluate --heatmaps scoremaps/ --wsol-metadata metadata/OpenImages/test --mask-root dataset/OpenImages
      gwapbench evaluate --heatmaps maps.npz --imagenet-root imagenet --predictions top5.csv --out runs/eval
      gwapbench evaluate --heatmaps maps.npz --voc-root VOCdevkit/VOC2007 --split test --metrics fmeasure
    """
    from gwapbench.data.roots import read_dataset_root
    from gwapbench.evaluation import evaluate_heatmaps, open_heatmaps, read_predictions

    if heatmaps is None:  # checked here, not by click, so that the error is one line like every user error
        raise InputError("--heatmaps: required (an .npz file or a folder of .npy maps)")
    _check_out(out, overwrite)
    metrics = [m.strip() for m in metric_list.split(",")] if metric_list else None
    dataset = read_dataset_root(voc_root, imagenet_root, wsol_metadata, split, classes)
    if not dataset.samples:
        raise InputError(f"{dataset.source}: no images")
    masks, ignore_masks = _mask_files(dataset, mask_root or wsol_metadata, mask_root is not None)
    guesses = None if predictions is None else read_predictions(predictions, dataset.samples[0].num_classes,
                                                                 dataset.class_names)
    with open_heatmaps(heatmaps) as store:
        result = evaluate_heatmaps(
            store, dataset.samples, guesses, box_origin=dataset.box_origin, images_root=dataset.images_root,
            metrics=metrics, on_missing=on_missing, threshold=threshold, normalize=normalize,
            box_convention=box_convention, masks=masks, ignore_masks=ignore_masks,
            cam_curve_interval=cam_curve_interval,
        )
    result = {"heatmaps": str(heatmaps), "dataset": dataset.source, **result}
    _print_result(result)
    if out is not None:
        _write_results(out, result)


def _mask_files(dataset, root: Path | None, mask_root_given: bool):
    """(masks, ignore masks) of wsolevaluation's OpenImages metadata, (None, None) for other data."""
    from gwapbench.data.wsol_masks import WsolMaskFiles

    if dataset.mask_entries is None:
        if mask_root_given:
            raise InputError("--mask-root applies to wsolevaluation's OpenImages metadata (mask rows) only")
        return None, None
    return WsolMaskFiles(dataset.mask_entries, root), WsolMaskFiles(dataset.mask_entries, root, ignore=True)


def _print_result(result: dict) -> None:
    skipped = result["skipped_no_map"] + result["skipped_no_prediction"]
    click.echo(f"{result['images']} of {result['dataset_images']} images evaluated"
               + (f"; skipped {result['skipped_no_map']} without a map, {result['skipped_no_prediction']} "
                  "without a prediction" if skipped else "")
               + (f"; {result['unused_maps']} maps matched no image" if result["unused_maps"] else ""))
    click.echo(f"{'metric':<24} {'value':>8}")
    for name, value in result["metrics"].items():
        click.echo(f"{name:<24} {100 * value:>7.2f}%")
