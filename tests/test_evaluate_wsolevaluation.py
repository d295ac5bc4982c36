"""`gwapbench evaluate` and `gwapbench localize-error --max-box-acc` against wsolevaluation's own evaluator
(`BoxEvaluator` of ../shared/reference/wsolevaluation, or $WSOLEVALUATION_DIR), run inside the test on the
real ground truth of 300 ILSVRC val images with simulated 224 x 224 maps in [0, 1] that attain 0 and 1
(the maps its `evaluate_wsol` docstring asks for). Both commands must print its numbers: one MaxBoxAcc path."""

from __future__ import annotations

import importlib
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from gwapbench.cli import cli

COUNT = 300
METADATA_FILES = ("image_ids.txt", "class_labels.txt", "image_sizes.txt", "localization.txt")
WSOL_MODULES = ("evaluation", "config", "data_loaders", "util")


def _subset_metadata(source: Path, folder: Path, count: int) -> list[str]:
    """The first `count` images of the shared metadata, written in the same format."""
    folder.mkdir(parents=True)
    ids = source.joinpath("image_ids.txt").read_text().splitlines()[:count]
    chosen = set(ids)
    for name in METADATA_FILES:
        rows = [row for row in source.joinpath(name).read_text().splitlines() if row.split(",")[0] in chosen]
        folder.joinpath(name).write_text("\n".join(rows) + "\n")
    return ids


def _maps(folder: Path, ids: list[str]) -> np.ndarray:
    """(N, 224, 224) float32 maps on the grid k / 256 (so wsolevaluation's float64 s * 255 and the float32
    level sweep quantize alike), each attaining 0 and 1: half a bump over the image's first GT box plus a
    smooth random field, half the random field alone."""
    rng = np.random.default_rng(0)
    sizes = {row.split(",")[0]: tuple(map(int, row.split(",")[1:])) for row in
             folder.joinpath("image_sizes.txt").read_text().splitlines()}
    first_box = {}
    for row in folder.joinpath("localization.txt").read_text().splitlines():
        first_box.setdefault(row.split(",")[0], tuple(map(float, row.split(",")[1:])))
    field = torch.nn.functional.interpolate(torch.from_numpy(rng.random((len(ids), 1, 7, 7)) ** 3), size=(224, 224),
                                            mode="bilinear", align_corners=False)[:, 0].numpy()
    grid = np.arange(224) + 0.5
    maps = np.empty((len(ids), 224, 224), dtype=np.float32)
    for i, image_id in enumerate(ids):
        m = field[i].copy()
        if i % 2 == 0:
            (w, h), (x0, y0, x1, y1) = sizes[image_id], first_box[image_id]
            cx, cy = (x0 + x1) / 2 * 224 / w, (y0 + y1) / 2 * 224 / h
            sx, sy = max((x1 - x0) * 224 / w / 3, 2), max((y1 - y0) * 224 / h / 3, 2)
            m += 2 * np.exp(-((grid[None] - cx) / sx) ** 2 - ((grid[:, None] - cy) / sy) ** 2)
        m = (m - m.min()) / (m.max() - m.min())
        maps[i] = np.round(m * 256) / 256
    return maps


def _run_wsolevaluation(source: Path, metadata: Path, scoremaps: Path, ids: list[str], multi_contour: bool
                        ) -> list[float]:
    """wsolevaluation's BoxEvaluator over its own CamDataset loader: MaxBoxAcc (%) at IoU 30, 50, 70."""
    saved = {name: sys.modules.pop(name) for name in WSOL_MODULES if name in sys.modules}
    sys.path.insert(0, str(source))
    try:
        if importlib.util.find_spec("munch") is None:  # config.py / data_loaders.py import it for an attribute dict
            stub = types.ModuleType("munch")
            stub.Munch = type("Munch", (dict,), {"__getattr__": dict.__getitem__, "__setattr__": dict.__setitem__})
            sys.modules["munch"] = stub
        evaluation = importlib.import_module("evaluation")
        evaluator = evaluation.BoxEvaluator(
            metadata=evaluation.configure_metadata(str(metadata)), dataset_name="ILSVRC", split="test",
            cam_threshold_list=list(np.arange(0, 1, 0.01)), iou_threshold_list=[30, 50, 70], mask_root=None,
            multi_contour_eval=multi_contour)
        cams = evaluation.CamDataset(str(scoremaps), ids)
        for index in range(len(cams)):
            cam, image_id = cams[index]
            evaluator.accumulate(cam, image_id)
        return [float(v) for v in evaluator.compute()]
    finally:
        sys.path.remove(str(source))
        for name in WSOL_MODULES:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
        if isinstance(sys.modules.get("munch"), types.ModuleType) and not hasattr(sys.modules["munch"], "__file__"):
            sys.modules.pop("munch")


@pytest.fixture(scope="module")
def reference(shared_data, wsolevaluation_dir, tmp_path_factory):
    """The subset metadata, the maps as wsolevaluation's .npy folder and as a run's predictions.npz, and
    wsolevaluation's V1 (IoU 50, largest contour) and V2 (mean over IoU 30/50/70, every contour) in %."""
    base = tmp_path_factory.mktemp("wsol_reference")
    metadata = base / "metadata"
    ids = _subset_metadata(shared_data("ilsvrc2012_val_gt"), metadata, COUNT)
    maps = _maps(metadata, ids)
    scoremaps = base / "scoremaps"
    for image_id, m in zip(ids, maps):
        path = scoremaps / f"{image_id}.npy"  # its code: os.path.join(scoremap_path, image_id + '.npy')
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, m.astype(np.float64))  # its check_scoremap_validity asks for float64
    predictions = base / "predictions.npz"
    np.savez(predictions, image_ids=np.array([i.removeprefix("val/").removesuffix(".JPEG") for i in ids]),
             logits=np.zeros((len(ids), 1000), np.float32), maps=maps[:, None], map_names=np.array(["alpha"]))
    v1 = _run_wsolevaluation(wsolevaluation_dir, metadata, scoremaps, ids, multi_contour=False)[1]
    v2 = float(np.mean(_run_wsolevaluation(wsolevaluation_dir, metadata, scoremaps, ids, multi_contour=True)))
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
