"""`gwapbench evaluate --wsol-metadata metadata/CUB/test`: CUB-200-2011 in wsolevaluation's layout (the files
of ILSVRC: image_ids, class_labels, image_sizes, localization with one or more boxes a row each).

Against wsolevaluation's own `BoxEvaluator` (../shared/reference/wsolevaluation) on the real CUB test ground
truth with simulated maps, and on a synthetic set whose MaxBoxAcc is worked out by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from gwapbench.cli import cli
from tests.wsol_reference import box_evaluator_scores, simulated_box_maps, subset_metadata, write_scoremaps

COUNT, STEP = 290, 20  # every 20th of the 5,794 test images: all 200 classes' folders are visited


def _evaluate(scoremaps: Path, metadata: Path, out: Path, *flags: str) -> dict:
    result = CliRunner().invoke(cli, ["evaluate", "--heatmaps", str(scoremaps), "--wsol-metadata", str(metadata),
                                      "--out", str(out), *flags])
    assert result.exit_code == 0, result.output
    return json.loads((out / "metrics.json").read_text())


def test_real_cub_ground_truth_equals_wsolevaluations_box_evaluator(shared_data, wsolevaluation_dir, tmp_path):
    metadata = tmp_path / "metadata" / "CUB" / "test"
    ids = subset_metadata(shared_data("cub200_test_gt"), metadata, COUNT, step=STEP)
    assert len(ids) == COUNT
    scoremaps = tmp_path / "scoremaps"
    write_scoremaps(scoremaps, ids, simulated_box_maps(metadata, ids))
    v1 = box_evaluator_scores(wsolevaluation_dir, metadata, scoremaps, ids, False, dataset_name="CUB")
    v2 = box_evaluator_scores(wsolevaluation_dir, metadata, scoremaps, ids, True, dataset_name="CUB")
    assert 5 < v1[1] < 95 and 5 < np.mean(v2) < 95  # not degenerate: the threshold and the boxes matter

    saved = _evaluate(scoremaps, metadata, tmp_path / "out", "--metrics", "max-box-acc,max-box-acc-v2")
    assert saved["images"] == COUNT and saved["unused_maps"] == 0
    got = saved["metrics"]
    assert 100 * got["max_box_acc"] == pytest.approx(v1[1], abs=1e-9)
    assert 100 * got["max_box_acc_v2"] == pytest.approx(float(np.mean(v2)), abs=1e-9)
    for iou, value in zip((30, 50, 70), v2):
        assert 100 * got[f"max_box_acc_v2_iou{iou}"] == pytest.approx(value, abs=1e-9)

    coarse = box_evaluator_scores(wsolevaluation_dir, metadata, scoremaps, ids, True, dataset_name="CUB",
                                  cam_curve_interval=0.15)  # its --cam_curve_interval 0.15: 7 thresholds
    assert coarse != v2
    saved = _evaluate(scoremaps, metadata, tmp_path / "coarse", "--metrics", "max-box-acc-v2",
                      "--cam-curve-interval", "0.15")
    for iou, value in zip((30, 50, 70), coarse):
        assert 100 * saved["metrics"][f"max_box_acc_v2_iou{iou}"] == pytest.approx(value, abs=1e-9)


def _write_cub_layout(folder: Path, rows: list[tuple[str, int, tuple[int, int], list[tuple[int, int, int, int]]]]
                      ) -> list[str]:
    """metadata/CUB/test files for (image id, label, (w, h), boxes) rows, as wsolevaluation writes them."""
    folder.mkdir(parents=True)
    folder.joinpath("image_ids.txt").write_text("".join(f"{i}\n" for i, *_ in rows))
    folder.joinpath("class_labels.txt").write_text("".join(f"{i},{label}\n" for i, label, *_ in rows))
    folder.joinpath("image_sizes.txt").write_text("".join(f"{i},{w},{h}\n" for i, _, (w, h), _ in rows))
    folder.joinpath("localization.txt").write_text(
        "".join(f"{i},{x0},{y0},{x1},{y1}\n" for i, _, _, boxes in rows for x0, y0, x1, y1 in boxes))
    return [i for i, *_ in rows]


def test_synthetic_cub_layout_hand_worked(wsolevaluation_dir, tmp_path):
    """Three 448 x 448 images, each map a block of ones over the top-left 112 x 112 pixels of the 224 frame.
    wsolevaluation's box of the block: x, y = 0, w = h = 112, so (0, 0, 112, 112) (one pixel past it). GT:
    A (0, 0, 223, 223) -> frame int(x / 2) = (0, 0, 111, 111), IoU 112^2 / 113^2 = 0.98: hit at every threshold;
    B two boxes, the first far off, the second (0, 0, 231, 231) -> (0, 0, 115, 115), IoU 113^2 / 116^2 = 0.95:
    a hit (any GT box); C (300, 300, 447, 447) -> (150, 150, 223, 223), no overlap: a miss. So MaxBoxAcc =
    2/3 at IoU 30, 50 and 70, V1 and V2 alike; labels 150 and 199 exist only with CUB's 200 classes."""
    metadata = tmp_path / "metadata" / "CUB" / "test"
    ids = _write_cub_layout(metadata, [
        ("151.Black_capped_Vireo/A_1.jpg", 150, (448, 448), [(0, 0, 223, 223)]),
        ("200.Common_Yellowthroat/B_2.jpg", 199, (448, 448), [(300, 300, 447, 447), (0, 0, 231, 231)]),
        ("001.Black_footed_Albatross/C_3.jpg", 0, (448, 448), [(300, 300, 447, 447)]),
    ])
    block = np.zeros((224, 224))
    block[:112, :112] = 1.0
    scoremaps = tmp_path / "scoremaps"
    write_scoremaps(scoremaps, ids, [block] * 3)
    predictions = tmp_path / "scores.csv"  # class scores: one column per CUB class
    predictions.write_text("image_id," + ",".join(f"c{k}" for k in range(200)) + "\n" + "".join(
        f"{i}," + ",".join("1" if k == label else "0" for k in range(200)) + "\n"
        for i, label in zip(ids, (150, 199, 0))))

    saved = _evaluate(scoremaps, metadata, tmp_path / "out", "--predictions", str(predictions))
    got = saved["metrics"]
    for name in ("max_box_acc", "max_box_acc_v2", "max_box_acc_v2_iou30", "max_box_acc_v2_iou70"):
        assert got[name] == pytest.approx(2 / 3, abs=1e-12), name
    assert got["top1_cls_error"] == 0.0
    reference = box_evaluator_scores(wsolevaluation_dir, metadata, scoremaps, ids, False, dataset_name="CUB")
    assert reference == pytest.approx([200 / 3] * 3, abs=1e-9)
