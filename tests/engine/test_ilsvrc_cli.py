"""table3 / table4 / localize-error / figures fig8 end to end on a small synthetic ILSVRC set on CPU, and
every bad-input path exiting 2 with one line."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from gwapbench.cli import cli
from gwapbench.data.synthetic import make_synthetic_ilsvrc
from gwapbench.engine.ilsvrc_evaluate import LocalizationOptions, box_method_available, evaluate_ilsvrc_boxes
from gwapbench.engine.sources import read_ilsvrc_val
from gwapbench.engine.store import RunStore
from gwapbench.tables.ilsvrc import paper_setting
from gwapbench.figures.render import draw
from gwapbench.tables.spec import COLUMNS
from tests.engine.figure_checks import (
    captured_layouts,
    colorbar_kinds,
    colorbar_range,
    drawn_rectangles,
    heat_images,
    png_size,
    resized,
    unit,
)

FAST = ("--schedule", "ci", "--override", "iterations=2", "--override", "batch_size=8", "--override",
        "image_size=48", "--override", "checkpoint_every=2", "--device", "cpu", "--workers", "0")


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def small_ilsvrc(tmp_path_factory):
    root = tmp_path_factory.mktemp("small_ilsvrc") / "data"
    make_synthetic_ilsvrc(root, train_per_class=2, val_per_class=1, size=64)
    return root


@pytest.fixture(scope="module")
def produced(small_ilsvrc, tmp_path_factory):
    base = tmp_path_factory.mktemp("ilsvrc_tables")
    common = ["--net", "tiny", "--imagenet-root", str(small_ilsvrc), "--runs-dir", str(base / "runs"),
              "--methods", "gap,gwap", *FAST]
    outputs = {}
    for name, args in {"table3": ["table3", *common, "--out", str(base / "out")],
                       "table4": ["table4", *common, "--scales", "48,80", "--out", str(base / "out")],
                       "fig8": ["figures", "fig8", *common[:-len(FAST) - 2], *FAST, "--scales", "48,80",
                                "--images", "2", "--out", str(base / "fig")]}.items():
        with captured_layouts() as layouts:
            result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        outputs[name] = result.output
        outputs[f"{name}_layouts"] = layouts
    return base, outputs


def test_table3_rows_and_metrics(produced):
    base, outputs = produced
    rows = _rows(base / "out" / "table3.csv")
    assert tuple(rows[0]) == COLUMNS
    assert [(r["method"], r["metric"]) for r in rows] == [
        ("gap", "ilsvrc_top1_cls_error"), ("gap", "ilsvrc_top5_cls_error"),
        ("gwap", "ilsvrc_top1_cls_error"), ("gwap", "ilsvrc_top5_cls_error")]
    for row in rows:
        metrics = json.loads((base / "runs" / row["run_id"] / "metrics.json").read_text())
        assert float(row["reproduced"]) == metrics[row["metric"].removeprefix("ilsvrc_")]
        assert row["paper"] == "" and 0 <= float(row["reproduced"]) <= 100
    assert "finished in" in outputs["table3"]


def test_table4_reuses_runs_and_adds_multiscale_rows(produced):
    base, outputs = produced
    rows = _rows(base / "out" / "table4.csv")
    assert [(r["method"], r["setting"]) for r in rows] == [
        ("gap", "single-scale 48"), ("gap", "multi-scale 48+80"),
        ("gwap", "single-scale 48"), ("gwap", "multi-scale 48+80")]
    assert "finished in" not in outputs["table4"]  # table3's runs, not trained again
    table3_ids = {r["run_id"] for r in _rows(base / "out" / "table3.csv")}
    assert {r["run_id"] for r in rows} == table3_ids
    for run_id in table3_ids:
        run = RunStore(base / "runs").run(run_id)
        assert run.scale_predictions_path(80).is_file()
        metrics = run.metrics()
        single = [r for r in rows if r["run_id"] == run_id and r["setting"].startswith("single")][0]
        assert float(single["reproduced"]) == pytest.approx(metrics["top1_loc_error"])


def test_fig8_draws_the_top1_boxes_table4_scores(produced, small_ilsvrc):
    """Each predicted box drawn (read back from the matplotlib rectangles) is the top-1 box of Table IV's own
    evaluation on the whole val set: gwap at 48 (its single-scale row) and 80, the 48+80 mean (its multi-scale
    row) and gap's top-1 CAM; the GT boxes drawn are the val boxes (0-based corners)."""
    base, outputs = produced
    (layout,) = outputs["fig8_layouts"]
    rows = _rows(base / "out" / "table4.csv")
    run_of = {r["method"]: RunStore(base / "runs").run(r["run_id"]) for r in rows}
    val = read_ilsvrc_val(small_ilsvrc).samples
    gwap = [run_of["gwap"].load_predictions(), run_of["gwap"].load_predictions(80)]
    table4 = {column: evaluate_ilsvrc_boxes(stored, val, LocalizationOptions(), ranking=gwap[0])[1]
              for column, stored in (("GWAP alpha, 48 px input", gwap[:1]), ("GWAP alpha, 80 px input", gwap[1:]),
                                     ("GWAP mean of 48+80", gwap))}
    table4["GAP CAM, top-1 class"] = evaluate_ilsvrc_boxes([run_of["gap"].load_predictions()], val)[1]
    assert layout.columns == ("image", *table4) and layout.title.startswith("Fig. 8:")
    axes = np.reshape([ax for ax in draw(layout).axes if not (ax.get_gid() or "").startswith("colorbar:")],
                      (2, len(layout.columns)))
    for i, row_axes in enumerate(axes):
        assert drawn_rectangles(row_axes[0], "gt", first_pixel=0) == [tuple(map(float, b)) for b in val[i].boxes]
        for column, ax in zip(layout.columns[1:], row_axes[1:], strict=True):
            assert drawn_rectangles(ax, "predicted", first_pixel=0) == [tuple(map(float, table4[column][i]))], column


def test_fig8_colour_ranges_iou_notes_and_png(produced, small_ilsvrc):
    base, outputs = produced
    (layout,) = outputs["fig8_layouts"]
    assert png_size(base / "fig" / "fig8.png")[0] >= 1200
    figure = draw(layout)
    assert layout.title in [text.get_text() for text in figure.texts]
    assert colorbar_kinds(figure) == ["alpha", "cam"]
    assert {colorbar_range(figure, kind) for kind in ("alpha", "cam")} == {(0.0, 1.0)}
    heats = [image for ax in figure.axes for image in heat_images(ax)]
    assert len(heats) == 2 * 4 and {image.get_clim() for image in heats} == {(0.0, 1.0)}
    val = read_ilsvrc_val(small_ilsvrc).samples
    with np.load(base / "runs" / [r for r in _rows(base / "out" / "table4.csv") if r["method"] == "gwap"][0]["run_id"]
                 / "predictions.npz") as stored:
        alpha = stored["maps"][:2, 0]
    for i, (_, panels) in enumerate(layout.rows):
        np.testing.assert_allclose(panels[1].heat, unit(resized(alpha[i], val[i].height, val[i].width)), atol=1e-6)
        for panel in panels[1:]:
            (box,) = [b.corners for b in panel.boxes if b.role == "predicted"]
            iou = max(_iou_plus_one(box, gt) for gt in val[i].boxes)
            assert panel.score == pytest.approx(iou, abs=1e-12) and panel.note.startswith(f"IoU {iou:.2f}, class ")


def _iou_plus_one(a, b) -> float:
    """IoU of inclusive-corner boxes, areas (x2 - x1 + 1)(y2 - y1 + 1) (the devkit's convention)."""
    w = min(a[2], b[2]) - max(a[0], b[0]) + 1
    h = min(a[3], b[3]) - max(a[1], b[1]) + 1
    inter = max(w, 0) * max(h, 0)
    area = (a[2] - a[0] + 1) * (a[3] - a[1] + 1) + (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return inter / (area - inter)


def test_localize_error_matches_table4_and_writes_boxes(produced, tmp_path):
    base, _ = produced
    rows = _rows(base / "out" / "table4.csv")
    multi = [r for r in rows if r["method"] == "gwap" and r["setting"].startswith("multi")][0]
    result = CliRunner().invoke(cli, ["localize-error", "--run", multi["run_id"], "--runs-dir", str(base / "runs"),
                                      "--scales", "48,80", "--boxes-csv", "--out", str(tmp_path / "le"),
                                      "--device", "cpu", "--workers", "0"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "le" / "localize_error.json").read_text())
    assert metrics["top1_loc_error"] == pytest.approx(float(multi["reproduced"]))
    assert {"top5_loc_error", "gt_known_loc_accuracy", "top5_cls_error"} <= set(metrics)
    boxes = _rows(tmp_path / "le" / "boxes.csv")
    assert len(boxes) == metrics["test_images"] == 10
    single = CliRunner().invoke(cli, ["localize-error", "--run", multi["run_id"], "--runs-dir", str(base / "runs"),
                                      "--max-box-acc", "--out", str(tmp_path / "le1")])
    assert single.exit_code == 0, single.output
    metrics = json.loads((tmp_path / "le1" / "localize_error.json").read_text())
    assert {"max_box_acc", "max_box_acc_v2"} <= set(metrics)


def test_localize_error_on_heatmaps_with_real_gt(shared_data, tmp_path):
    root = shared_data("ilsvrc2012_val_mini")
    rng = np.random.default_rng(0)
    ids = ["ILSVRC2012_val_00006947", "ILSVRC2012_val_00010453", "ILSVRC2012_val_00015365",
           "ILSVRC2012_val_00027555", "ILSVRC2012_val_00048107"]
    path = tmp_path / "maps.npz"
    np.savez(path, image_ids=np.array(ids), logits=rng.normal(size=(5, 1000)).astype(np.float32),
             maps=rng.random((5, 1, 14, 14)).astype(np.float16), map_names=np.array(["alpha"]))
    result = CliRunner().invoke(cli, ["localize-error", "--heatmaps", str(path), "--wsol-metadata",
                                      str(root / "wsolevaluation_metadata" / "ILSVRC" / "test"),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "localize_error.json").read_text())
    assert metrics["test_images"] == 5 and 0 <= metrics["gt_known_loc_accuracy"] <= 100
    user = tmp_path / "user"  # a folder gwapbench did not write: its files are never replaced
    user.mkdir()
    (user / "localize_error.json").write_text("mine")
    result = CliRunner().invoke(cli, ["localize-error", "--heatmaps", str(path), "--wsol-metadata",
                                      str(root / "wsolevaluation_metadata" / "ILSVRC" / "test"), "--out", str(user)])
    assert result.exit_code == 2 and "localize_error.json exists in a folder gwapbench did not write" in result.output
    assert [(p.name, p.read_text()) for p in user.iterdir()] == [("localize_error.json", "mine")]
    bad = tmp_path / "nan.npz"
    np.savez(bad, image_ids=np.array(ids), logits=np.zeros((5, 1000), np.float32),
             maps=np.full((5, 1, 14, 14), np.nan, np.float16), map_names=np.array(["alpha"]))
    unknown = tmp_path / "unknown.npz"
    np.savez(unknown, image_ids=np.array(["nope"]), logits=np.zeros((1, 1000), np.float32),
             maps=np.ones((1, 1, 14, 14), np.float16), map_names=np.array(["alpha"]))
    metadata = str(root / "wsolevaluation_metadata" / "ILSVRC" / "test")
    for name, args in {"nan": ["--heatmaps", str(bad), "--wsol-metadata", metadata],
                       "unknown id": ["--heatmaps", str(unknown), "--wsol-metadata", metadata],
                       "missing file": ["--heatmaps", str(tmp_path / "none.npz"), "--wsol-metadata", metadata],
                       "no ground truth": ["--heatmaps", str(path)],
                       "two sources": ["--heatmaps", str(path), "--run", "x", "--wsol-metadata", metadata],
                       "scales with heatmaps": ["--heatmaps", str(path), "--scales", "224", "--wsol-metadata",
                                                metadata],
                       "top-k": ["--heatmaps", str(path), "--wsol-metadata", metadata, "--top-k", "1,x"],
                       "cam_legacy not merged": ["--heatmaps", str(path), "--wsol-metadata", metadata,
                                                 "--box-method", "cam_legacy"],
                       "blacklist": ["--heatmaps", str(path), "--wsol-metadata", metadata, "--blacklist",
                                     str(tmp_path / "none.txt")],
                       "unknown run": ["--run", "nope", "--runs-dir", str(tmp_path)]}.items():
        if name == "cam_legacy not merged" and box_method_available("cam_legacy"):
            continue
        result = CliRunner().invoke(cli, ["localize-error", *args, "--out", str(tmp_path / name.replace(" ", "_"))])
        assert result.exit_code == 2, (name, result.output)
        assert len(result.output.strip().splitlines()) == 1, (name, result.output)


def test_table_bad_arguments_exit_2(small_ilsvrc, tmp_path):
    common = ["--net", "tiny", "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "out"), *FAST]
    cases = {
        "no root": ["table3", *common],
        "missing root": ["table3", "--imagenet-root", str(tmp_path / "nowhere"), *common],
        "root with synthetic": ["table3", "--data", "synthetic", "--imagenet-root", str(small_ilsvrc), *common],
        "methods": ["table3", "--imagenet-root", str(small_ilsvrc), "--methods", "gap,backprop", *common],
        "original on 10 classes": ["table3", "--imagenet-root", str(small_ilsvrc), "--methods", "original", *common],
        "pretrained nets": ["table3", "--imagenet-root", str(small_ilsvrc), "--pretrained-nets", "nin", *common],
        "scales": ["table4", "--imagenet-root", str(small_ilsvrc), "--scales", "224,0", *common],
        "override": ["table3", "--imagenet-root", str(small_ilsvrc), "--override", "warmup=3", *common],
        "fig8 methods": ["figures", "fig8", "--imagenet-root", str(small_ilsvrc), "--methods", "gmp", *common],
    }
    for name, args in cases.items():
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, (name, result.output)
        assert len(result.output.strip().splitlines()) == 1, (name, result.output)
        assert not any((tmp_path / "runs").glob("tiny-*/checkpoint.pt")), name
        assert not (tmp_path / "out").exists(), name  # no --out folder left behind by a failed command


def test_paper_settings_for_reproduced_rows():
    assert paper_setting("table4", "googlenet", "gwap", "ilsvrc_top1_loc_error") == "single-scale 224"
    assert paper_setting("table3", "googlenet", "gap", "ilsvrc_top1_cls_error") == "cited [6]"
    assert paper_setting("table3", "googlenet", "gwap", "ilsvrc_top5_cls_error") == ""
    assert paper_setting("table4", "vgg16", "backprop", "ilsvrc_top1_loc_error") == "cited [6]"
    assert paper_setting("table4", "tiny", "gwap", "ilsvrc_top1_loc_error") is None


def test_localize_error_from_a_checkpoint_predicts_a_new_scale(produced, tmp_path):
    base, _ = produced
    gap = [r for r in _rows(base / "out" / "table4.csv") if r["method"] == "gap"][0]["run_id"]
    run = RunStore(base / "runs").run(gap)
    assert not run.scale_predictions_path(64).is_file()
    result = CliRunner().invoke(cli, ["localize-error", "--checkpoint", str(run.checkpoint_path), "--scales", "48,64",
                                      "--top-k", "1", "--out", str(tmp_path / "le"), "--device", "cpu",
                                      "--workers", "0"])
    assert result.exit_code == 0, result.output
    stored = run.load_predictions(64)
    assert stored["maps"].shape[:2] == (10, 6)  # top-5 CAMs and the true class's, at the new size
    assert [str(i) for i in stored["image_ids"]] == [str(i) for i in run.load_predictions()["image_ids"]]
    metrics = json.loads((tmp_path / "le" / "localize_error.json").read_text())
    assert {"top1_cls_error", "top1_loc_error"} <= set(metrics) and "top5_loc_error" not in metrics


def test_localize_error_records_its_settings_and_refuses_max_box_acc_over_scales(produced, tmp_path):
    base, _ = produced
    gwap = [r for r in _rows(base / "out" / "table4.csv") if r["method"] == "gwap"][0]["run_id"]
    common = ["localize-error", "--run", gwap, "--runs-dir", str(base / "runs"), "--device", "cpu", "--workers", "0"]
    refused = CliRunner().invoke(cli, [*common, "--scales", "48,80", "--max-box-acc", "--out", str(tmp_path / "r")])
    assert refused.exit_code == 2 and len(refused.output.strip().splitlines()) == 1, refused.output
    assert "--max-box-acc" in refused.output and not (tmp_path / "r").exists()
    result = CliRunner().invoke(cli, [*common, "--scales", "48,80", "--threshold", "0.3", "--out", str(tmp_path / "le")])
    assert result.exit_code == 0, result.output
    settings = json.loads((tmp_path / "le" / "localize_error.json").read_text())["settings"]
    assert settings["run"] == gwap and settings["scales"] == [48, 80] and settings["threshold"] == 0.3
    assert settings["normalize"] == "minmax" and settings["max_box_acc"] is False  # alpha: min-max by default
    assert "box_convention" not in settings
