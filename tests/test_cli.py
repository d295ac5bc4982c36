"""The click group: help, version, and one-line user errors with exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gwapbench import __version__
from gwapbench.cli import UserErrorGroup, cli
from gwapbench.errors import InputError
from reference_models.errors import WeightsError, WeightsNotFoundError


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
        if kind == "corrupt":
            raise WeightsError("w.pth: not a readable PyTorch state dict (UnpicklingError)")
        raise WeightsNotFoundError("place googlenet-1378be20.pth in hub/checkpoints")

    runner = CliRunner()
    expected = {
        "input": "error: data/x.xml: malformed XML (line 3)",
        "weights": "error: place googlenet-1378be20.pth in hub/checkpoints",
        "corrupt": "error: w.pth: not a readable PyTorch state dict (UnpicklingError)",
    }
    for kind, line in expected.items():
        result = runner.invoke(group, ["fail", kind])
        assert result.exit_code == 2
        assert result.output.strip().splitlines() == [line]


HEAVY_MODULES = ("numpy", "torch", "torchvision", "pandas", "matplotlib", "skimage", "scipy", "sklearn", "cv2", "numba")


def test_help_imports_no_heavy_module():
    """`gwapbench --help` (and the import of every command module) loads none of the heavy libraries."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "import gwapbench.cli\n"
        "for args in (['--help'], ['make-synthetic', '--help'], ['check-data', '--help']):\n"
        "    assert CliRunner().invoke(gwapbench.cli.cli, args).exit_code == 0, args\n"
        f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=repo, check=True)
    assert done.stdout.strip() == ""


@pytest.mark.parametrize("command", [["evaluate", "--heatmaps", "maps.npz"], ["table4", "--data", "synthetic"],
                                     ["localize-error", "--run", "r"]])
@pytest.mark.parametrize("value", ["nan", "-nan", "NaN"])
def test_threshold_nan_is_refused_by_the_parser(tmp_path, command, value):
    result = CliRunner().invoke(cli, [*command, "--threshold", value, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "--threshold" in result.output and not (tmp_path / "out").exists()
