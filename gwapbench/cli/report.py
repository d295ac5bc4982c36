"""The `report` command: one page of every table and figure in an output folder (gwapbench.report.page)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report", short_help="One page (Markdown, HTML) of the tables and figures in --out.")
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="The folder your table and figure commands wrote (its table CSVs and PNGs); the report goes there.")
@click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
              help="The run store of those tables (for the data, device and runtimes of each run).")
@click.option("--tol", "tols", multiple=True, metavar="METRIC=ABS",
              help="Tolerance against the paper for one paper metric (repeatable), e.g. --tol voc07_cls_map=0.5; "
                   "default 1 point for percentages, 0.01 for F-measures.")
def report_command(out: Path, runs_dir: Path, tols: tuple[str, ...]) -> None:
    """Write report.md and report.html (figures embedded) of every table CSV and figure PNG in --out.

    Each table stands beside the paper's numbers; a row the paper reports is flagged when it lies outside the
    tolerance. The page states the schedules, data, nets, runtimes and this machine's environment.

    \b
    Example:
      gwapbench table1 --net tiny --data synthetic && gwapbench figures fig7 --net tiny --data synthetic
      gwapbench report --out out
    """
    from gwapbench.report.environment import environment
    from gwapbench.report.page import write_report

    for path in write_report(out, runs_dir, tols, environment()):
        click.echo(f"wrote {path}")
