"""table5 and figures fig9 end to end on a small synthetic set (the session's `table5_store`, tests/conftest.py;
tests/oracle recomputes its numbers); bad arguments exit 2 before anything is written."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from gwapbench.cli import cli
from gwapbench.tables.spec import COLUMNS
from gwapbench.tables.table5 import TABLE5_METHODS


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


def test_fig9_png_is_written(table5_store):
    base, outputs = table5_store
    png = (base / "fig" / "fig9.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert "finished in" not in outputs[2]  # rfcn_gwap at 0.1 was trained by table5


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
