"""The click group: help, version, and one-line user errors with exit code 2."""

from __future__ import annotations

import click
from click.testing import CliRunner

from gwapbench import __version__
from gwapbench.cli import UserErrorGroup, cli
from gwapbench.errors import InputError
from reference_models.backbones import WeightsNotFoundError


def test_help_and_version():
    runner = CliRunner()
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0 and "Example" in result.output
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_user_errors_print_one_line_and_exit_2():
    @click.group(cls=UserErrorGroup)
    def group() -> None:
        pass

    @group.command()
    @click.argument("kind")
    def fail(kind: str) -> None:
        if kind == "input":
            raise InputError("data/x.xml: malformed XML (line 3)")
        raise WeightsNotFoundError("place googlenet-1378be20.pth in hub/checkpoints")

    runner = CliRunner()
    expected = {
        "input": "error: data/x.xml: malformed XML (line 3)",
        "weights": "error: place googlenet-1378be20.pth in hub/checkpoints",
    }
    for kind, line in expected.items():
        result = runner.invoke(group, ["fail", kind])
        assert result.exit_code == 2
        assert result.output.strip().splitlines() == [line]
