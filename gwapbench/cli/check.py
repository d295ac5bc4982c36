"""The `check` command: compare a produced table CSV with a reference (or the paper) under tolerances."""

from __future__ import annotations

from pathlib import Path

import click

from gwapbench.atomic import write_bytes_atomic, write_text_atomic
from gwapbench.errors import InputError
from gwapbench.outdir import prepare_output_file


def _check_output_path(path: Path | None, option: str, inputs: list[Path]) -> None:
    """Refuse a report path that is one of the input files, then apply the output rule (`prepare_output_file`:
    never a folder, a path under a file, or a file gwapbench did not write)."""
    if path is None:
        return
    if path.is_file() and any(p.exists() and path.samefile(p) for p in inputs):
        raise InputError(f"{option} {path}: is an input file of this check; give another path")
    prepare_output_file(path, option)


@click.command("check")
@click.argument("produced", type=click.Path(path_type=Path))
@click.option("--reference", type=click.Path(path_type=Path), default=None,
              help="A table CSV of the same format whose `reproduced` values are the reference.")
@click.option("--against-paper", is_flag=True,
              help="Compare with the paper's numbers (packaged) instead, on the rows both have.")
@click.option("--tol", "tols", multiple=True, metavar="METRIC=ABS",
              help="Absolute tolerance for one metric (repeatable), e.g. --tol voc07_cls_map=0.5; overrides the "
                   "reference's tolerance file (REFERENCE.tolerances.csv beside it), which applies by default.")
@click.option("--default-tol", default="0", show_default=True, metavar="ABS",
              help="Absolute tolerance for metrics without a --tol.")
@click.option("--markdown", type=click.Path(path_type=Path), default=None,
              help="Also write the diff table as Markdown (e.g. for a CI job summary). Replaces only a report "
                   "gwapbench wrote.")
@click.option("--junit", type=click.Path(path_type=Path), default=None,
              help="Also write JUnit XML: one testcase per row, failures as <failure>. Replaces only a report "
                   "gwapbench wrote.")
def check_command(
    produced: Path, reference: Path | None, against_paper: bool, tols: tuple[str, ...], default_tol: str,
    markdown: Path | None, junit: Path | None,
) -> None:
    """Check a produced table CSV against a reference CSV (or the paper) under absolute tolerances.

    Rows are matched on (table, net, method, setting, metric). A row holds when
    |produced - reference| <= tolerance; a value outside it, a row missing from PRODUCED or a NaN
    fails; extra rows are listed. The tolerances of a reference's tolerance file (REFERENCE.tolerances.csv
    beside it) apply unless a --tol names the metric. Rows of different schedules are refused.
    Exit code 0: all hold, 1: a regression, 2: bad input.

    \b
    Example:
      gwapbench check out/table1.csv --reference tests/golden/table1.csv
      gwapbench check out/table1.csv --against-paper --default-tol 2 --markdown summary.md --junit check.xml
    """
    from gwapbench.regression import check_table
    from gwapbench.regression_report import render_junit, render_markdown, render_text

    if (reference is not None) == against_paper:
        raise InputError("give exactly one of --reference REFERENCE.csv and --against-paper")
    _check_reports(markdown, junit, [produced] + ([reference] if reference is not None else []))
    result, title = check_table(produced, reference, tols, default_tol)
    click.echo(render_text(result, title), nl=False)
    if markdown is not None:
        write_text_atomic(markdown, render_markdown(result, title))
    if junit is not None:
        write_bytes_atomic(junit, render_junit(result, title))
    if not result.passed:
        click.get_current_context().exit(1)


def _check_reports(markdown: Path | None, junit: Path | None, inputs: list[Path]) -> None:
    """Before any work: the report paths are neither inputs nor one path twice (`_check_output_path`)."""
    for path, option in ((markdown, "--markdown"), (junit, "--junit")):
        _check_output_path(path, option, inputs)
    if markdown is not None and junit is not None and markdown.resolve() == junit.resolve():
        raise InputError(f"--markdown and --junit: both are {markdown}; give two paths")
