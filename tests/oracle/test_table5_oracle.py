"""Every number of Table V equals py-faster-rcnn's `voc_eval` loop (and the devkit's VOCevaldet rule for the
exact-threshold row) over the stored detections and the dataset's XMLs (tests/oracle/literal.py).

The runs are the session's `table5_store` (tests/conftest.py), the R-FCN runs the table5 tests train."""

from __future__ import annotations

import pytest

from tests.oracle import runs as oracle


def test_table5_maps_equal_voc_eval_over_the_stored_detections(table5_store):
    base, _ = table5_store
    rows = oracle.csv_rows(base / "out" / "table5.csv")
    assert len(rows) == 8
    for row in rows:
        expected = oracle.table5(base / "runs", row["run_id"], row["metric"])
        assert float(row["reproduced"]) == pytest.approx(expected, rel=oracle.REL), (row["method"], row["metric"])
        assert 0 < expected < 100
