"""A small run store for the workflow commands: table1, table2 (gap, gwap) and fig7 on the small synthetic VOC set."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gwapbench.cli import cli
from tests.engine.conftest import small_voc, table_args  # noqa: F401  (small_voc: a fixture used here)


@pytest.fixture(scope="session")
def tiny_store(small_voc, tmp_path_factory) -> Path:  # noqa: F811
    """A folder with runs/ (two finished runs: gap and gwap, 4 iterations) and out/ (table1, table2, fig7)."""
    base = tmp_path_factory.mktemp("tiny_store")
    runner = CliRunner()
    for command in ("table1", "table2"):
        args = table_args(command, small_voc, base / "runs", base / "out", "--methods", "gap,gwap")
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    fig = table_args("table1", small_voc, base / "runs", base / "out", "--methods", "gap,gwap", "--images", "2")
    result = runner.invoke(cli, ["figures", "fig7", *fig[1:]])
    assert result.exit_code == 0, result.output
    return base
