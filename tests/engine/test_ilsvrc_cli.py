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
from gwapbench.engine.ilsvrc_evaluate import LocalizationOptions, evaluate_ilsvrc_boxes
from gwapbench.engine.ilsvrc_sources import read_ilsvrc_val
from gwapbench.engine.store import RunStore
from gwapbench.tables.ilsvrc import paper_setting
from gwapbench.figures.render import draw
from gwapbench.tables.table import COLUMNS
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
from tests.oracle import literal
from tests.oracle import runs as oracle

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
        k = 1 if "_top1_" in row["metric"] else 5
        assert float(row["reproduced"]) == pytest.approx(oracle.table3(base / "runs", row["run_id"], k), rel=oracle.REL)
        assert row["paper"] == ""
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
    for row in rows:  # the paper's box rule (tests/oracle), at each row's scales
        expected = oracle.localization(base / "runs", row["run_id"], oracle.setting_sizes(row["setting"]))
        assert float(row["reproduced"]) == pytest.approx(expected["top1_loc_error"], rel=oracle.REL), row


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
    oracle.assert_localize_error_output(tmp_path / "le", oracle.localization(base / "runs", multi["run_id"], [48, 80]))
    assert metrics["test_images"] == 10
    single = CliRunner().invoke(cli, ["localize-error", "--run", multi["run_id"], "--runs-dir", str(base / "runs"),
                                      "--max-box-acc", "--out", str(tmp_path / "le1")])
    assert single.exit_code == 0, single.output
    metrics = json.loads((tmp_path / "le1" / "localize_error.json").read_text())
    assert {"max_box_acc", "max_box_acc_v2"} <= set(metrics)


def _wsol_truth(folder):
    """wsolevaluation metadata read with csv: {image id: (class, (width, height), [boxes])}, ids in file order."""
    def table(name):
        with open(folder / name, newline="") as handle:
            return [row for row in csv.reader(handle) if row]

    stem = lambda path: path.split("/")[-1].rsplit(".", 1)[0]  # noqa: E731
    truth = {stem(path): [int(label), None, []] for path, label in table("class_labels.txt")}
    for path, width, height in table("image_sizes.txt"):
        truth[stem(path)][1] = (int(width), int(height))
    for path, *box in table("localization.txt"):
        truth[stem(path)][2].append(tuple(float(v) for v in box))
    return {image: tuple(value) for image, value in truth.items()}


def _heatmaps_on_real_gt(root, path):
    """Maps (14 x 14, exact zero background) with a blob on the cells inside the first GT box of images 0-2 and
    inside its mirror image of images 3-4; logits ranking the true class first on images 0, 1 and 3. Returns
    the metadata folder, the ids and the ground truth."""
    metadata = root / "wsolevaluation_metadata" / "ILSVRC" / "test"
    truth = _wsol_truth(metadata)
    ids = list(truth)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(len(ids), 1000)).astype(np.float32)
    maps = np.zeros((len(ids), 1, 14, 14), np.float32)
    for i, image in enumerate(ids):
        label, (width, height), boxes = truth[image]
        if i in (0, 1, 3):
            logits[i, label] = 10
        x1, y1, x2, y2 = boxes[0]
        if i >= 3:
            x1, y1, x2, y2 = width - 1 - x2, height - 1 - y2, width - 1 - x1, height - 1 - y1
        ys, xs = (np.arange(14) + 0.5) * height / 14, (np.arange(14) + 0.5) * width / 14
        inside = ((ys >= y1) & (ys <= y2))[:, None] & ((xs >= x1) & (xs <= x2))[None, :]
        maps[i, 0, inside] = 1 + rng.random(int(inside.sum()))
    np.savez(path, image_ids=np.array(ids), logits=logits, maps=maps.astype(np.float16), map_names=np.array(["alpha"]))
    return metadata, ids, truth, logits, maps.astype(np.float16).astype(np.float32)


def test_localize_error_on_heatmaps_with_real_gt(shared_data, tmp_path):
    """Top-1 / top-5 localization and GT-known accuracy of --heatmaps against the real GT of the metadata,
    recomputed by the literal loops (tests/oracle/literal.py); the maps' zero background makes the raw and the
    normalized 20 % thresholds agree, so this checks the --heatmaps / --wsol-metadata path."""
    root = shared_data("ilsvrc2012_val_mini")
    path = tmp_path / "maps.npz"
    metadata, ids, truth, logits, maps = _heatmaps_on_real_gt(root, path)
    result = CliRunner().invoke(cli, ["localize-error", "--heatmaps", str(path), "--wsol-metadata", str(metadata),
                                      "--boxes-csv", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "out" / "localize_error.json").read_text())
    printed = [tuple(int(r[k]) for k in ("x1", "y1", "x2", "y2")) for r in _rows(tmp_path / "out" / "boxes.csv")]
    top1 = top5 = gt_known = 0
    for i, image in enumerate(ids):
        label, (width, height), boxes = truth[image]
        box = literal.largest_component_box(literal.foreground([maps[i, 0]], "alpha", height, width))
        assert printed[i] == box, image
        guesses = [(c, box) for c in literal.ranked(logits[i])[:5]]
        top1 += literal.eval_clsloc_correct(guesses[:1], np.array(boxes), [label] * len(boxes))
        top5 += literal.eval_clsloc_correct(guesses, np.array(boxes), [label] * len(boxes))
        gt_known += literal.eval_clsloc_correct([(label, box)], np.array(boxes), [label] * len(boxes))
    assert 0 < gt_known < len(ids) and 0 < top1  # the case is not degenerate
    assert metrics["test_images"] == len(ids)
    assert metrics["top1_loc_error"] == pytest.approx(100 * (1 - top1 / len(ids)))
    assert metrics["top5_loc_error"] == pytest.approx(100 * (1 - top5 / len(ids)))
    assert metrics["gt_known_loc_accuracy"] == pytest.approx(100 * gt_known / len(ids))


def test_localize_error_cam_legacy_boxes_equal_the_opencv_port_of_dt_box(shared_data, tmp_path):
    """--box-method cam_legacy: each top-1 box of boxes.csv is dt_box's first box (tests/metrics/test_cam_legacy's
    OpenCV port) of the map upsampled to the image."""
    from tests.metrics.test_cam_legacy import port_boxes, port_gray

    root = shared_data("ilsvrc2012_val_mini")
    path = tmp_path / "maps.npz"
    metadata, ids, truth, logits, maps = _heatmaps_on_real_gt(root, path)
    result = CliRunner().invoke(cli, ["localize-error", "--heatmaps", str(path), "--wsol-metadata", str(metadata),
                                      "--box-method", "cam_legacy", "--boxes-csv", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    printed = [(r["image_id"], int(r["class"]), tuple(int(r[k]) for k in ("x1", "y1", "x2", "y2")))
               for r in _rows(tmp_path / "out" / "boxes.csv")]
    expected = []
    for i, image in enumerate(ids):
        _, (width, height), _ = truth[image]
        boxes = port_boxes(port_gray(literal.upsample(maps[i, 0], height, width)))
        expected.append((image, literal.ranked(logits[i])[0], tuple(int(v) for v in boxes[0])))
    assert printed == expected
    assert len({box for *_, box in expected}) == len(ids)


def test_localize_error_refuses_bad_input(shared_data, tmp_path):
    root = shared_data("ilsvrc2012_val_mini")
    path = tmp_path / "maps.npz"
    _, ids, *_ = _heatmaps_on_real_gt(root, path)
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
                       "blacklist": ["--heatmaps", str(path), "--wsol-metadata", metadata, "--blacklist",
                                     str(tmp_path / "none.txt")],
                       "unknown run": ["--run", "nope", "--runs-dir", str(tmp_path)]}.items():
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
