"""Every number of Table V equals py-faster-rcnn's `voc_eval` loop (and the devkit's VOCevaldet rule for the
exact-threshold row) over the stored detections and the dataset's XMLs (tests/oracle/literal.py).

The runs are the session's `table5_store` (tests/conftest.py), the R-FCN runs the table5 tests train."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.oracle import literal


def table5_row_oracle(runs: Path, row: dict[str, str]) -> float:
    """A table5.csv row's mAP from its run: `<data>_det_map_py_faster_rcnn` with py-faster-rcnn's IoU > 0.5 and
    float thresholds, `<data>_det_map` with the devkit's IoU >= 0.5 and exact thresholds."""
    data = json.loads((runs / row["run_id"] / "config.json").read_text())["config"]["data"]
    strict = row["metric"].endswith("_py_faster_rcnn")
    return literal.stored_detection_map(runs / row["run_id"] / "predictions.npz", Path(data["root"]),
                                        list(data["classes"]), strict)


def test_table5_maps_equal_voc_eval_over_the_stored_detections(table5_store):
    base, _ = table5_store
    with open(base / "out" / "table5.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 8
    for row in rows:
        expected = table5_row_oracle(base / "runs", row)
        assert float(row["reproduced"]) == pytest.approx(expected, rel=1e-9, abs=1e-12), (row["method"], row["metric"])
