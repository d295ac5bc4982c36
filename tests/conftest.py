"""Shared fixtures: the real data in ../shared/data (or $GWAPBENCH_SHARED_DATA) and the paper in ../shared/paper."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[1]


def shared_data_root() -> Path:
    """Where the real test data lives: $GWAPBENCH_SHARED_DATA, else ../shared/data beside the repo."""
    env = os.environ.get("GWAPBENCH_SHARED_DATA")
    return Path(env) if env else _REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """Return a function `get(name)` giving the path of a shared data folder, or skip the test."""

    def get(name: str) -> Path:
        path = shared_data_root() / name
        if not path.exists():
            pytest.skip(
                f"real data folder {name!r} not found under {shared_data_root()} "
                "(set GWAPBENCH_SHARED_DATA to the shared data folder to run this test)"
            )
        return path

    return get


@pytest.fixture(scope="session")
def shared_paper() -> Path:
    """The folder of the paper and its numbers, ../shared/paper (beside the shared data folder), or skip the test."""
    path = shared_data_root().parent / "paper"
    if not path.is_dir():
        pytest.skip(f"paper folder not found at {path} (set GWAPBENCH_SHARED_DATA to the shared data folder)")
    return path


@pytest.fixture(scope="session")
def wsolevaluation_dir() -> Path:
    """wsolevaluation's evaluator source: $WSOLEVALUATION_DIR, else ../shared/reference/wsolevaluation (beside
    the shared data folder), else skip the test."""
    env = os.environ.get("WSOLEVALUATION_DIR")
    path = Path(env) if env else shared_data_root().parent / "reference" / "wsolevaluation"
    if not (path / "evaluation.py").is_file():
        pytest.skip(f"wsolevaluation's evaluation.py not found in {path} (set WSOLEVALUATION_DIR to a "
                    "clovaai/wsolevaluation checkout, or GWAPBENCH_SHARED_DATA to the shared data folder)")
    return path


@pytest.fixture(scope="session")
def golden_store(tmp_path_factory) -> Path:
    """One run of every golden command (tests/golden/golden.py) into a session folder: `runs/` holds the
    ci runs of Tables I-IV on the synthetic data, `out/` their CSVs. Shared by the golden checks and the
    oracle tests, so the ci runs train once per session."""
    from tests.golden.golden import GOLDEN_TABLES, produce

    base = tmp_path_factory.mktemp("golden")
    produce(GOLDEN_TABLES, base / "runs", base / "out")
    return base


TABLE5_FAST = ("--net", "tiny", "--data", "synthetic", "--schedule", "ci", "--override", "iterations=2",
               "--override", "batch_size=2", "--override", "image_size=64", "--override", "checkpoint_every=1",
               "--device", "cpu", "--workers", "0")


@pytest.fixture(scope="session")
def table5_store(tmp_path_factory) -> tuple[Path, list[str]]:
    """table5 twice (the second reuses the runs) and fig9 at proportion 0.1, on a 20-image synthetic set placed
    where `--data synthetic` caches its dataset (so the command uses it instead of generating the default).
    Returns (folder with runs/, out/ and fig/, [the three commands' outputs, fig9's layout]). Shared by the table5 tests and
    the Table V oracle, so the R-FCN runs train once per session."""
    from click.testing import CliRunner

    from gwapbench.cli import cli
    from gwapbench.data.synthetic import make_synthetic_voc
    from tests.engine.figure_checks import captured_layouts

    base = tmp_path_factory.mktemp("table5")
    make_synthetic_voc(base / "runs" / "_datasets" / "synthetic-voc", {"train": 8, "val": 6, "test": 6}, size=64)
    runner = CliRunner()
    outputs = []
    for _ in range(2):
        result = runner.invoke(cli, ["table5", *TABLE5_FAST, "--proportions", "0.1", "--runs-dir",
                                     str(base / "runs"), "--out", str(base / "out")])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    with captured_layouts() as layouts:
        result = runner.invoke(cli, ["figures", "fig9", *TABLE5_FAST, "--proportion", "0.1", "--images", "2",
                                     "--runs-dir", str(base / "runs"), "--out", str(base / "fig")])
    assert result.exit_code == 0, result.output
    outputs += [result.output, layouts[0]]
    return base, outputs
