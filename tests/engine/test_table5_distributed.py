"""Table V under torchrun (gloo, 2 CPU processes) against 1 process on a small synthetic set."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from gwapbench.data.synthetic import VOC_YEAR, make_synthetic_voc
from gwapbench.data.voc import read_voc
from gwapbench.engine.detection import box_loss_scale
from tests.engine.test_distributed import _run
from tests.oracle import runs as oracle

METHODS = ("--methods", "rfcn,rfcn_gwap_gap")  # plain R-FCN, and both weak branches (weight maps stored)
FAST = ("table5", "--net", "tiny", "--data", "synthetic", "--schedule", "ci", "--proportions", "0.5",
        "--override", "iterations=2", "--override", "batch_size=4", "--override", "image_size=64",
        "--override", "checkpoint_every=1", "--device", "cpu", "--workers", "0", *METHODS)


def _args(base) -> list[str]:
    return [*FAST, "--runs-dir", str(base / "runs"), "--out", str(base / "out")]


def _synthetic(base) -> None:
    """A 20-image synthetic set where `--data synthetic` caches its dataset."""
    make_synthetic_voc(base / "runs" / "_datasets" / "synthetic-voc", {"train": 8, "val": 6, "test": 6}, size=64)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    base = tmp_path_factory.mktemp("table5_single")
    _synthetic(base)
    _run(_args(base), 1)
    return base


def _run_folders(base):
    return sorted(p for p in (base / "runs").iterdir() if p.name.startswith("tiny-"))


def test_two_processes_predict_exactly_what_one_predicts_from_a_fixed_checkpoint(single, tmp_path):
    shutil.copytree(single / "runs", tmp_path / "runs")
    for run in _run_folders(tmp_path):
        (run / "predictions.npz").unlink()
        (run / "metrics.json").unlink()
    result = _run(_args(tmp_path), 2)
    assert result.stdout.count("finished in") == 2  # rank 0 alone reports
    assert len(_run_folders(single)) == 2
    for run in _run_folders(single):
        with np.load(run / "predictions.npz") as one, np.load(tmp_path / "runs" / run.name / "predictions.npz") as two:
            assert sorted(one.files) == sorted(two.files)
            assert len(one["det_scores"]) > 0
            for key in one.files:
                assert np.array_equal(one[key], two[key]), (run.name, key)
        second_command = (tmp_path / "runs" / run.name / "log.txt").read_text().split("predicted", 1)[1]
        assert "training from" not in second_command  # the checkpoint was complete: no training
        one = json.loads((run / "metrics.json").read_text())
        two = json.loads((tmp_path / "runs" / run.name / "metrics.json").read_text())
        assert one["det_map"] == two["det_map"] and one["det_map_py_faster_rcnn"] == two["det_map_py_faster_rcnn"]


def test_two_processes_train_with_sharded_batches(tmp_path):
    _synthetic(tmp_path)
    test = read_voc(tmp_path / "runs" / "_datasets" / "synthetic-voc" / "VOCdevkit" / VOC_YEAR, "test").samples
    result = _run(_args(tmp_path), 2)
    assert result.stdout.count("finished in") == 2
    assert (tmp_path / "out" / "table5.csv").read_text().count("\n") == 1 + 2 * 2  # header, 2 methods x 2 rows
    for run in _run_folders(tmp_path):
        log = (run / "log.txt").read_text()
        assert "with 2 processes" in log
        assert log.count("predicted 6 test images") == 1  # rank 0 alone writes
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["test_images"] == 6
        for key in ("det_map", "det_map_py_faster_rcnn"):  # py-faster-rcnn's voc_eval loop (tests/oracle)
            expected = oracle.table5(tmp_path / "runs", run.name, key)
            assert metrics[key] == pytest.approx(expected, rel=oracle.REL), (run.name, key)
        with np.load(run / "predictions.npz") as stored:
            assert list(stored["image_ids"]) == [s.image_id for s in test]
            assert set(stored["det_image"].tolist()) <= set(range(len(test)))


@pytest.mark.parametrize(("counts", "means"), [((1, 3), (2.0, 6.0)), ((2, 2), (1.0, 5.0)), ((0, 4), (0.0, 3.0)),
                                              ((3, 0, 1), (4.0, 0.0, 8.0))])
def test_box_loss_scale_makes_the_ddp_average_the_mean_over_all_box_images(counts, means):
    """Hand-worked: rank r holds n_r box images with mean loss m_r; DDP averages the ranks' (scaled) losses;
    one process would take sum_r n_r m_r / sum_r n_r."""
    world = len(counts)
    total = sum(counts)
    ddp_average = sum(box_loss_scale(n, total, world) * m for n, m in zip(counts, means)) / world
    assert ddp_average == pytest.approx(sum(n * m for n, m in zip(counts, means)) / total)
    assert box_loss_scale(0, 0, world) == 0.0  # no rank has a box image: no box loss anywhere
