"""table5 and figures fig9 end to end on a small synthetic set (the session's `table5_store`, tests/conftest.py;
tests/oracle recomputes its numbers); bad arguments exit 2 before anything is written."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from click.testing import CliRunner

from gwapbench.cli import cli
from gwapbench.data.synthetic import VOC_YEAR
from gwapbench.data.voc import CLASS_LIST_NAME, read_voc
from gwapbench.tables.table import COLUMNS
from gwapbench.figures.render import draw
from gwapbench.tables.table5 import TABLE5_METHODS
from tests.engine.figure_checks import (
    colorbar_kinds,
    colorbar_range,
    drawn_rectangles,
    heat_images,
    png_size,
    resized,
    unit,
)


def _rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_table5_has_the_four_methods_with_both_conventions(table5_store):
    base, outputs = table5_store
    rows = _rows(base / "out" / "table5.csv")
    assert tuple(rows[0]) == COLUMNS
    assert [r["method"] for r in rows] == [m for m in TABLE5_METHODS for _ in range(2)]
    assert [r["metric"] for r in rows] == ["synthetic_det_map", "synthetic_det_map_py_faster_rcnn"] * 4
    assert {r["setting"] for r in rows} == {"proportion=0.1"}
    assert all(r["paper"] == r["delta"] == "" for r in rows)  # no paper value beside synthetic data
    assert len({r["run_id"] for r in rows}) == 4
    assert outputs[0].count("finished in") == 4 and "finished in" not in outputs[1]  # the second run reuses
    assert (base / "out" / "table5.md").read_text().count("| rfcn_gwap |") == 2


def test_fig9_draws_the_stored_detections_the_named_gt_boxes_and_alpha_c(table5_store):
    """Read back from the drawn figure: the detections scoring >= 0.5 (else the top one) of the stored
    predictions with class and score, the test GT boxes with their class names, and alpha_c of the top
    detection's class (min-max normalized, colour range [0, 1]); at least 1200 px wide, titled."""
    base, outputs = table5_store
    assert "finished in" not in outputs[2]  # rfcn_gwap at 0.1 was trained by table5
    assert png_size(base / "fig" / "fig9.png")[0] >= 1200
    layout = outputs[3]
    root = base / "runs" / "_datasets" / "synthetic-voc" / "VOCdevkit" / VOC_YEAR
    test = read_voc(root, "test").samples[:2]
    classes = (root / CLASS_LIST_NAME).read_text().split()
    run = [r for r in _rows(base / "out" / "table5.csv") if r["method"] == "rfcn_gwap"][0]["run_id"]
    figure = draw(layout)
    assert layout.title in [text.get_text() for text in figure.texts] and layout.title.startswith("Fig. 9:")
    assert colorbar_kinds(figure) == ["alpha_c"] and colorbar_range(figure, "alpha_c") == (0.0, 1.0)
    axes = np.reshape([ax for ax in figure.axes if ax.get_gid() != "colorbar:alpha_c"], (2, 2))
    with np.load(base / "runs" / run / "predictions.npz") as stored:
        for i, sample in enumerate(test):
            mine = stored["det_image"] == i
            boxes, scores, labels = stored["det_boxes"][mine], stored["det_scores"][mine], stored["det_labels"][mine]
            keep = [j for j in range(len(scores)) if scores[j] >= 0.5] or [int(np.argmax(scores))]
            detections, weight_map = axes[i]
            assert drawn_rectangles(detections, "detection", 1) == [tuple(map(float, boxes[j])) for j in keep]
            assert drawn_rectangles(detections, "gt", 1) == [tuple(map(float, b)) for b in sample.boxes]
            texts = [t.get_text() for t in detections.texts]
            assert texts == [classes[c] for c in sample.box_labels] + [f"{classes[labels[j]]} {scores[j]:.2f}"
                                                                       for j in keep]
            top = int(labels[np.argmax(scores)])
            (heat,) = heat_images(weight_map)
            alpha = resized(stored[f"weight_map_{i}"][top], sample.height, sample.width)
            np.testing.assert_allclose(heat.get_array(), unit(alpha), atol=1e-6)
            assert heat.get_clim() == (0.0, 1.0) and classes[top] in weight_map.get_xlabel()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--data", "synthetic", "--methods", "rfcn,yolo"), "--methods: yolo"),
        (("--data", "synthetic", "--proportions", "0.1,1.5"), "--proportions: 1.5"),
        (("--data", "synthetic", "--proportions", "ten"), "'ten' is not a number"),
        (("--data", "voc",), "--voc-root: --data voc needs"),
        (("--data", "voc", "--voc-root", "nowhere/VOC2007"), "--voc-root nowhere/VOC2007: no VOC dataset there"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, extra, message):
    result = CliRunner().invoke(cli, ["table5", "--net", "tiny", *extra, "--runs-dir", str(tmp_path / "runs"),
                                      "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()
