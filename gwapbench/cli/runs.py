"""The `runs` group: list, show and remove the runs of a run store (gwapbench.report.catalog)."""

from __future__ import annotations

from pathlib import Path

import click

from gwapbench.report.names import STATUS_FILTERS

_RUNS_DIR = click.option("--runs-dir", type=click.Path(path_type=Path), default=Path("runs"), show_default=True,
                         help="The run store.")


@click.group("runs")
def runs_group() -> None:
    """List, show and remove runs of the run store.

    \b
    Example:
      gwapbench runs list --table table1 --status unfinished
      gwapbench runs show tiny-gwap-a8eccf554e20
      gwapbench runs rm --unfinished --dry-run
    """


@runs_group.command("list", short_help="One line per run: tables, net, method, schedule, status, size, age.")
@_RUNS_DIR
@click.option("--table", default=None, help="Only runs that are rows of this table, e.g. table1.")
@click.option("--net", default=None, help="Only runs of this net, e.g. tiny.")
@click.option("--status", type=click.Choice(STATUS_FILTERS), default=None,
              help="Only runs in this state (unfinished: not evaluated; running: locked by a live process).")
def list_command(runs_dir: Path, table: str | None, net: str | None, status: str | None) -> None:
    """One line per run: id, tables, net, method, schedule, data, status, headline metric, size on disk, age.

    Status follows the run's files: created (config only), training k/N (checkpoint at iteration k of N),
    predicted, evaluated. Age counts from the run's creation.

    \b
    Example:
      gwapbench runs list --runs-dir runs --net tiny
    """
    from gwapbench.report import catalog

    entries = catalog.list_runs(runs_dir, table, net, status)
    if not entries:
        click.echo(f"no runs in {runs_dir}" + (" match the filters" if table or net or status else ""))
        return
    click.echo(catalog.list_text(entries), nl=False)


@runs_group.command("show")
@click.argument("run_id")
@_RUNS_DIR
@click.option("--lines", type=click.IntRange(0), default=20, show_default=True, help="How many log lines to show.")
def show_command(run_id: str, runs_dir: Path, lines: int) -> None:
    """Print a run's config, the last lines of its log and its metrics.

    \b
    Example:
      gwapbench runs show tiny-gwap-a8eccf554e20 --lines 50
    """
    from gwapbench.report import catalog

    click.echo(catalog.show_run(catalog.find_run(runs_dir, run_id), lines), nl=False)


@runs_group.command("rm")
@click.argument("run_ids", nargs=-1)
@_RUNS_DIR
@click.option("--unfinished", is_flag=True, help="Remove every run without metrics.json (locked runs are refused).")
@click.option("--dry-run", is_flag=True, help="List what would be removed; remove nothing.")
def rm_command(run_ids: tuple[str, ...], runs_dir: Path, unfinished: bool, dry_run: bool) -> None:
    """Remove run folders gwapbench wrote, and list them.

    A folder is removed only when it carries gwapbench's marker and config.json and holds nothing but the
    store's files; a run locked by a live process is refused. With run ids, one refusal removes nothing.

    \b
    Example:
      gwapbench runs rm tiny-gap-1371bd637e7b tiny-gwap-2d417f8cbc26
      gwapbench runs rm --unfinished --dry-run
    """
    from gwapbench.report import catalog

    plan = catalog.plan_removal(runs_dir, run_ids, unfinished)
    for run_id, why in plan.refused:
        click.echo(f"refused {run_id}: {why}")
    for entry, line in zip(plan.remove, catalog.removal_lines(plan.remove, dry_run)):
        click.echo(line)
        if not dry_run:
            catalog.remove_run(entry)
    if not plan.remove:
        click.echo("nothing to remove")
