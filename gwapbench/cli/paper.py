"""The `paper` command: print the paper's tables (gwapbench.report.paper_print)."""

from __future__ import annotations

import click

from gwapbench.report.names import PAPER_TABLES


@click.command("paper", short_help="Print the paper's Tables I-V as the paper shows them.")
@click.argument("table", required=False, type=click.Choice(PAPER_TABLES))
def paper_command(table: str | None) -> None:
    """Print the paper's TABLE (all five when omitted) as the paper shows it: its rows, columns and decimals.

    \b
    Example:
      gwapbench paper table1
      gwapbench paper
    """
    from gwapbench.report.paper_print import paper_text_table

    click.echo("\n".join(paper_text_table(name) for name in ([table] if table else PAPER_TABLES)), nl=False)
