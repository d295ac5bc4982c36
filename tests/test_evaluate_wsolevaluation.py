"""`gwapbench evaluate` and `gwapbench localize-error --max-box-acc` against wsolevaluation's own evaluator
(`BoxEvaluator` of ../shared/reference/wsolevaluation, or $WSOLEVALUATION_DIR), run inside the test on the
real ground truth of 300 ILSVRC val images with simulated 224 x 224 maps in [0, 1] that attain 0 and 1
(the maps its `evaluate_wsol` docstring asks for). Both commands must print its numbers: one MaxBoxAcc path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gwapbench.cli import cli
from tests.wsol_reference import box_evaluator_scores, simulated_box_maps, subset_metadata, write_scoremaps

COUNT = 300


@pytest.fixture(scope="module")
def reference(shared_data, wsolevaluation_dir, tmp_path_factory):
    """The subset metadata, the maps as wsolevaluation's .npy folder and as a run's predictions.npz, and
    wsolevaluation's V1 (IoU 50, largest contour) and V2 (mean over IoU 30/50/70, every contour) in %."""
    base = tmp_path_factory.mktemp("wsol_reference")
    metadata = base / "metadata"
    ids = subset_metadata(shared_data("ilsvrc2012_val_gt"), metadata, COUNT)
    maps = simulated_box_maps(metadata, ids)
    scoremaps = base / "scoremaps"
    write_scoremaps(scoremaps, ids, maps)
    predictions = base / "predictions.npz"
    np.savez(predictions, image_ids=np.array([i.removeprefix("val/").removesuffix(".JPEG") for i in ids]),
             logits=np.zeros((len(ids), 1000), np.float32), maps=maps[:, None], map_names=np.array(["alpha"]))
    v1 = box_evaluator_scores(wsolevaluation_dir, metadata, scoremaps, ids, multi_contour=False)[1]
    v2 = float(np.mean(box_evaluator_scores(wsolevaluation_dir, metadata, scoremaps, ids, multi_contour=True)))
    assert 5 < v1 < 95 and 5 < v2 < 95  # not a degenerate set: the threshold and the boxes matter
    return metadata, scoremaps, predictions, v1, v2


def _evaluate(heatmaps: Path, metadata: Path, out: Path, *flags: str) -> dict:
    result = CliRunner().invoke(cli, ["evaluate", "--heatmaps", str(heatmaps), "--wsol-metadata", str(metadata),
                                      "--metrics", "max-box-acc,max-box-acc-v2", "--out", str(out), *flags])
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text())


def test_evaluate_equals_wsolevaluations_own_code(reference, tmp_path):
    metadata, scoremaps, _, v1, v2 = reference
    saved = _evaluate(scoremaps, metadata, tmp_path / "a", "--box-convention", "wsolevaluation")
    assert saved["settings"]["box_convention"] == "wsolevaluation"
    assert 100 * saved["metrics"]["max_box_acc"] == pytest.approx(v1, abs=1e-9)
    assert 100 * saved["metrics"]["max_box_acc_v2"] == pytest.approx(v2, abs=1e-9)
    default = _evaluate(scoremaps, metadata, tmp_path / "b")  # the default reproduces its published numbers
    assert default["metrics"] == saved["metrics"]


def test_evaluate_reads_a_runs_predictions_and_localize_error_shares_the_path(reference, tmp_path):
    """`evaluate --heatmaps runs/<id>/predictions.npz` reads the run's alpha maps, and `localize-error
    --max-box-acc` on the same file prints the same numbers (GT scaled with int() as wsolevaluation)."""
    metadata, _, predictions, v1, v2 = reference
    saved = _evaluate(predictions, metadata, tmp_path / "a")
    assert saved["images"] == COUNT
    assert 100 * saved["metrics"]["max_box_acc"] == pytest.approx(v1, abs=1e-9)
    result = CliRunner().invoke(cli, ["localize-error", "--heatmaps", str(predictions), "--wsol-metadata",
                                      str(metadata), "--max-box-acc", "--top-k", "1", "--out", str(tmp_path / "le")])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "le" / "localize_error.json").read_text())
    assert written["max_box_acc"] == pytest.approx(v1, abs=1e-9)
    assert written["max_box_acc_v2"] == pytest.approx(v2, abs=1e-9)
    settings = written["settings"]
    assert settings["heatmaps"] == str(predictions) and settings["run"] is None
    assert settings["box_convention"] == "wsolevaluation" and settings["normalize"] == "minmax"
    assert settings["iou_thresholds"] == [0.5, 0.3, 0.5, 0.7] and len(settings["cam_thresholds"]) == 100
