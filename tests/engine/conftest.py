"""A small synthetic VOC set and the CLI flags that train on it in seconds."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gwapbench.data.synthetic import VOC_YEAR, make_synthetic_voc
from gwapbench.data.synthetic_shapes import CLASS_NAMES

FAST = ("--schedule", "ci", "--override", "iterations=4", "--override", "batch_size=8",
        "--override", "image_size=48", "--override", "checkpoint_every=2", "--device", "cpu", "--workers", "0")


@pytest.fixture(scope="session")
def small_voc(tmp_path_factory) -> Path:
    """A 36-image synthetic VOC devkit (train 16, val 8, test 12; 64 px)."""
    out = tmp_path_factory.mktemp("small_voc") / "voc"
    make_synthetic_voc(out, {"train": 16, "val": 8, "test": 12}, size=64)
    return out / "VOCdevkit" / VOC_YEAR


def table_args(command: str, voc_root: Path, runs: Path, out: Path, *extra: str) -> list[str]:
    """CLI arguments of a fast table command on `voc_root`."""
    return [command, "--net", "tiny", "--data", "voc", "--voc-root", str(voc_root), "--classes",
            ",".join(CLASS_NAMES), "--runs-dir", str(runs), "--out", str(out), *FAST, *extra]


def trained_runs_to_predict(trained: Path, into: Path) -> Path:
    """A copy of `trained/runs` without predictions and metrics: each run resumes at prediction (torchrun tests
    compare the predictions N processes store with one process's)."""
    shutil.copytree(trained / "runs", into)
    for run in into.glob("tiny-*"):
        (run / "predictions.npz").unlink()
        (run / "metrics.json").unlink()
    return into
