"""`localize-error`: parse the flags, call `gwapbench.tables.localize`, write and print."""

from __future__ import annotations

from pathlib import Path

import click

from gwapbench.cli.options import RegistryChoice, blacklist_option, box_rule_options, parse_ints


def _ints(low: int, example: str):
    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...]:
        return parse_ints(value, param.opts[0], low, example) if value else ()
    return parse


@click.command("localize-error")
@click.option("--run", "run_id", default=None, help="A run in --runs-dir (its stored predictions).")
@click.option("--checkpoint", type=click.Path(path_type=Path), default=None,
              help="A run's checkpoint.pt (predictions made from it when missing).")
@click.option("--heatmaps", type=click.Path(path_type=Path), default=None,
              help=".npz with image_ids, logits, maps (N, K, h, w) and map_names, as a run's predictions.npz.")
@click.option("--wsol-metadata", type=click.Path(path_type=Path), default=None,
              help="Ground truth from wsolevaluation metadata (image_ids.txt, class_labels.txt, ...).")
@click.option("--scales", default=None, callback=_ints(16, "224,448,672"),
              help="Input sizes whose maps are averaged, e.g. 224,448,672 (default: the run's training size).")
@click.option("--top-k", "top_ks", default="1,5", show_default=True, callback=_ints(1, "1,5"),
              help="The k of the top-k errors.")
@click.option("--max-box-acc/--no-max-box-acc", default=False, show_default=True,
              help="Also MaxBoxAcc and MaxBoxAccV2 (Choe et al. 2020; single-scale maps only, refused with "
                   "several --scales).")
@click.option("--box-convention", type=RegistryChoice("box_conventions"), default="wsolevaluation",
              show_default=True, help="MaxBoxAcc's boxes: wsolevaluation (its code) or components.")
@click.option("--boxes-csv/--no-boxes-csv", default=False, show_default=True,
              help="Also write each image's top-1 class and box (boxes.csv).")
@box_rule_options
@blacklist_option
@click.option("--data", type=RegistryChoice("ilsvrc_data"), default=None,
              help="Ground truth: --imagenet-root's CLS-LOC folder or the synthetic set (default: the run's data).")
@click.option("--imagenet-root", type=click.Path(path_type=Path), default=None)
@click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--workers", type=click.IntRange(min=0), default=2, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("out"), show_default=True)
def localize_error_command(out: Path, **flags) -> None:
    """ILSVRC top-k classification and localization error, GT-known accuracy and MaxBoxAcc of stored maps.

    Writes localize_error.csv (metric, value) and localize_error.json, and with --boxes-csv boxes.csv.

    \b
    Example:
      gwapbench localize-error --run googlenet-gwap-0123456789ab --scales 224,448,672
      gwapbench localize-error --heatmaps maps.npz --wsol-metadata metadata/ILSVRC/test
    """
    from gwapbench.outdir import prepare_output_folder
    from gwapbench.tables.localize import LocalizeRequest, localize_error, write_localize_error

    request = LocalizeRequest(**flags)
    prepare_output_folder(out, request.output_files())
    result = localize_error(request)
    paths = write_localize_error(out, result)
    for name, value in result.metrics.items():
        click.echo(f"{name:>24} {value:.4f}" if isinstance(value, float) else f"{name:>24} {value}")
    click.echo("wrote " + ", ".join(str(p) for p in paths))

