"""The reference column: a row on other data (or another net) carries the paper's number for the same method,
labelled with the paper's net and dataset; values are read here from ../shared/paper/paper_tables.csv."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from click.testing import CliRunner

from gwapbench.cli import cli
from gwapbench.tables.paper import paper_lookup
from gwapbench.tables.table import TableOptions, table_row

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _shared(shared_paper: Path, table: str, net: str, method: str, setting: str, metric: str) -> float:
    with (shared_paper / "paper_tables.csv").open(newline="") as f:
        found = [r["value"] for r in csv.DictReader(f) if (r["table"], r["net"], r["method"], r["setting"],
                                                           r["metric"]) == (table, net, method, setting, metric)]
    assert len(found) == 1
    return float(found[0])


def _row(key: tuple[str, str, str, str, str], paper_metric: str | None = None) -> dict:
    options = TableOptions(net=key[1], data=None, runs_dir=Path("runs"), schedule="ci")
    return table_row(key, 50.0, "run", options, paper_lookup(), paper_metric)


def test_synthetic_rows_carry_the_googlenet_number_labelled(shared_paper):
    row = _row(("table1", "tiny", "gwap_no_exp", "", "synthetic_cls_map"))
    assert math.isnan(row["paper"]) and math.isnan(row["delta"])  # no paper value set beside a synthetic result
    assert row["paper_ref_value"] == _shared(shared_paper, "table1", "googlenet", "gwap_no_exp", "", "voc07_cls_map")
    assert row["paper_ref_source"] == "paper: GoogLeNet on VOC2007"
    row = _row(("table2", "tiny", "gap", "", "bccd_otsu_fmeasure"))
    assert row["paper_ref_value"] == _shared(shared_paper, "table2", "googlenet", "gap", "", "voc07_otsu_fmeasure")


def test_settings_match_by_how_the_number_was_measured(shared_paper):
    multi = _row(("table4", "tiny", "gwap", "multi-scale 64+128", "synthetic_ilsvrc_top1_loc_error"))
    assert multi["paper_ref_value"] == _shared(shared_paper, "table4", "googlenet", "gwap", "multi-scale 224+448+672",
                                               "ilsvrc_top1_loc_error")
    single = _row(("table4", "tiny", "gwap", "single-scale 64", "synthetic_ilsvrc_top1_loc_error"))
    assert single["paper_ref_value"] == _shared(shared_paper, "table4", "googlenet", "gwap", "single-scale 224",
                                                "ilsvrc_top1_loc_error")
    cited = _row(("table3", "tiny", "gmp", "", "synthetic_ilsvrc_top5_cls_error"))
    assert cited["paper_ref_value"] == _shared(shared_paper, "table3", "googlenet", "gmp", "cited [6]",
                                               "ilsvrc_top5_cls_error")
    assert cited["paper_ref_source"] == "paper: GoogLeNet on ILSVRC val, cited [6]"
    detection = _row(("table5", "tiny", "rfcn_gwap", "proportion=0.05", "synthetic_det_map_py_faster_rcnn"),
                     "synthetic_det_map")
    assert detection["paper_ref_value"] == _shared(shared_paper, "table5", "resnet50", "rfcn_gwap", "proportion=0.05",
                                                   "voc07_det_map")
    assert detection["paper_ref_source"].startswith("paper: ResNet-50 on VOC2007 test")


def test_no_reference_where_the_paper_has_the_row_or_no_such_number():
    same = _row(("table1", "googlenet", "gwap", "", "voc07_cls_map"))
    assert same["paper"] == 85.1 and math.isnan(same["paper_ref_value"]) and same["paper_ref_source"] == ""
    for key in (("table2", "tiny", "gwap_gt", "", "synthetic_otsu_fmeasure"),  # the paper's Table II has no GWAP-gt
                ("table2", "tiny", "centre_prior", "", "synthetic_otsu_fmeasure"),
                ("table5", "tiny", "rfcn", "proportion=0.5", "synthetic_det_map")):
        row = _row(key)
        assert math.isnan(row["paper_ref_value"]) and row["paper_ref_source"] == "", key


def test_check_ignores_the_reference_columns(tmp_path):
    """A produced CSV with the two reference columns checks against a reference CSV without them, whatever their
    values (they are not metrics)."""
    with (GOLDEN / "table1.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"paper_ref_value", "paper_ref_source"} <= set(rows[0])
    reference, produced = tmp_path / "reference.csv", tmp_path / "table1.csv"
    kept = [c for c in rows[0] if c not in ("paper_ref_value", "paper_ref_source")]
    with reference.open("w", newline="") as f:
        writer = csv.DictWriter(f, kept, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    with produced.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "paper_ref_value": "1", "paper_ref_source": "paper: made up"} for r in rows)
    result = CliRunner().invoke(cli, ["check", str(produced), "--reference", str(reference)])
    assert result.exit_code == 0 and "PASSED" in result.output, result.output
