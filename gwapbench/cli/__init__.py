"""The `gwapbench` command line: a thin click group (parse, call the library, print, exit code).

Commands live in one module per topic (`data`, `tables`, `localize`, `evaluate`, `check`)
and are registered here. User errors
(`gwapbench.errors.InputError`, and `reference_models.errors.WeightsError` for unusable weights)
print as one line on stderr and exit with code 2, without a traceback. A command that fails (user
error or not, Ctrl-C or SIGTERM: SIGTERM exits with code 143 through the same cleanup) leaves no new
`--out` folder behind that it created and wrote nothing into
(`gwapbench.outdir.removing_unused_output_folders`), and no run lock.

Start-up stays light: command modules import torch, torchvision and the heavy parts of the
library inside the command functions, so that `gwapbench --help` loads none of them.
"""

from __future__ import annotations

import sys

import click

from gwapbench import __version__
from gwapbench.errors import InputError
from gwapbench.outdir import removing_unused_output_folders, sigterm_raises
from reference_models.errors import WeightsError

USER_ERRORS = (InputError, WeightsError)


class UserErrorGroup(click.Group):
    """A click group that turns user errors into a one-line message and exit code 2, and removes the output
    folders a failed command created without writing into them."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            with sigterm_raises(), removing_unused_output_folders():
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
      gwapbench table1 --net tiny --data synthetic
      gwapbench table1 --net googlenet --data voc07 --voc-root VOCdevkit/VOC2007
    """


from gwapbench.cli import check, data, evaluate, localize, paper, report, runs, tables  # noqa: E402  (after the group)

for _command in (data.make_synthetic_command, data.check_data_command, *tables.TABLE_COMMANDS,
                 localize.localize_error_command, evaluate.evaluate_command, check.check_command,
                 runs.runs_group, report.report_command, paper.paper_command):
    cli.add_command(_command)

def main() -> None:
    """Console-script entry point."""
    cli()
